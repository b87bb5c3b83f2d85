// Differential test: one LangChain chain (retriever → prompt → chat model → parser) traced twice
// in-process, (a) by spanchain (SpanchainCallbackHandler + the langfuse() plugin) and (b) by
// Langfuse's own stack (@langfuse/langchain CallbackHandler + @langfuse/otel LangfuseSpanProcessor),
// each exporting OTLP to its own loopback receiver. What Langfuse would build from the two exports
// is compared: observation types, names, model names, usage, and the parent/child structure.

import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory';
import { awaitAllCallbacks } from '@langchain/core/callbacks/promises';
import type { Document } from '@langchain/core/documents';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage } from '@langchain/core/messages';
import { StringOutputParser } from '@langchain/core/output_parsers';
import type { ChatResult } from '@langchain/core/outputs';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableLambda, RunnablePassthrough, RunnableSequence } from '@langchain/core/runnables';
import { SyntheticEmbeddings } from '@langchain/core/utils/testing';
import { CallbackHandler } from '@langfuse/langchain';
import { LangfuseSpanProcessor } from '@langfuse/otel';
import { setLangfuseTracerProvider } from '@langfuse/tracing';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { createTracer } from '@spanchain/core';
import { SpanchainCallbackHandler } from '@spanchain/langchain';
import { langfuse } from '@spanchain/langfuse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OtlpReceiver, type OtlpSpan, startOtlpReceiver } from '../support/otlp-receiver.js';

const PK = 'pk-lf-diff0a1b2c3d4e5f6071';
const SK = 'sk-lf-diff9f8e7d6c5b4a3928';
const QUESTION = 'How long is the refund window?';

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
      content: 'Refunds are accepted for 30 days.',
      usage_metadata: {
        input_tokens: 40,
        output_tokens: 12,
        total_tokens: 52,
        input_token_details: { cache_read: 10 },
        output_token_details: { reasoning: 4 },
      },
      response_metadata: { model_name: 'diff-model-2025-01-01' },
    });
    return { generations: [{ text: String(message.content), message }] };
  }
}

async function buildChain() {
  const store = await MemoryVectorStore.fromTexts(
    ['Refunds are accepted for 30 days.', 'Shipping takes 5 days.', 'Support is open on weekdays.'],
    [{ id: 'refunds' }, { id: 'shipping' }, { id: 'support' }],
    new SyntheticEmbeddings({ vectorSize: 16 }),
  );
  const formatDocs = RunnableLambda.from((docs: Document[]) => docs.map((d) => d.pageContent).join('\n'));
  const prompt = ChatPromptTemplate.fromMessages([
    ['system', 'Answer from this context:\n{context}'],
    ['human', '{question}'],
  ]);
  return RunnableSequence.from([
    { context: store.asRetriever(2).pipe(formatDocs), question: new RunnablePassthrough() },
    prompt,
    new UsageChatModel({}),
    new StringOutputParser(),
  ]);
}

let receiverA: OtlpReceiver;
let receiverB: OtlpReceiver;
let spansA: OtlpSpan[] = [];
let spansB: OtlpSpan[] = [];
let provider: BasicTracerProvider | undefined;
let contextManager: AsyncLocalStorageContextManager | undefined;

beforeAll(async () => {
  receiverA = await startOtlpReceiver({ grpc: false });
  receiverB = await startOtlpReceiver({ grpc: false });
  const chain = await buildChain();

  // (a) spanchain.
  const tracer = createTracer({
    serviceName: 'differential',
    flushOnExit: false,
    plugins: [
      langfuse({ publicKey: PK, secretKey: SK, baseUrl: receiverA.httpUrl, flushIntervalMillis: 10 }, {}),
    ],
  });
  try {
    const handler = new SpanchainCallbackHandler(tracer);
    expect(await chain.invoke(QUESTION, { callbacks: [handler] })).toBe('Refunds are accepted for 30 days.');
    expect((await tracer.flush()).timedOut).toBe(false);
  } finally {
    await tracer.shutdown();
  }
  spansA = receiverA.spans();

  // (b) Langfuse's stack: its handler starts observations through @langfuse/tracing, which reads the
  // provider set with setLangfuseTracerProvider (no global provider needed); the context manager is
  // what NodeTracerProvider.register() would install and lets propagateAttributes reach the root.
  contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const processor = new LangfuseSpanProcessor({
    publicKey: PK,
    secretKey: SK,
    baseUrl: receiverB.httpUrl,
    exportMode: 'immediate',
    mediaUploadEnabled: false,
  });
  provider = new BasicTracerProvider({ spanProcessors: [processor] });
  setLangfuseTracerProvider(provider);
  const lfHandler = new CallbackHandler();
  expect(await chain.invoke(QUESTION, { callbacks: [lfHandler] })).toBe('Refunds are accepted for 30 days.');
  // Langfuse's handler runs in LangChain's background callback queue: drain it before flushing.
  await awaitAllCallbacks();
  await provider.forceFlush();
  spansB = receiverB.spans();
});

afterAll(async () => {
  setLangfuseTracerProvider(null);
  await provider?.shutdown();
  context.disable();
  contextManager?.disable();
  await receiverA?.close();
  await receiverB?.close();
});

type Tree = Map<string, OtlpSpan>;
const tree = (spans: OtlpSpan[]): Tree => new Map(spans.map((s) => [s.spanId, s]));
const typeOf = (s: OtlpSpan): string => String(s.attributes['langfuse.observation.type']);
const json = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(String(value)));

/**
 * Langfuse's handler files every run that is not a generation or a tool as a plain `span`
 * (chains, prompts, parsers, retrievers alike); spanchain sets the finer type (`chain`,
 * `retriever`, …, checked on their own below). Both are valid Langfuse types, so the comparison
 * folds every finer type into `span`.
 */
const coarseType = (s: OtlpSpan): string =>
  ['generation', 'tool', 'embedding', 'event'].includes(typeOf(s)) ? typeOf(s) : 'span';

/**
 * Without an explicit run name, spanchain names a generation after the requested model and
 * Langfuse's handler after the chat model's class (a naming choice each side documents; both are
 * asserted below), so generations compare under one placeholder name.
 */
const nameOf = (s: OtlpSpan): string => (typeOf(s) === 'generation' ? '<generation>' : s.name);

/** One line per observation: its (normalised) type and name, and its parent's; sorted. */
function edges(spans: OtlpSpan[]): string[] {
  const byId = tree(spans);
  return spans
    .map((s) => {
      const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
      if (s.parentSpanId && !parent) return `${coarseType(s)}:${nameOf(s)} <- missing ${s.parentSpanId}`;
      return `${coarseType(s)}:${nameOf(s)} <- ${parent ? `${coarseType(parent)}:${nameOf(parent)}` : 'ROOT'}`;
    })
    .sort();
}

const only = (spans: OtlpSpan[], type: string): OtlpSpan => {
  const found = spans.filter((s) => typeOf(s) === type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as OtlpSpan;
};
const named = (spans: OtlpSpan[], name: string): OtlpSpan => {
  const found = spans.filter((s) => s.name === name);
  if (found.length !== 1) throw new Error(`expected one ${name}, found ${found.length}`);
  return found[0] as OtlpSpan;
};

/**
 * Langfuse's handler names the usage detail keys after LangChain's `input_token_details` /
 * `output_token_details` keys (`input_cache_read`, `output_reasoning`); spanchain uses the names
 * of Langfuse's OpenAI pricing keys (`input_cached_tokens`, `output_reasoning_tokens`). Same counts,
 * different key spelling: renamed here before comparing.
 */
const LANGCHAIN_USAGE_KEYS: Record<string, string> = {
  input_cache_read: 'input_cached_tokens',
  output_reasoning: 'output_reasoning_tokens',
};
const normaliseUsage = (usage: unknown): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(usage as Record<string, unknown>).map(([k, v]) => [LANGCHAIN_USAGE_KEYS[k] ?? k, v]),
  );

describe('the same chain traced by spanchain and by Langfuse’s own stack', () => {
  it('both export one trace of the same size, with one root', () => {
    // Retriever, formatter, passthrough, two sequences, map, prompt, model, parser.
    expect(spansA).toHaveLength(9);
    expect(spansB).toHaveLength(spansA.length);
    for (const spans of [spansA, spansB]) {
      expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
      expect(spans.filter((s) => !s.parentSpanId).map((s) => s.name)).toEqual(['RunnableSequence']);
    }
  });

  it('gives the same parent/child structure of types and names', () => {
    const a = edges(spansA);
    expect(a).toEqual(edges(spansB));
    // Guard against both sides being wrong the same way (say, everything flattened under the root).
    expect(a).toContain('span:VectorStoreRetriever <- span:RunnableSequence');
    expect(a).toContain('span:RunnableSequence <- span:RunnableMap');
    expect(a).toContain('generation:<generation> <- span:RunnableSequence');
  });

  it('where Langfuse’s handler says span, spanchain sets a finer valid type', () => {
    const finer = Object.fromEntries(
      spansA.filter((s) => typeOf(s) !== 'generation').map((s) => [s.name, typeOf(s)]),
    );
    expect(finer).toEqual({
      RunnableSequence: 'chain',
      RunnableMap: 'chain',
      RunnablePassthrough: 'chain',
      RunnableLambda: 'chain',
      VectorStoreRetriever: 'retriever',
      ChatPromptTemplate: 'span',
      StrOutputParser: 'chain',
    });
    for (const s of spansB) if (typeOf(s) !== 'generation') expect(typeOf(s), s.name).toBe('span');
  });

  it('names the generation after the model (spanchain) or the model class (Langfuse)', () => {
    expect(only(spansA, 'generation').name).toBe('diff-model');
    expect(only(spansB, 'generation').name).toBe('UsageChatModel');
  });

  it('sends the same model name, usage and model parameters on the generation', () => {
    const a = only(spansA, 'generation').attributes;
    const b = only(spansB, 'generation').attributes;
    // The response model wins over the requested one on both sides.
    expect(a['langfuse.observation.model.name']).toBe('diff-model-2025-01-01');
    expect(a['langfuse.observation.model.name']).toBe(b['langfuse.observation.model.name']);
    const usageA = json(a['langfuse.observation.usage_details']);
    const usageB = normaliseUsage(json(b['langfuse.observation.usage_details']));
    // Cached input and reasoning output are taken out of input/output on both sides.
    expect(usageA).toEqual({
      input: 30,
      output: 8,
      total: 52,
      input_cached_tokens: 10,
      output_reasoning_tokens: 4,
    });
    expect(usageA).toEqual(usageB);
    expect(json(a['langfuse.observation.model.parameters'])).toEqual(
      json(b['langfuse.observation.model.parameters']),
    );
  });

  it('records the same query and retrieved documents on the retriever', () => {
    // spanchain writes documents as {id, content, metadata}, Langfuse's handler as LangChain's
    // Document ({pageContent, metadata, id}): compared by content.
    const contents = (s: OtlpSpan, key: 'content' | 'pageContent') =>
      (json(s.attributes['langfuse.observation.output']) as Record<string, unknown>[]).map((d) => d[key]);
    const docsA = contents(named(spansA, 'VectorStoreRetriever'), 'content');
    expect(docsA).toHaveLength(2);
    expect(docsA).toEqual(contents(named(spansB, 'VectorStoreRetriever'), 'pageContent'));
    expect(named(spansA, 'VectorStoreRetriever').attributes['langfuse.observation.input']).toBe(QUESTION);
    expect(named(spansB, 'VectorStoreRetriever').attributes['langfuse.observation.input']).toBe(QUESTION);
  });
});
