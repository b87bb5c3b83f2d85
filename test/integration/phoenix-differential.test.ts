// Differential test: one LangChain chain (a retriever → prompt template → chat model reporting
// usage → output parser) traced twice in-process, (a) by spanchain (SpanchainCallbackHandler + the
// phoenix() plugin, exporting OTLP protobuf to a loopback receiver) and (b) by Arize's own
// @arizeai/openinference-instrumentation-langchain (LangChainInstrumentation patched into LangChain's
// callback manager, a BasicTracerProvider with an in-memory exporter). What Phoenix would show from
// the two is compared: the tree of OpenInference span kinds and names, model names, token counts,
// messages and document lists. Genuine differences are normalised, each one explained where it is.
import { LangChainInstrumentation } from '@arizeai/openinference-instrumentation-langchain';
import * as CallbackManagerModule from '@langchain/core/callbacks/manager';
import { awaitAllCallbacks } from '@langchain/core/callbacks/promises';
import { Document } from '@langchain/core/documents';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage } from '@langchain/core/messages';
import { StringOutputParser } from '@langchain/core/output_parsers';
import type { ChatResult } from '@langchain/core/outputs';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableLambda, RunnablePassthrough, RunnableSequence } from '@langchain/core/runnables';
import { FakeRetriever } from '@langchain/core/utils/testing';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { createTracer } from '@spanchain/core';
import { SpanchainCallbackHandler } from '@spanchain/langchain';
import { phoenix } from '@spanchain/phoenix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notOpenInference } from '../support/openinference.js';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';

const QUESTION = 'How long is the refund window?';
const ANSWER = 'Refunds are accepted for 30 days.';

/** A deterministic chat model that reports usage (with cache and reasoning details) and a response model. */
class UsageChatModel extends BaseChatModel {
  _llmType(): string {
    return 'differential';
  }
  override getLsParams(options: this['ParsedCallOptions']) {
    return { ...super.getLsParams(options), ls_provider: 'openai', ls_model_name: 'diff-model' };
  }
  override invocationParams(): Record<string, unknown> {
    return { model: 'diff-model', temperature: 0.2, max_tokens: 64 };
  }
  async _generate(): Promise<ChatResult> {
    const message = new AIMessage({
      content: ANSWER,
      usage_metadata: {
        input_tokens: 40,
        output_tokens: 12,
        total_tokens: 52,
        input_token_details: { cache_read: 10 },
        output_token_details: { reasoning: 4 },
      },
      response_metadata: { model_name: 'diff-model-2025-01-01' },
    });
    return { generations: [{ text: ANSWER, message }] };
  }
}

function buildChain() {
  const retriever = new FakeRetriever({
    output: [
      new Document({ pageContent: ANSWER, metadata: { source: 'policy.md', section: 'refunds' } }),
      new Document({ pageContent: 'Shipping takes 5 days.', metadata: { source: 'shipping.md' } }),
    ],
  });
  const formatDocs = RunnableLambda.from((docs: Document[]) => docs.map((d) => d.pageContent).join('\n'));
  const prompt = ChatPromptTemplate.fromMessages([
    ['system', 'Answer from this context:\n{context}'],
    ['human', '{question}'],
  ]);
  return RunnableSequence.from([
    { context: retriever.pipe(formatDocs), question: new RunnablePassthrough() },
    prompt,
    new UsageChatModel({}),
    new StringOutputParser(),
  ]);
}

/** The part of a span both sides are compared on. */
interface Span {
  name: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
}

let receiver: OtlpReceiver;
let spansA: Span[] = [];
let spansB: Span[] = [];
let instrumentation: LangChainInstrumentation | undefined;
let provider: BasicTracerProvider | undefined;

beforeAll(async () => {
  receiver = await startOtlpReceiver({ grpc: false });
  const chain = buildChain();

  // (a) spanchain, first: Arize's instrumentation patches LangChain for the whole process.
  const tracer = createTracer({
    serviceName: 'differential',
    flushOnExit: false,
    plugins: [
      phoenix(
        { endpoint: receiver.httpUrl, project: 'differential', batch: { scheduledDelayMillis: 10 } },
        {},
      ),
    ],
  });
  try {
    const handler = new SpanchainCallbackHandler(tracer);
    expect(await chain.invoke(QUESTION, { callbacks: [handler] })).toBe(ANSWER);
    expect((await tracer.flush()).timedOut).toBe(false);
  } finally {
    await tracer.shutdown();
  }
  spansA = receiver.spans().map((s) => ({
    name: s.name,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    attributes: s.attributes,
  }));

  // (b) OpenInference's LangChain instrumentation, as its README sets it up, with its own provider.
  const exporter = new InMemorySpanExporter();
  provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  instrumentation = new LangChainInstrumentation({ tracerProvider: provider });
  instrumentation.manuallyInstrument(CallbackManagerModule);
  expect(await chain.invoke(QUESTION)).toBe(ANSWER);
  // Its tracer runs in LangChain's background callback queue: drain it before reading.
  await awaitAllCallbacks();
  await provider.forceFlush();
  spansB = exporter.getFinishedSpans().map((s) => ({
    name: s.name,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId ?? '',
    attributes: { ...s.attributes },
  }));
});

afterAll(async () => {
  // Undo the patch (the method is private in its typings; it is what `manuallyInstrument` undoes).
  (instrumentation as unknown as { unpatch?: (m: unknown) => void } | undefined)?.unpatch?.(
    CallbackManagerModule,
  );
  await provider?.shutdown();
  await receiver?.close();
});

const kindOf = (s: Span): string => String(s.attributes['openinference.span.kind']);
const json = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(String(value)));

/**
 * spanchain names an LLM span after the model (its step name) and Arize's tracer after the chat
 * model's class (the LangChain run name): LLM spans compare under one placeholder name. Both names
 * are asserted on their own below.
 */
const nameOf = (s: Span): string => (kindOf(s) === 'LLM' ? '<llm>' : s.name);

/** One line per span: its kind and (normalised) name, and its parent's; sorted. */
function edges(spans: Span[]): string[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  return spans
    .map((s) => {
      const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
      if (s.parentSpanId && !parent) return `${kindOf(s)}:${nameOf(s)} <- missing`;
      return `${kindOf(s)}:${nameOf(s)} <- ${parent ? `${kindOf(parent)}:${nameOf(parent)}` : 'ROOT'}`;
    })
    .sort();
}

const only = (spans: Span[], kind: string): Span => {
  const found = spans.filter((s) => kindOf(s) === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} span, found ${found.length}`);
  return found[0] as Span;
};

/** `<prefix>.<i>.<suffix>` attributes back into a list of records. */
function unflatten(attributes: Record<string, unknown>, prefix: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (!key.startsWith(`${prefix}.`)) continue;
    const match = /^(\d+)\.(.+)$/.exec(key.slice(prefix.length + 1));
    if (!match) continue;
    const index = Number(match[1]);
    out[index] = { ...out[index], [match[2] as string]: value };
  }
  return out;
}

const TOKEN_COUNTS = [
  'llm.token_count.prompt',
  'llm.token_count.completion',
  'llm.token_count.total',
  'llm.token_count.prompt_details.cache_read',
  'llm.token_count.completion_details.reasoning',
];

describe('the same chain traced by spanchain’s Phoenix plugin and by OpenInference’s LangChain instrumentation', () => {
  it('both make one trace of the same size with one root', () => {
    // Sequence, map, retriever sequence, retriever, lambda, passthrough, prompt, model, parser.
    expect(spansA).toHaveLength(9);
    expect(spansB).toHaveLength(spansA.length);
    for (const spans of [spansA, spansB]) {
      expect(spans.filter((s) => !s.parentSpanId).map((s) => s.name)).toEqual(['RunnableSequence']);
    }
  });

  it('gives the same tree of OpenInference span kinds and names', () => {
    const a = edges(spansA);
    expect(a).toEqual(edges(spansB));
    // Guard against both sides being wrong the same way (say, everything flat under the root).
    expect(a).toContain('RETRIEVER:FakeRetriever <- CHAIN:RunnableSequence');
    expect(a).toContain('PROMPT:ChatPromptTemplate <- CHAIN:RunnableSequence');
    expect(a).toContain('LLM:<llm> <- CHAIN:RunnableSequence');
    expect(a).toContain('CHAIN:StrOutputParser <- CHAIN:RunnableSequence');
    expect(only(spansA, 'LLM').name).toBe('diff-model');
    expect(only(spansB, 'LLM').name).toBe('UsageChatModel');
  });

  it('writes the same token counts and the same requested model', () => {
    const a = only(spansA, 'LLM').attributes;
    const b = only(spansB, 'LLM').attributes;
    for (const key of TOKEN_COUNTS) expect(a[key], key).toBe(b[key]);
    expect(a['llm.token_count.prompt']).toBe(40);
    expect(a['llm.token_count.prompt_details.cache_read']).toBe(10);
    expect(a['llm.token_count.completion_details.reasoning']).toBe(4);
    // Arize's tracer reports the invocation parameters' model as llm.model_name. spanchain follows the
    // spec's newer rule (llm.model_name is the model that answered, when known) and keeps the requested
    // one in llm.request.model_name: the requested models are the same.
    expect(b['llm.model_name']).toBe('diff-model');
    expect(a['llm.request.model_name'] ?? a['llm.model_name']).toBe(b['llm.model_name']);
    expect(a['llm.model_name']).toBe('diff-model-2025-01-01');
    expect(a['llm.response.model_name']).toBe('diff-model-2025-01-01');
    // Same parameters; Arize's copy of LangChain's invocation params also repeats the model.
    const paramsB = json(b['llm.invocation_parameters']) as Record<string, unknown>;
    const { model: _model, ...restB } = paramsB;
    const { model: _modelA, ...restA } = json(a['llm.invocation_parameters']) as Record<string, unknown>;
    expect(restA).toEqual(restB);
    // spanchain also says who served the model (from LangChain's ls_provider); Arize's tracer does not.
    expect(a['llm.provider']).toBe('openai');
    expect(b['llm.provider']).toBeUndefined();
  });

  it('writes the same input and output messages', () => {
    // (input.value differs by design: Arize's tracer sends LangChain's serialised run inputs, spanchain
    // the messages as { messages: [{ role, content }] }; Phoenix's LLM view reads the flattened ones.)
    const messages = (s: Span, prefix: string) =>
      unflatten(s.attributes, prefix).map((m) => ({
        role: m['message.role'],
        content: m['message.content'],
      }));
    for (const prefix of ['llm.input_messages', 'llm.output_messages']) {
      const a = messages(only(spansA, 'LLM'), prefix);
      expect(a.length, prefix).toBeGreaterThan(0);
      expect(a).toEqual(messages(only(spansB, 'LLM'), prefix));
    }
    expect(messages(only(spansA, 'LLM'), 'llm.input_messages').map((m) => m.role)).toEqual([
      'system',
      'user',
    ]);
  });

  it('writes the same retrieved documents and query', () => {
    // Arize's tracer writes each document's content and metadata; spanchain also writes its id when
    // LangChain's Document has one (not here) and its score when the metadata carries one (not here).
    const documents = (s: Span) =>
      unflatten(s.attributes, 'retrieval.documents').map((d) => ({
        content: d['document.content'],
        metadata: json(d['document.metadata']),
      }));
    const a = documents(only(spansA, 'RETRIEVER'));
    expect(a).toEqual([
      { content: ANSWER, metadata: { source: 'policy.md', section: 'refunds' } },
      { content: 'Shipping takes 5 days.', metadata: { source: 'shipping.md' } },
    ]);
    expect(a).toEqual(documents(only(spansB, 'RETRIEVER')));
    expect(only(spansA, 'RETRIEVER').attributes['input.value']).toBe(QUESTION);
    expect(only(spansB, 'RETRIEVER').attributes['input.value']).toBe(QUESTION);
    // Arize's tracer repeats the documents as JSON in output.value; spanchain sends them once.
    expect(String(only(spansB, 'RETRIEVER').attributes['output.value'])).toContain('pageContent');
    expect(only(spansA, 'RETRIEVER').attributes['output.value']).toBeUndefined();
  });

  it('shows the same input and output on the root, and names only OpenInference attributes', () => {
    const root = (spans: Span[]) => spans.find((s) => !s.parentSpanId) as Span;
    for (const key of ['input.value', 'output.value', 'output.mime_type']) {
      expect(root(spansA).attributes[key], key).toBe(root(spansB).attributes[key]);
    }
    expect(root(spansA).attributes['output.value']).toBe(ANSWER);
    for (const span of spansA)
      for (const name of Object.keys(span.attributes))
        expect(notOpenInference(name), span.name).toBeUndefined();
  });
});
