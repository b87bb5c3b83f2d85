import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { createTracer, type Step } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { describe, expect, it } from 'vitest';
import { mapStep, operationOf, spanNameOf } from './map.js';

/** Runs `body` under a tracer and returns the ended steps. */
async function record(body: (tracer: ReturnType<typeof createTracer>) => Promise<unknown>): Promise<Step[]> {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], flushOnExit: false });
  await body(tracer).catch(() => undefined);
  await tracer.shutdown();
  return memory.steps;
}

const byName = (steps: Step[], name: string): Step => {
  const step = steps.find((s) => s.name === name);
  if (!step) throw new Error(`no step ${name}`);
  return step;
};

const OFF = { captureContent: false };
const ON = { captureContent: true };

describe('span names, kinds and operations', () => {
  it('follows the GenAI conventions for each covered kind and keeps the step name for the rest', async () => {
    const steps = await record(async (t) => {
      await t.llm({ name: 'answer', model: 'gpt-4o', provider: 'openai' }, async () => 'x');
      await t.llm({ name: 'no-model' }, async () => 'x');
      await t.embedding({ name: 'embed', model: 'text-embedding-3-small' }, async () => [1]);
      await t.retrieval({ name: 'search', dataSource: 'kb' }, async () => []);
      await t.retrieval({ name: 'search-any' }, async () => []);
      await t.tool({ name: 'weather', toolName: 'get_weather' }, async () => 1);
      await t.tool('lookup', async () => 1);
      await t.agent({ name: 'a', agentName: 'support' }, async () => 1);
      await t.chain('pipeline', async () => 1);
      await t.prompt('build', async () => 1);
      await t.guardrail('pii', async () => 1);
      await t.rerank('rr', async () => 1);
      await t.custom('misc', async () => 1);
    });
    const expected: Record<string, [string, SpanKind, string | undefined]> = {
      answer: ['chat gpt-4o', SpanKind.CLIENT, 'chat'],
      'no-model': ['chat', SpanKind.CLIENT, 'chat'],
      embed: ['embeddings text-embedding-3-small', SpanKind.CLIENT, 'embeddings'],
      search: ['retrieval kb', SpanKind.CLIENT, 'retrieval'],
      'search-any': ['retrieval', SpanKind.CLIENT, 'retrieval'],
      weather: ['execute_tool get_weather', SpanKind.INTERNAL, 'execute_tool'],
      lookup: ['execute_tool lookup', SpanKind.INTERNAL, 'execute_tool'],
      a: ['invoke_agent support', SpanKind.INTERNAL, 'invoke_agent'],
      pipeline: ['pipeline', SpanKind.INTERNAL, undefined],
      build: ['build', SpanKind.INTERNAL, undefined],
      pii: ['pii', SpanKind.INTERNAL, undefined],
      rr: ['rr', SpanKind.INTERNAL, undefined],
      misc: ['misc', SpanKind.INTERNAL, undefined],
    };
    for (const [name, [spanName, kind, operation]] of Object.entries(expected)) {
      const step = byName(steps, name);
      const span = mapStep(step, OFF);
      expect(span.name, name).toBe(spanName);
      expect(span.kind, name).toBe(kind);
      expect(span.attributes['gen_ai.operation.name'], name).toBe(operation);
      expect(operationOf(step)).toBe(operation);
      expect(spanNameOf(step)).toBe(spanName);
      expect(span.attributes['spanchain.step.kind']).toBe(step.kind);
      expect(span.attributes['spanchain.step.name']).toBe(name);
    }
  });

  it('lets the app choose the operation through its own attribute', async () => {
    const [step] = await record((t) =>
      t.llm(
        { name: 'legacy', model: 'davinci', attributes: { 'gen_ai.operation.name': 'text_completion' } },
        async () => 1,
      ),
    );
    expect(mapStep(step as Step, OFF).name).toBe('text_completion davinci');
  });
});

describe('LLM attributes', () => {
  it('maps request, response, usage and cost, and keeps content out unless captured', async () => {
    const [step] = await record((t) =>
      t.llm(
        {
          name: 'answer',
          model: 'gpt-4o',
          provider: 'openai',
          serverAddress: 'api.openai.com',
          serverPort: 443,
          params: {
            temperature: 0.2,
            topP: 0.9,
            maxTokens: 256,
            stopSequences: ['\n'],
            seed: 7,
            choiceCount: 1,
          },
          inputMessages: [
            { role: 'system', content: 'be brief' },
            { role: 'user', content: 'hello' },
          ],
          trace: { sessionId: 'conv-1', userId: 'u-1' },
        },
        async (s) => {
          s.update({
            responseModel: 'gpt-4o-2024-08-06',
            responseId: 'chatcmpl-1',
            finishReasons: ['stop'],
            usage: {
              inputTokens: 100,
              outputTokens: 20,
              cachedInputTokens: 40,
              reasoningTokens: 5,
              totalTokens: 120,
            },
            cost: { total: 0.0012, input: 0.001, output: 0.0002, currency: 'USD' },
            outputMessages: [{ role: 'assistant', content: 'hi' }],
          });
          return 'hi';
        },
      ),
    );
    const attributes = mapStep(step as Step, OFF).attributes;
    expect(attributes).toMatchObject({
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.response.id': 'chatcmpl-1',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.request.temperature': 0.2,
      'gen_ai.request.top_p': 0.9,
      'gen_ai.request.max_tokens': 256,
      'gen_ai.request.stop_sequences': ['\n'],
      'gen_ai.request.seed': 7,
      'gen_ai.usage.input_tokens': 100,
      'gen_ai.usage.output_tokens': 20,
      'gen_ai.usage.cache_read.input_tokens': 40,
      'gen_ai.usage.reasoning.output_tokens': 5,
      'gen_ai.conversation.id': 'conv-1',
      'server.address': 'api.openai.com',
      'server.port': 443,
      'spanchain.cost.total': 0.0012,
      'spanchain.cost.currency': 'USD',
      'user.id': 'u-1',
      'session.id': 'conv-1',
    });
    // choice count 1 is the default and is left out; no content without capture.
    expect(attributes['gen_ai.request.choice.count']).toBeUndefined();
    for (const key of [
      'gen_ai.input.messages',
      'gen_ai.output.messages',
      'spanchain.input',
      'spanchain.output',
    ]) {
      expect(attributes[key], key).toBeUndefined();
    }

    const captured = mapStep(step as Step, ON).attributes;
    expect(JSON.parse(String(captured['gen_ai.input.messages']))).toEqual([
      { role: 'system', parts: [{ type: 'text', content: 'be brief' }] },
      { role: 'user', parts: [{ type: 'text', content: 'hello' }] },
    ]);
    expect(JSON.parse(String(captured['gen_ai.output.messages']))).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'hi' }], finish_reason: 'stop' },
    ]);
  });

  it('records tool calls, tool results, system instructions and tool definitions in the conventions’ shapes', async () => {
    const [step] = await record((t) =>
      t.llm(
        {
          name: 'plan',
          model: 'm',
          systemInstructions: 'You are terse.',
          tools: [{ name: 'get_weather', description: 'weather', parameters: { type: 'object' } }],
          inputMessages: [
            { role: 'user', content: 'weather?' },
            {
              role: 'assistant',
              toolCalls: [{ id: 'c1', name: 'get_weather', arguments: { city: 'Oslo' } }],
            },
            { role: 'tool', toolCallId: 'c1', content: 'rainy' },
          ],
        },
        async (s) => {
          s.update({
            toolCalls: [{ id: 'c2', name: 'get_weather', arguments: { city: 'Bergen' } }],
            finishReasons: ['tool_call'],
          });
        },
      ),
    );
    const attributes = mapStep(step as Step, ON).attributes;
    expect(JSON.parse(String(attributes['gen_ai.system_instructions']))).toEqual([
      { type: 'text', content: 'You are terse.' },
    ]);
    expect(JSON.parse(String(attributes['gen_ai.tool.definitions']))).toEqual([
      { type: 'function', name: 'get_weather', description: 'weather', parameters: { type: 'object' } },
    ]);
    const input = JSON.parse(String(attributes['gen_ai.input.messages']));
    expect(input[1]).toEqual({
      role: 'assistant',
      parts: [{ type: 'tool_call', id: 'c1', name: 'get_weather', arguments: { city: 'Oslo' } }],
    });
    expect(input[2]).toEqual({
      role: 'tool',
      parts: [{ type: 'tool_call_response', id: 'c1', response: 'rainy' }],
    });
    expect(JSON.parse(String(attributes['gen_ai.output.messages']))).toEqual([
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'c2', name: 'get_weather', arguments: { city: 'Bergen' } }],
        finish_reason: 'tool_call',
      },
    ]);
  });
});

describe('other kinds', () => {
  it('maps retrieval, tool, agent, embedding, prompt, guardrail and rerank fields', async () => {
    const steps = await record(async (t) => {
      await t.retrieval({ name: 'r', dataSource: 'kb', query: 'refunds', topK: 2 }, async (s) => {
        s.update({
          documents: [{ id: 'd1', content: 'text', score: 0.8, metadata: { page: 3 } }, { content: 'no id' }],
        });
      });
      await t.tool(
        { name: 't', toolName: 'calc', toolCallId: 'c9', toolType: 'function', arguments: { a: 1 } },
        async () => ({ sum: 2 }),
      );
      await t.agent(
        { name: 'ag', agentName: 'support', agentId: 'ag-1', trace: { sessionId: 's' } },
        async () => 1,
      );
      await t.embedding(
        { name: 'e', model: 'emb', provider: 'openai', dimensions: 3, count: 1, texts: ['hi'] },
        async (s) => {
          s.update({ usage: { inputTokens: 2 } });
        },
      );
      await t.prompt(
        { name: 'p', templateName: 'qa', templateVersion: 3, variables: { q: 'x' } },
        async () => 'rendered',
      );
      await t.guardrail(
        { name: 'g', guardrailName: 'pii', decision: 'block', reason: 'email', target: 'output' },
        async () => 1,
      );
      await t.rerank(
        { name: 'rr', model: 'rerank-1', topN: 1, query: 'q', documents: [{ id: 'a', score: 0.1 }] },
        async (s) => {
          s.update({ rerankedDocuments: [{ id: 'a', score: 0.9 }] });
        },
      );
    });
    const r = mapStep(byName(steps, 'r'), ON).attributes;
    expect(r).toMatchObject({
      'gen_ai.data_source.id': 'kb',
      'gen_ai.request.top_k': 2,
      'gen_ai.retrieval.query.text': 'refunds',
    });
    expect(JSON.parse(String(r['gen_ai.retrieval.documents']))).toEqual([
      { id: 'd1', score: 0.8, content: 'text', metadata: { page: 3 } },
      { id: '1', content: 'no id' },
    ]);
    expect(mapStep(byName(steps, 'r'), OFF).attributes['gen_ai.retrieval.documents']).toBeUndefined();

    const tool = mapStep(byName(steps, 't'), ON).attributes;
    expect(tool).toMatchObject({
      'gen_ai.tool.name': 'calc',
      'gen_ai.tool.call.id': 'c9',
      'gen_ai.tool.type': 'function',
      'gen_ai.tool.call.arguments': '{"a":1}',
      'gen_ai.tool.call.result': '{"sum":2}',
    });
    expect(tool['spanchain.input']).toBeUndefined();

    expect(mapStep(byName(steps, 'ag'), OFF).attributes).toMatchObject({
      'gen_ai.agent.name': 'support',
      'gen_ai.agent.id': 'ag-1',
      'gen_ai.conversation.id': 's',
    });
    const e = mapStep(byName(steps, 'e'), ON).attributes;
    expect(e).toMatchObject({
      'gen_ai.embeddings.dimension.count': 3,
      'gen_ai.usage.input_tokens': 2,
      'spanchain.embedding.count': 1,
      'spanchain.embedding.texts': '["hi"]',
    });
    const p = mapStep(byName(steps, 'p'), ON).attributes;
    expect(p).toMatchObject({
      'spanchain.prompt.template.name': 'qa',
      'spanchain.prompt.template.version': 3,
      'spanchain.prompt.variables': '{"q":"x"}',
      'spanchain.output': 'rendered',
    });
    expect(mapStep(byName(steps, 'g'), OFF).attributes).toMatchObject({
      'spanchain.guardrail.name': 'pii',
      'spanchain.guardrail.decision': 'block',
      'spanchain.guardrail.reason': 'email',
      'spanchain.guardrail.target': 'output',
    });
    const rr = mapStep(byName(steps, 'rr'), ON).attributes;
    expect(rr).toMatchObject({
      'gen_ai.request.model': 'rerank-1',
      'spanchain.rerank.top_n': 1,
      'spanchain.rerank.query': 'q',
    });
    expect(JSON.parse(String(rr['spanchain.rerank.output_documents']))).toEqual([{ id: 'a', score: 0.9 }]);
  });
});

describe('trace fields, identity and errors', () => {
  it('puts trace-level fields and identity on every span, also on failure', async () => {
    const steps = await record((t) =>
      t.chain(
        {
          name: 'root',
          trace: {
            name: 'support-run',
            userId: 'user-7',
            sessionId: 'sess-1',
            tags: ['beta'],
            metadata: { tenant: 'acme', nested: { a: 1 } },
            environment: 'prod',
            release: 'r42',
          },
          identity: { team: 'search', keyAlias: 'search-prod', apiKey: 'sk-secret-value-123' },
          metadata: { step: 'm' },
          tags: ['t1'],
        },
        async () => {
          await t.tool('fails', async () => {
            throw new TypeError('bad input');
          });
        },
      ),
    );
    for (const name of ['root', 'fails']) {
      const span = mapStep(byName(steps, name), OFF);
      expect(span.attributes, name).toMatchObject({
        'user.id': 'user-7',
        'session.id': 'sess-1',
        'spanchain.trace.name': 'support-run',
        'spanchain.trace.tags': ['beta'],
        'spanchain.trace.metadata.tenant': 'acme',
        'spanchain.trace.metadata.nested': '{"a":1}',
        'deployment.environment.name': 'prod',
        'spanchain.trace.release': 'r42',
        'spanchain.identity.team': 'search',
        'spanchain.identity.key_alias': 'search-prod',
      });
      expect(String(span.attributes['spanchain.identity.key_hash'])).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(JSON.stringify(span)).not.toContain('sk-secret-value-123');
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
    }
    const failed = mapStep(byName(steps, 'fails'), OFF);
    expect(failed.attributes['error.type']).toBe('TypeError');
    expect(failed.status.message).toBe('bad input');
    const exception = failed.events.find((e) => e.name === 'exception');
    expect(exception?.attributes).toMatchObject({
      'exception.type': 'TypeError',
      'exception.message': 'bad input',
    });
    expect(String(exception?.attributes?.['exception.stacktrace'])).toContain('TypeError: bad input');
    const root = mapStep(byName(steps, 'root'), OFF).attributes;
    expect(root).toMatchObject({ 'spanchain.metadata.step': 'm', 'spanchain.tags': ['t1'] });
  });

  it('leaves trace fields, records and cut notes to a mapper built on it when asked (bare)', async () => {
    const steps = await record((t) =>
      t.agent(
        {
          name: 'root',
          agentName: 'helper',
          trace: {
            name: 'run',
            userId: 'u',
            sessionId: 's',
            tags: ['x'],
            metadata: { a: 1 },
            environment: 'prod',
          },
          identity: { team: 'search' },
          metadata: { m: 1 },
          attributes: { 'app.own': 'yes' },
          tags: ['t1'],
        },
        async () =>
          t.llm({ name: 'call', model: 'gpt-4o', provider: 'openai' }, async (s) => {
            s.update({ usage: { inputTokens: 3, outputTokens: 1 } });
            return 'ok';
          }),
      ),
    );
    for (const name of ['root', 'call']) {
      const step = byName(steps, name);
      const full = mapStep(step, OFF).attributes;
      const bare = mapStep(step, { ...OFF, bare: true }).attributes;
      const left = Object.keys(full).filter((k) => !(k in bare));
      // Exactly the trace fields and records are gone; nothing else changed.
      for (const key of left) {
        expect(key, name).toMatch(
          /^(user\.id|session\.id|gen_ai\.conversation\.id|deployment\.environment\.name|spanchain\.trace\.|spanchain\.identity\.|spanchain\.metadata\.|app\.own)/,
        );
      }
      expect(left.length, name).toBeGreaterThanOrEqual(5);
      for (const key of Object.keys(bare)) expect(bare[key], key).toEqual(full[key]);
    }
    const call = mapStep(byName(steps, 'call'), { ...OFF, bare: true }).attributes;
    expect(call).toMatchObject({
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': 3,
      'spanchain.step.kind': 'llm',
    });
    expect(mapStep(byName(steps, 'root'), { ...OFF, bare: true }).attributes).toMatchObject({
      'gen_ai.agent.name': 'helper',
      'spanchain.tags': ['t1'],
    });
  });

  it('uses a string error code as error.type and keeps events and the app’s attributes', async () => {
    const [step] = await record((t) =>
      t.llm({ name: 'x', model: 'm', attributes: { 'app.flag': true } }, async (s) => {
        s.addEvent('cache-miss', { key: 'k' });
        throw Object.assign(new Error('slow down'), { code: 'rate_limit_exceeded' });
      }),
    );
    const span = mapStep(step as Step, OFF);
    expect(span.attributes['error.type']).toBe('rate_limit_exceeded');
    expect(span.attributes['app.flag']).toBe(true);
    expect(span.events.map((e) => e.name)).toEqual(['cache-miss', 'exception']);
  });

  it('never throws on hostile content and keeps it within the limits', async () => {
    const circular: Record<string, unknown> = { big: 'x'.repeat(5_000), n: 10n };
    circular.self = circular;
    const [step] = await record((t) => t.custom({ name: 'odd', input: circular }, async () => Symbol('s')));
    const attributes = mapStep(step as Step, {
      captureContent: true,
      limits: { maxStringLength: 100 },
    }).attributes;
    const input = String(attributes['spanchain.input']);
    expect(input.length).toBeLessThan(400);
    expect(input).toContain('truncated');
  });
});

/** A list that says it has 2³²−1 items and has none: walking it takes minutes. */
function sparseList(): never {
  const list: unknown[] = [];
  list.length = 2 ** 32 - 1;
  return list as never;
}

/** Mapping time of `step` in ms (the step is mapped once to warm up). */
function mappingTime(step: Step, options: Parameters<typeof mapStep>[1]): number {
  mapStep(step, options);
  const started = performance.now();
  mapStep(step, options);
  return performance.now() - started;
}

describe('content lists are cut before they are mapped', () => {
  it('keeps maxArrayLength parts, each a part of the conventions, and notes the field in spanchain.truncated', async () => {
    const parts = Array.from({ length: 5_000 }, (_, i) => ({ type: 'text', text: `p${i}` }));
    const [step] = await record((t) =>
      t.llm({ name: 'long', model: 'm', inputMessages: [{ role: 'user', content: parts }] }, async () => 'x'),
    );
    const attributes = mapStep(step as Step, {
      captureContent: true,
      limits: { maxArrayLength: 10 },
    }).attributes;
    const [message] = JSON.parse(String(attributes['gen_ai.input.messages'])) as Array<{ parts: unknown[] }>;
    // Cut before mapping: ten real parts, no serialiser marker item in the schema's array.
    expect(message?.parts).toHaveLength(10);
    expect(message?.parts.every((p) => typeof p === 'object' && p !== null)).toBe(true);
    expect(message?.parts[9]).toEqual({ type: 'text', content: 'p9' });
    expect(attributes['spanchain.truncated']).toEqual(['inputMessages']);
  });

  it('maps lists that say 2³²−1 items (content, tools, tool calls, documents, texts) in bounded time', async () => {
    const steps = await record(async (t) => {
      await t.llm(
        {
          name: 'llm',
          model: 'm',
          systemInstructions: sparseList(),
          inputMessages: [{ role: 'user', content: sparseList(), toolCalls: sparseList() }],
          tools: sparseList(),
        },
        async (s) => {
          s.update({ toolCalls: sparseList() });
          return 'x';
        },
      );
      await t.llm({ name: 'out', model: 'm', inputMessages: sparseList() }, async (s) => {
        s.update({ outputMessages: sparseList() });
      });
      await t.retrieval({ name: 'docs', query: 'q', documents: sparseList() }, async () => 1);
      await t.rerank({ name: 'rr', documents: sparseList() }, async (s) => {
        s.update({ rerankedDocuments: sparseList() });
      });
      await t.embedding({ name: 'emb', model: 'e', texts: sparseList() }, async () => 1);
      await t.prompt({ name: 'p', messages: sparseList() }, async () => 1);
    });
    expect(steps).toHaveLength(6);
    for (const step of steps) {
      expect(mappingTime(step, ON), step.name).toBeLessThan(500);
      const attributes = mapStep(step, ON).attributes;
      for (const value of Object.values(attributes))
        if (typeof value === 'string') expect(value.length).toBeLessThan(300_000);
    }
    const llm = mapStep(byName(steps, 'llm'), ON).attributes;
    expect(llm['spanchain.truncated']).toEqual(
      expect.arrayContaining(['systemInstructions', 'inputMessages', 'toolCalls', 'tools']),
    );
  });

  it('describes binary content instead of walking it, and copies a generic part field by field', async () => {
    const buffer = Buffer.alloc(2 ** 20, 1);
    const generic = Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`f${i}`, i]));
    const [step] = await record((t) =>
      t.llm(
        {
          name: 'binary',
          model: 'm',
          inputMessages: [
            { role: 'user', content: buffer as never },
            { role: 'user', content: [{ type: 'file', ...generic } as never, new Uint8Array(8) as never] },
          ],
        },
        async () => 'x',
      ),
    );
    expect(mappingTime(step as Step, ON)).toBeLessThan(200);
    const attributes = mapStep(step as Step, {
      captureContent: true,
      limits: { maxObjectKeys: 5 },
    }).attributes;
    const messages = JSON.parse(String(attributes['gen_ai.input.messages'])) as Array<{ parts: unknown[] }>;
    expect(messages[0]?.parts).toEqual([{ type: 'text', content: '[Buffer 1048576 bytes]' }]);
    expect(messages[1]?.parts).toEqual([
      { type: 'file', f0: 0, f1: 1, f2: 2, f3: 3 },
      { type: 'text', content: '[Uint8Array 8 bytes]' },
    ]);
    expect(attributes['spanchain.truncated']).toEqual(['inputMessages']);
  });
});

describe('metadata and attributes are bounded', () => {
  const LIMITS = { maxObjectKeys: 100, maxStringLength: 50 };
  const keys = (n: number, prefix: string) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]));

  it('takes at most maxObjectKeys keys of the app’s records per span: own attributes, then metadata, then the trace’s', async () => {
    const [step] = await record((t) =>
      t.custom(
        {
          name: 'wide',
          attributes: keys(60, 'app.a') as never,
          metadata: keys(5_000, 'm'),
          trace: { metadata: keys(50, 't') },
        },
        async () => 1,
      ),
    );
    const attributes = mapStep(step as Step, { captureContent: false, limits: LIMITS }).attributes;
    const names = Object.keys(attributes);
    expect(names.filter((k) => k.startsWith('app.a'))).toHaveLength(60);
    expect(names.filter((k) => k.startsWith('spanchain.metadata.'))).toHaveLength(40);
    expect(names.filter((k) => k.startsWith('spanchain.trace.metadata.'))).toHaveLength(0);
    expect(attributes['spanchain.metadata.m39']).toBe(39);
    expect(attributes['spanchain.attributes.dropped']).toBe(5_000 - 40 + 50);
    expect(attributes['spanchain.truncated']).toEqual(['metadata', 'trace.metadata']);
    // The derived attributes are all there.
    expect(attributes['spanchain.step.name']).toBe('wide');
    expect(names.length).toBeLessThanOrEqual(100 + 10);
  });

  it('cuts strings of metadata, tags, trace fields and own attributes to maxStringLength', async () => {
    const long = 'x'.repeat(10_000);
    const [step] = await record((t) =>
      t.custom(
        {
          name: 'long',
          metadata: { note: long, list: [long, 'short'] },
          tags: [long, 'ok'],
          attributes: { 'app.note': long, 'app.list': [long] } as never,
          trace: { name: long, tags: [long], metadata: { note: long } },
        },
        async () => 1,
      ),
    );
    const attributes = mapStep(step as Step, { captureContent: false, limits: LIMITS }).attributes;
    const cut = `${'x'.repeat(50)}…[truncated 9950 chars]`;
    expect(attributes).toMatchObject({
      'spanchain.metadata.note': cut,
      'spanchain.metadata.list': [cut, 'short'],
      'spanchain.tags': [cut, 'ok'],
      'app.note': cut,
      'app.list': [cut],
      'spanchain.trace.name': cut,
      'spanchain.trace.tags': [cut],
      'spanchain.trace.metadata.note': cut,
    });
    // Defaults: 32,768 characters.
    const byDefault = mapStep(step as Step, OFF).attributes;
    expect(String(byDefault['spanchain.metadata.note'])).toBe(long);
  });

  it('never walks binary data, arrays or class instances given as metadata key by key', async () => {
    class Settings {
      readonly region = 'eu';
      readonly retries = 3;
    }
    const steps = await record(async (t) => {
      await t.custom({ name: 'buffer', metadata: Buffer.alloc(2 ** 20) as never }, async () => 1);
      await t.custom(
        { name: 'array', metadata: Array.from({ length: 1_000_000 }, (_, i) => i) as never },
        async () => 1,
      );
      await t.custom({ name: 'instance', metadata: new Settings() as never }, async () => 1);
    });
    for (const step of steps) expect(mappingTime(step, OFF), step.name).toBeLessThan(200);
    const buffer = mapStep(byName(steps, 'buffer'), OFF).attributes;
    expect(Object.keys(buffer).filter((k) => k.startsWith('spanchain.metadata.'))).toEqual([]);
    expect(buffer['spanchain.truncated']).toEqual(['metadata']);
    const array = mapStep(byName(steps, 'array'), OFF).attributes;
    expect(Object.keys(array).filter((k) => k.startsWith('spanchain.metadata.'))).toEqual([]);
    expect(mapStep(byName(steps, 'instance'), OFF).attributes).toMatchObject({
      'spanchain.metadata.@type': 'Settings',
      'spanchain.metadata.region': 'eu',
      'spanchain.metadata.retries': 3,
    });
  });

  it('costs little on an ordinary span: nothing cut, nothing noted', async () => {
    const [step] = await record((t) =>
      t.custom(
        { name: 'plain', metadata: { a: 1 }, attributes: { 'app.b': 'x' }, tags: ['t'] },
        async () => 1,
      ),
    );
    const attributes = mapStep(step as Step, OFF).attributes;
    expect(attributes['spanchain.truncated']).toBeUndefined();
    expect(attributes['spanchain.attributes.dropped']).toBeUndefined();
    expect(attributes).toMatchObject({ 'spanchain.metadata.a': 1, 'app.b': 'x', 'spanchain.tags': ['t'] });
  });
});
