import { SemanticConventions } from '@arizeai/openinference-semantic-conventions';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { createTracer, type Middleware, REDACTED, redact, STEP_KINDS, type Step } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { mapStep } from '@spanchain/otel';
import { describe, expect, it } from 'vitest';
import { type HideFlags, invocationParameters, type PhoenixMapOptions, phoenixMapper } from './map.js';
import { PROVIDERS, providerValues, REDACTED_VALUE, SPAN_KIND } from './names.js';

async function record(
  body: (tracer: ReturnType<typeof createTracer>) => Promise<unknown>,
  use: Middleware[] = [],
): Promise<Step[]> {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], flushOnExit: false, use });
  await body(tracer).catch(() => undefined);
  await tracer.shutdown();
  return memory.steps;
}

async function one(body: (tracer: ReturnType<typeof createTracer>) => Promise<unknown>): Promise<Step> {
  const steps = await record(body);
  expect(steps).toHaveLength(1);
  return steps[0] as Step;
}

const byName = (steps: Step[], name: string): Step => {
  const step = steps.find((s) => s.name === name);
  if (!step) throw new Error(`no step ${name}`);
  return step;
};

const ON: PhoenixMapOptions = { captureContent: true };
const attrs = (step: Step, options: PhoenixMapOptions = ON) => phoenixMapper(step, options).attributes;
const parsed = (value: unknown): unknown => JSON.parse(String(value));

/** Every constant string of the package: names written must be made of these (and list indexes). */
const KNOWN = new Set<string>(Object.values(SemanticConventions));
function assertKnownName(name: string): void {
  for (const segment of name.split(/\.\d+\./)) {
    const ok =
      KNOWN.has(segment) ||
      [...KNOWN].some((a) => segment.startsWith(`${a}.`) && KNOWN.has(segment.slice(a.length + 1)));
    expect(ok, `${name}: ${segment}`).toBe(true);
  }
}

describe('span kinds and names', () => {
  it('sets openinference.span.kind for every step kind; embeddings are named CreateEmbeddings', async () => {
    const steps = await record(async (t) => {
      for (const kind of STEP_KINDS) await t.startStep(kind, { name: `s-${kind}` }).end('ok');
    });
    expect(steps).toHaveLength(STEP_KINDS.length);
    const kinds: Record<string, unknown> = {};
    for (const kind of STEP_KINDS) {
      const span = phoenixMapper(byName(steps, `s-${kind}`), ON);
      kinds[kind] = span.attributes[SemanticConventions.OPENINFERENCE_SPAN_KIND];
      expect(span.name).toBe(kind === 'embedding' ? 'CreateEmbeddings' : `s-${kind}`);
      expect(span.status.code).toBe(SpanStatusCode.OK);
    }
    expect(kinds).toEqual({
      agent: 'AGENT',
      chain: 'CHAIN',
      retrieval: 'RETRIEVER',
      prompt: 'PROMPT',
      llm: 'LLM',
      tool: 'TOOL',
      embedding: 'EMBEDDING',
      rerank: 'RERANKER',
      guardrail: 'GUARDRAIL',
      custom: 'CHAIN',
    });
    expect(SPAN_KIND.custom).toBe('CHAIN');
    expect(phoenixMapper(byName(steps, 's-llm'), ON).kind).toBe(SpanKind.CLIENT);
    expect(phoenixMapper(byName(steps, 's-chain'), ON).kind).toBe(SpanKind.INTERNAL);
  });
});

describe('input and output', () => {
  it('strings are text/plain, everything else JSON', async () => {
    const steps = await record(async (t) => {
      await t.chain({ name: 'text', input: 'hello' }, async () => 'world');
      await t.chain({ name: 'json', input: { q: 1 } }, async () => [1, 2]);
      await t.chain({ name: 'number' }, async () => 42);
    });
    expect(attrs(byName(steps, 'text'))).toMatchObject({
      'input.value': 'hello',
      'input.mime_type': 'text/plain',
      'output.value': 'world',
      'output.mime_type': 'text/plain',
    });
    const json = attrs(byName(steps, 'json'));
    expect(parsed(json['input.value'])).toEqual({ q: 1 });
    expect(json['input.mime_type']).toBe('application/json');
    expect(json['output.value']).toBe('[1,2]');
    expect(json['output.mime_type']).toBe('application/json');
    expect(attrs(byName(steps, 'number'))['output.value']).toBe('42');
  });

  it('no content without captureContent, and long text is cut to the limits', async () => {
    const step = await one((t) => t.chain({ name: 'c', input: 'x'.repeat(100) }, async () => 'out'));
    const off = attrs(step, { captureContent: false });
    expect(off['input.value']).toBeUndefined();
    expect(off['output.value']).toBeUndefined();
    expect(off['openinference.span.kind']).toBe('CHAIN');
    const cut = attrs(step, { captureContent: true, limits: { maxStringLength: 10 } });
    expect(String(cut['input.value'])).toMatch(/^x{10}…\[truncated 90 chars\]$/);
  });

  it('the tracer’s redaction reaches the span (the marker is sent, not the value)', async () => {
    const steps = await record(
      (t) => t.chain({ name: 'masked', input: 'secret question', maskInput: true }, async () => 'ok'),
      [redact()],
    );
    expect(attrs(byName(steps, 'masked'))['input.value']).toBe(REDACTED);
  });
});

describe('LLM spans', () => {
  async function llmStep(extra: Record<string, unknown> = {}): Promise<Step> {
    return one((t) =>
      t.llm(
        {
          name: 'answer',
          model: 'gpt-4o',
          provider: 'openai',
          systemInstructions: 'Be brief.',
          inputMessages: [
            { role: 'user', content: 'Weather in Paris?', name: 'ana' },
            {
              role: 'user',
              content: [
                { type: 'text', text: 'and this picture' },
                { type: 'image', url: 'https://img.example/p.png' },
              ],
            },
            { role: 'tool', content: '21°C', toolCallId: 'call_0' },
          ],
          params: { temperature: 0.2, maxTokens: 100, stopSequences: ['END'] },
          tools: [{ name: 'get_weather', description: 'Weather by city', parameters: { type: 'object' } }],
          promptName: 'weather-answer',
          promptVersion: 3,
          ...extra,
        },
        async (step) => {
          step.update({
            responseModel: 'gpt-4o-2024-08-06',
            outputMessages: [
              {
                role: 'assistant',
                content: 'Sunny.',
                toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } }],
              },
            ],
            usage: {
              inputTokens: 50,
              outputTokens: 12,
              totalTokens: 62,
              cachedInputTokens: 20,
              cacheCreationInputTokens: 5,
              reasoningTokens: 4,
            },
            cost: { input: 0.0002, output: 0.0001, total: 0.0003, currency: 'USD' },
            finishReasons: ['stop'],
          });
          return 'Sunny.';
        },
      ),
    );
  }

  it('model, provider, parameters, tokens, cost, finish reason and prompt version', async () => {
    const a = attrs(await llmStep());
    expect(a).toMatchObject({
      'openinference.span.kind': 'LLM',
      'llm.model_name': 'gpt-4o-2024-08-06',
      'llm.request.model_name': 'gpt-4o',
      'llm.response.model_name': 'gpt-4o-2024-08-06',
      'llm.provider': 'openai',
      'llm.system': 'openai',
      'llm.token_count.prompt': 50,
      'llm.token_count.completion': 12,
      'llm.token_count.total': 62,
      'llm.token_count.prompt_details.cache_read': 20,
      'llm.token_count.prompt_details.cache_write': 5,
      'llm.token_count.completion_details.reasoning': 4,
      'llm.cost.prompt': 0.0002,
      'llm.cost.completion': 0.0001,
      'llm.cost.total': 0.0003,
      'llm.finish_reason': 'stop',
      'prompt.id': 'weather-answer',
      'llm.prompt_template.version': '3',
    });
    expect(parsed(a['llm.invocation_parameters'])).toEqual({
      temperature: 0.2,
      max_tokens: 100,
      stop_sequences: ['END'],
    });
    expect(parsed(a['llm.tools.0.tool.json_schema'])).toEqual({
      type: 'function',
      function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object' } },
    });
    for (const name of Object.keys(a)) assertKnownName(name);
  });

  it('flattens messages: system first, names, parts, tool results and tool calls', async () => {
    const a = attrs(await llmStep());
    expect(a).toMatchObject({
      'llm.input_messages.0.message.role': 'system',
      'llm.input_messages.0.message.content': 'Be brief.',
      'llm.input_messages.1.message.role': 'user',
      'llm.input_messages.1.message.content': 'Weather in Paris?',
      'llm.input_messages.1.message.name': 'ana',
      'llm.input_messages.2.message.contents.0.message_content.type': 'text',
      'llm.input_messages.2.message.contents.0.message_content.text': 'and this picture',
      'llm.input_messages.2.message.contents.1.message_content.type': 'image',
      'llm.input_messages.2.message.contents.1.message_content.image.image.url': 'https://img.example/p.png',
      'llm.input_messages.3.message.role': 'tool',
      'llm.input_messages.3.message.tool_call_id': 'call_0',
      'llm.output_messages.0.message.role': 'assistant',
      'llm.output_messages.0.message.content': 'Sunny.',
      'llm.output_messages.0.message.tool_calls.0.tool_call.id': 'call_1',
      'llm.output_messages.0.message.tool_calls.0.tool_call.function.name': 'get_weather',
    });
    expect(parsed(a['llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments'])).toEqual({
      city: 'Paris',
    });
    expect(a['llm.input_messages.4.message.role']).toBeUndefined();
    // The step returned a string: that is the span's output.
    expect(a['output.value']).toBe('Sunny.');
  });

  it('without plain input, the messages are the input value; tool calls alone are an output message', async () => {
    const step = await one((t) =>
      t.llm({ name: 'tc', model: 'm', inputMessages: [{ role: 'user', content: 'go' }] }, async (s) => {
        s.update({ toolCalls: [{ id: 'c1', name: 'search', arguments: '{"q":"x"}' }] });
        return undefined;
      }),
    );
    const a = attrs(step);
    expect(parsed(a['input.value'])).toEqual({ messages: [{ role: 'user', content: 'go' }] });
    expect(a['input.mime_type']).toBe('application/json');
    expect(a['llm.output_messages.0.message.role']).toBe('assistant');
    expect(a['llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments']).toBe('{"q":"x"}');
    expect(parsed(a['output.value'])).toEqual({
      tool_calls: [{ id: 'c1', name: 'search', arguments: '{"q":"x"}' }],
    });
  });

  it('one model name when request and response agree; costs in other currencies are left out', async () => {
    const step = await one((t) =>
      t.llm({ name: 'x', model: 'claude-3', provider: 'anthropic' }, async (s) => {
        s.update({
          responseModel: 'claude-3',
          cost: { total: 1, currency: 'EUR' },
          usage: { inputTokens: 3 },
        });
      }),
    );
    const a = attrs(step);
    expect(a['llm.model_name']).toBe('claude-3');
    expect(a['llm.request.model_name']).toBeUndefined();
    expect(a['llm.cost.total']).toBeUndefined();
    expect(a['llm.token_count.total']).toBe(3);
    expect(a['llm.provider']).toBe('anthropic');
  });

  it('maps GenAI provider names onto OpenInference provider and system values', () => {
    expect(providerValues('aws.bedrock')).toEqual({ provider: 'aws', system: 'amazon' });
    expect(providerValues('azure.ai.openai')).toEqual({ provider: 'azure', system: 'openai' });
    expect(providerValues('gcp.vertex_ai')).toEqual({ provider: 'google', system: 'vertexai' });
    expect(providerValues('mistral_ai')).toEqual({ provider: 'mistralai', system: 'mistralai' });
    expect(providerValues('x_ai')).toEqual({ provider: 'xai', system: 'xai' });
    expect(providerValues('groq')).toEqual({ provider: 'groq' });
    // OpenInference spellings pass through; anything else is a custom provider without a system.
    expect(providerValues('cohere')).toEqual({ provider: 'cohere', system: 'cohere' });
    expect(providerValues('meta')).toEqual({ provider: 'meta', system: 'meta' });
    expect(providerValues('acme-llm')).toEqual({ provider: 'acme-llm' });
    expect(providerValues('constructor')).toEqual({ provider: 'constructor' });
    expect(providerValues(undefined)).toBeUndefined();
    for (const values of Object.values(PROVIDERS)) expect(typeof values.provider).toBe('string');
  });

  it('invocation parameters are snake_case and include streaming', () => {
    expect(
      invocationParameters({
        params: { topP: 0.5, seed: 1, skipped: undefined },
        stream: { state: 'completed', chunks: 2 },
      } as never),
    ).toEqual({ top_p: 0.5, seed: 1, stream: true });
    expect(invocationParameters({} as never)).toBeUndefined();
  });
});

describe('documents, tools, agents, prompts, embeddings, guardrails', () => {
  it('retrieval documents with id, content, score and JSON metadata; the query is the input', async () => {
    const step = await one((t) =>
      t.retrieval({ name: 'search', query: 'refund window', dataSource: 'kb' }, async (s) => {
        s.update({
          documents: [
            { id: 'doc-1', content: '30 days', score: 0.92, metadata: { source: 'faq' } },
            { id: 'doc-2', content: 'ask support' },
          ],
        });
        return 'ignored: the documents are the output';
      }),
    );
    const a = attrs(step);
    expect(a).toMatchObject({
      'openinference.span.kind': 'RETRIEVER',
      'input.value': 'refund window',
      'retrieval.documents.0.document.id': 'doc-1',
      'retrieval.documents.0.document.content': '30 days',
      'retrieval.documents.0.document.score': 0.92,
      'retrieval.documents.1.document.id': 'doc-2',
    });
    expect(parsed(a['retrieval.documents.0.document.metadata'])).toEqual({ source: 'faq' });
    expect(a['retrieval.documents.1.document.metadata']).toBeUndefined();
    expect(a['retrieval.documents.1.document.score']).toBeUndefined();
    expect(a['output.value']).toBeUndefined();
  });

  it('reranker query, model, top k, input and output documents', async () => {
    const step = await one((t) =>
      t.rerank(
        {
          name: 'rerank',
          model: 'rerank-v3',
          query: 'refund',
          topN: 1,
          documents: [
            { id: 'a', content: 'A' },
            { id: 'b', content: 'B' },
          ],
        },
        async (s) => {
          s.update({ rerankedDocuments: [{ id: 'b', content: 'B', score: 0.9 }] });
        },
      ),
    );
    const a = attrs(step);
    expect(a).toMatchObject({
      'openinference.span.kind': 'RERANKER',
      'reranker.query': 'refund',
      'reranker.model_name': 'rerank-v3',
      'reranker.top_k': 1,
      'reranker.input_documents.0.document.id': 'a',
      'reranker.input_documents.1.document.content': 'B',
      'reranker.output_documents.0.document.id': 'b',
      'reranker.output_documents.0.document.score': 0.9,
    });
    for (const name of Object.keys(a)) assertKnownName(name);
  });

  it('tool name, description and call id; arguments in, result out', async () => {
    const step = await one((t) =>
      t.tool(
        {
          name: 'lookup',
          toolName: 'get_weather',
          toolDescription: 'Weather by city',
          toolCallId: 'call_1',
          arguments: { city: 'Paris' },
        },
        async () => ({ celsius: 21 }),
      ),
    );
    const a = attrs(step);
    expect(a).toMatchObject({
      'openinference.span.kind': 'TOOL',
      'tool.name': 'get_weather',
      'tool.description': 'Weather by city',
      'tool.id': 'call_1',
      'input.mime_type': 'application/json',
    });
    expect(parsed(a['input.value'])).toEqual({ city: 'Paris' });
    expect(parsed(a['output.value'])).toEqual({ celsius: 21 });
  });

  it('agent name; prompt template, variables, version and id', async () => {
    const steps = await record(async (t) => {
      await t.agent({ name: 'helper', agentName: 'Support agent' }, async () => 'done');
      await t.prompt(
        {
          name: 'build',
          templateName: 'answer',
          templateVersion: 'v2',
          template: 'Answer {q}',
          variables: { q: 'refund?' },
        },
        async (s) => {
          s.update({ text: 'Answer refund?' });
        },
      );
    });
    expect(attrs(byName(steps, 'helper'))['agent.name']).toBe('Support agent');
    const p = attrs(byName(steps, 'build'));
    expect(p).toMatchObject({
      'openinference.span.kind': 'PROMPT',
      'llm.prompt_template.template': 'Answer {q}',
      'llm.prompt_template.version': 'v2',
      'prompt.id': 'answer',
      'output.value': 'Answer refund?',
    });
    expect(parsed(p['llm.prompt_template.variables'])).toEqual({ q: 'refund?' });
    expect(parsed(p['input.value'])).toEqual({ q: 'refund?' });
  });

  it('embeddings: model, texts, vectors within the byte budget, prompt tokens only', async () => {
    const step = await one((t) =>
      t.embedding(
        { name: 'embed', model: 'text-embedding-3-small', provider: 'openai', texts: ['a', 'b'] },
        async (s) => {
          s.update({ usage: { inputTokens: 2, totalTokens: 2 } });
          return [
            [0.1, 0.2],
            [0.3, 0.4],
          ];
        },
      ),
    );
    const span = phoenixMapper(step, ON);
    expect(span.name).toBe('CreateEmbeddings');
    const a = span.attributes;
    expect(a).toMatchObject({
      'embedding.model_name': 'text-embedding-3-small',
      'embedding.embeddings.0.embedding.text': 'a',
      'embedding.embeddings.1.embedding.text': 'b',
      'embedding.embeddings.0.embedding.vector': [0.1, 0.2],
      'embedding.embeddings.1.embedding.vector': [0.3, 0.4],
      'llm.token_count.prompt': 2,
      'llm.token_count.total': 2,
    });
    // The spec keeps llm.system and llm.provider off embedding spans; the vectors are the output.
    expect(a['llm.provider']).toBeUndefined();
    expect(a['llm.system']).toBeUndefined();
    expect(a['output.value']).toBeUndefined();
    const small = attrs(step, { captureContent: true, limits: { maxBytes: 16 } });
    expect(small['embedding.embeddings.0.embedding.vector']).toBeUndefined();
    expect(small['embedding.embeddings.0.embedding.text']).toBe('a');
    // Left out as vectors, the output is sent as JSON instead (cut by the same budget).
    expect(String(small['output.value'])).toMatch(/^\[\[0\.1,0\.2\]/);
  });

  it('a guardrail’s decision and reason as span feedback (annotations)', async () => {
    const step = await one((t) =>
      t.guardrail(
        { name: 'pii', guardrailName: 'pii-check', decision: 'block', reason: 'email', target: 'output' },
        async () => 'x',
      ),
    );
    const a = attrs(step);
    expect(a).toMatchObject({
      'openinference.span.kind': 'GUARDRAIL',
      'annotations.0.annotation.name': 'pii-check',
      'annotations.0.annotation.label': 'block',
      'annotations.0.annotation.explanation': 'email',
      'annotations.0.annotation.annotator_kind': 'CODE',
    });
    expect(parsed(a['annotations.0.annotation.metadata'])).toEqual({ target: 'output' });
    for (const name of Object.keys(a)) assertKnownName(name);
  });
});

describe('common attributes', () => {
  it('session, user, one metadata JSON object, tags from trace and step; the app’s attributes win', async () => {
    const steps = await record((t) =>
      t.chain(
        {
          name: 'root',
          trace: { sessionId: 's-1', userId: 'u-1', tags: ['beta'], metadata: { plan: 'pro', seats: 3 } },
          identity: { team: 'blue', keyAlias: 'prod' },
        },
        () =>
          t.tool(
            {
              name: 'child',
              tags: ['fast', 'beta'],
              metadata: { plan: 'team' },
              attributes: { 'tool.name': 'mine' },
            },
            async () => 1,
          ),
      ),
    );
    const child = attrs(byName(steps, 'child'));
    expect(child).toMatchObject({ 'session.id': 's-1', 'user.id': 'u-1', 'tool.name': 'mine' });
    expect(child['tag.tags']).toEqual(['beta', 'fast']);
    expect(parsed(child.metadata)).toEqual({
      plan: 'team',
      seats: 3,
      identity: { team: 'blue', key_alias: 'prod' },
    });
    const root = attrs(byName(steps, 'root'));
    expect(root['tag.tags']).toEqual(['beta']);
    expect(parsed(root.metadata)).toMatchObject({ plan: 'pro', seats: 3 });
  });

  it('a failed step: status ERROR with the message and an exception event', async () => {
    const step = await one((t) =>
      t.tool({ name: 'boom' }, async () => {
        throw new TypeError('bad input');
      }),
    );
    const span = phoenixMapper(step, ON);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'bad input' });
    const event = span.events.find((e) => e.name === 'exception');
    expect(event?.attributes).toMatchObject({
      'exception.type': 'TypeError',
      'exception.message': 'bad input',
    });
    expect(String(event?.attributes?.['exception.stacktrace'])).toContain('bad input');
  });
});

describe('hide switches', () => {
  async function llm(): Promise<Step> {
    return one((t) =>
      t.llm(
        {
          name: 'llm',
          model: 'gpt-4o',
          input: 'raw request',
          inputMessages: [
            { role: 'user', content: 'private question' },
            { role: 'user', content: [{ type: 'image', url: `data:image/png;base64,${'A'.repeat(100)}` }] },
          ],
          params: { temperature: 1 },
          tools: [{ name: 't' }],
        },
        async (s) => {
          s.update({ outputMessages: [{ role: 'assistant', content: 'private answer' }] });
          return 'private answer';
        },
      ),
    );
  }
  const hidden = (hide: Partial<HideFlags>, step: Step) => attrs(step, { captureContent: true, hide });

  it('inputs: marker in input.value, no MIME type, no input messages, no tools', async () => {
    const a = hidden({ inputs: true }, await llm());
    expect(a['input.value']).toBe(REDACTED_VALUE);
    expect(a['input.mime_type']).toBeUndefined();
    expect(
      Object.keys(a).filter((k) => k.startsWith('llm.input_messages') || k.startsWith('llm.tools')),
    ).toEqual([]);
    expect(a['output.value']).toBe('private answer');
    expect(a['llm.output_messages.0.message.content']).toBe('private answer');
  });

  it('outputs, input/output messages, text, images, parameters, tools', async () => {
    const step = await llm();
    const out = hidden({ outputs: true }, step);
    expect(out['output.value']).toBe(REDACTED_VALUE);
    expect(out['llm.output_messages.0.message.role']).toBeUndefined();
    const inMsgs = hidden({ inputMessages: true }, step);
    expect(inMsgs['input.value']).toBe('raw request');
    expect(inMsgs['llm.input_messages.0.message.role']).toBeUndefined();
    expect(hidden({ outputMessages: true }, step)['llm.output_messages.0.message.role']).toBeUndefined();
    const text = hidden({ inputText: true, outputText: true }, step);
    expect(text['llm.input_messages.0.message.content']).toBe(REDACTED_VALUE);
    expect(text['llm.input_messages.0.message.role']).toBe('user');
    expect(text['llm.output_messages.0.message.content']).toBe(REDACTED_VALUE);
    const images = hidden({ inputImages: true }, step);
    expect(images['llm.input_messages.1.message.contents.0.message_content.type']).toBe('image');
    expect(images['llm.input_messages.1.message.contents.0.message_content.image.image.url']).toBeUndefined();
    expect(hidden({ llmInvocationParameters: true }, step)['llm.invocation_parameters']).toBeUndefined();
    expect(hidden({ llmTools: true }, step)['llm.tools.0.tool.json_schema']).toBeUndefined();
    // Long base64 images become the marker; short ones stay.
    const url = 'llm.input_messages.1.message.contents.0.message_content.image.image.url';
    expect(attrs(step, { captureContent: true, base64ImageMaxLength: 50 })[url]).toBe(REDACTED_VALUE);
    expect(String(attrs(step)[url])).toMatch(/^data:image\/png;base64,A+$/);
  });

  it('embedding texts and vectors become the marker', async () => {
    const step = await one((t) =>
      t.embedding({ name: 'e', model: 'm', texts: ['secret'] }, async () => [[1, 2]]),
    );
    const a = hidden({ embeddingsText: true, embeddingsVectors: true }, step);
    expect(a['embedding.embeddings.0.embedding.text']).toBe(REDACTED_VALUE);
    expect(a['embedding.embeddings.0.embedding.vector']).toBe(REDACTED_VALUE);
  });
});

/** A list that says it has 2³²−1 items and has none: walking it takes minutes. */
function sparseList(): never {
  const list: unknown[] = [];
  list.length = 2 ** 32 - 1;
  return list as never;
}

/** Mapping time of `step` in ms (mapped once to warm up). */
function mappingTime(step: Step, options: PhoenixMapOptions = ON): number {
  phoenixMapper(step, options);
  const started = performance.now();
  phoenixMapper(step, options);
  return performance.now() - started;
}

const keys = (n: number, prefix: string) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]));

describe('budgets', () => {
  const LIMITS = { maxObjectKeys: 100, maxStringLength: 50, maxArrayLength: 10 };

  it('keeps at most maxObjectKeys of the app’s own attributes, each within the budgets', async () => {
    const long = 'x'.repeat(10_000);
    const step = await one((t) =>
      t.custom(
        { name: 'wide', attributes: { 'app.note': long, ...keys(5_000, 'app.k') } as never },
        async () => 1,
      ),
    );
    const a = attrs(step, { captureContent: false, limits: LIMITS });
    expect(Object.keys(a).filter((k) => k.startsWith('app.'))).toHaveLength(100);
    expect(a['app.note']).toBe(`${'x'.repeat(50)}…[truncated 9950 chars]`);
    expect(a['app.k98']).toBe(98);
    expect(a['app.k99']).toBeUndefined();
  });

  it('sends an own attribute list whose strings pass maxBytes as JSON within the budgets, as @spanchain/otel does', async () => {
    const item = 'y'.repeat(40);
    const step = await one((t) =>
      t.custom({ name: 'bytes', attributes: { 'app.list': [item, item, item] } as never }, async () => 1),
    );
    const options = { captureContent: false, limits: { maxBytes: 100 } };
    const value = attrs(step, options)['app.list'];
    expect(typeof value).toBe('string');
    expect(value).toBe(mapStep(step, options).attributes['app.list']);
    // Within maxBytes the list stays a list.
    expect(attrs(step, { captureContent: false })['app.list']).toEqual([item, item, item]);
  });

  it('one metadata object of at most maxObjectKeys keys (the step’s first), the rest counted; identity kept', async () => {
    const steps = await record((t) =>
      t.chain({ name: 'root', trace: { metadata: keys(50, 't') }, identity: { team: 'blue' } }, () =>
        t.tool({ name: 'child', metadata: keys(5_000, 'm') }, async () => 1),
      ),
    );
    const metadata = parsed(
      attrs(byName(steps, 'child'), { captureContent: false, limits: LIMITS }).metadata,
    ) as Record<string, unknown>;
    expect(Object.keys(metadata).filter((k) => k.startsWith('m'))).toHaveLength(98);
    expect(Object.keys(metadata).filter((k) => k.startsWith('t'))).toHaveLength(0);
    expect(metadata['…']).toBe(`[${5_000 - 98 + 50} more keys]`);
    expect(metadata.identity).toEqual({ team: 'blue' });
  });

  it('tags: once each, at most maxArrayLength, each cut to maxStringLength', async () => {
    const long = 'y'.repeat(10_000);
    const step = await one((t) =>
      t.custom(
        {
          name: 'tags',
          tags: [long, ...Array.from({ length: 5_000 }, (_, i) => `t${i % 20}`)],
          trace: { tags: ['beta'] },
        },
        async () => 1,
      ),
    );
    const tags = attrs(step, { captureContent: false, limits: LIMITS })['tag.tags'] as string[];
    expect(tags).toHaveLength(10);
    expect(tags.slice(0, 2)).toEqual(['beta', `${'y'.repeat(50)}…[truncated 9950 chars]`]);
  });

  it('never walks binary data or arrays given as metadata key by key, nor lists that say 2³²−1 items', async () => {
    const steps = await record(async (t) => {
      await t.custom({ name: 'buffer', metadata: Buffer.alloc(2 ** 20) as never }, async () => 1);
      await t.custom(
        { name: 'array', metadata: Array.from({ length: 1_000_000 }, (_, i) => i) as never },
        async () => 1,
      );
      await t.embedding({ name: 'embed', texts: sparseList() }, async () => sparseList());
      await t.llm(
        {
          name: 'llm',
          model: 'm',
          inputMessages: [{ role: 'user', content: sparseList(), toolCalls: sparseList() }],
          tools: sparseList(),
        },
        async () => 'x',
      );
    });
    for (const step of steps) expect(mappingTime(step), step.name).toBeLessThan(200);
    expect(attrs(byName(steps, 'buffer')).metadata).toBeUndefined();
    expect(attrs(byName(steps, 'array')).metadata).toBeUndefined();
  });

  it('nested lists share one item budget: many messages of many parts cannot multiply', async () => {
    const parts = Array.from({ length: 1_000 }, (_, i) => ({ type: 'text', text: `p${i}` }));
    const messages = Array.from({ length: 1_000 }, () => ({ role: 'user', content: parts }));
    const step = await one((t) =>
      t.llm({ name: 'many', model: 'm', inputMessages: messages as never }, async () => 'x'),
    );
    expect(mappingTime(step)).toBeLessThan(500);
    const a = attrs(step);
    const texts = Object.keys(a).filter((k) => k.endsWith('.message_content.text'));
    // 32,768 items (maxBytes / 8) in all: the 1,000 messages, then parts until the budget is spent.
    expect(texts.length).toBe(32_768 - 1_000);
    expect(a['llm.input_messages.0.message.contents.999.message_content.text']).toBe('p999');
  });
});
