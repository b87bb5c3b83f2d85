import { createTracer, type Middleware, REDACTED, redact, STEP_KINDS, type Step } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { mapStep } from '@spanchain/otel';
import { describe, expect, it } from 'vitest';
import {
  costDetails,
  joinedParentId,
  type LangfuseMapOptions,
  langfuseMapper,
  normalizeEnvironment,
  usageDetails,
} from './map.js';
import { OBSERVATION_TYPE } from './names.js';

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

const byName = (steps: Step[], name: string): Step => {
  const step = steps.find((s) => s.name === name);
  if (!step) throw new Error(`no step ${name}`);
  return step;
};

const ON: LangfuseMapOptions = { captureContent: true };
const attrs = (step: Step, options: LangfuseMapOptions = ON) => langfuseMapper(step, options).attributes;
const parsed = (value: unknown): unknown => JSON.parse(String(value));

describe('observation types', () => {
  it('sets langfuse.observation.type for every kind, and names the span after the step', async () => {
    const steps = await record(async (t) => {
      for (const kind of STEP_KINDS) await t.startStep(kind, { name: `s-${kind}` }).end('ok');
    });
    expect(steps).toHaveLength(STEP_KINDS.length);
    for (const kind of STEP_KINDS) {
      const span = langfuseMapper(byName(steps, `s-${kind}`), ON);
      expect(span.name).toBe(`s-${kind}`);
      expect(span.attributes['langfuse.observation.type'], kind).toBe(OBSERVATION_TYPE[kind]);
    }
    expect(OBSERVATION_TYPE).toMatchObject({
      llm: 'generation',
      embedding: 'embedding',
      retrieval: 'retriever',
      rerank: 'retriever',
      tool: 'tool',
      agent: 'agent',
      chain: 'chain',
      guardrail: 'guardrail',
      prompt: 'span',
      custom: 'span',
    });
  });
});

describe('generations', () => {
  async function llmStep(): Promise<Step> {
    const steps = await record((t) =>
      t.llm(
        {
          name: 'answer',
          model: 'gpt-4o',
          provider: 'openai',
          systemInstructions: 'Be brief.',
          inputMessages: [{ role: 'user', content: 'Hi' }],
          params: { temperature: 0.2, maxTokens: 100, stopSequences: ['END'] },
          promptName: 'support-answer',
          promptVersion: '3',
          metadata: { route: 'faq', attempt: 2 },
          identity: { team: 'blue', keyAlias: 'prod' },
        },
        async (step) => {
          step.update({
            responseModel: 'gpt-4o-2024-08-06',
            outputMessages: [
              {
                role: 'assistant',
                content: 'Hello',
                toolCalls: [{ id: 'c1', name: 'lookup', arguments: { q: 'x' } }],
              },
            ],
            usage: {
              inputTokens: 100,
              outputTokens: 40,
              totalTokens: 140,
              cachedInputTokens: 30,
              cacheCreationInputTokens: 10,
              reasoningTokens: 15,
            },
            cost: { input: 0.001, output: 0.002, total: 0.003, currency: 'USD' },
            timeToFirstTokenMs: 250,
          });
          return 'Hello';
        },
      ),
    );
    return byName(steps, 'answer');
  }

  it('writes input/output as chat messages and drops the duplicated GenAI content', async () => {
    const a = attrs(await llmStep());
    expect(parsed(a['langfuse.observation.input'])).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(parsed(a['langfuse.observation.output'])).toEqual({
      role: 'assistant',
      content: 'Hello',
      tool_calls: [{ id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }],
    });
    for (const gone of [
      'gen_ai.input.messages',
      'gen_ai.output.messages',
      'gen_ai.system_instructions',
      'spanchain.input',
      'spanchain.output',
    ]) {
      expect(a[gone], gone).toBeUndefined();
    }
    // The conventions' non-content attributes stay (Langfuse reads them too).
    expect(a['gen_ai.request.model']).toBe('gpt-4o');
    expect(a['gen_ai.provider.name']).toBe('openai');
  });

  it('sets model, parameters, usage, cost, first-token time and the prompt link', async () => {
    const step = await llmStep();
    const a = attrs(step);
    expect(a['langfuse.observation.model.name']).toBe('gpt-4o-2024-08-06');
    expect(parsed(a['langfuse.observation.model.parameters'])).toEqual({
      temperature: 0.2,
      max_tokens: 100,
      stop_sequences: '["END"]',
    });
    expect(parsed(a['langfuse.observation.usage_details'])).toEqual({
      input: 60,
      output: 25,
      total: 140,
      input_cached_tokens: 30,
      input_cache_creation: 10,
      output_reasoning_tokens: 15,
    });
    expect(parsed(a['langfuse.observation.cost_details'])).toEqual({
      input: 0.001,
      output: 0.002,
      total: 0.003,
    });
    expect(a['langfuse.observation.completion_start_time']).toBe(
      new Date(step.startTime + 250).toISOString(),
    );
    expect(a['langfuse.observation.prompt.name']).toBe('support-answer');
    expect(a['langfuse.observation.prompt.version']).toBe(3);
    expect(a['langfuse.observation.level']).toBe('DEFAULT');
  });

  it('puts metadata and identity in observation metadata, strings as they are', async () => {
    const a = attrs(await llmStep());
    expect(a['langfuse.observation.metadata.route']).toBe('faq');
    expect(a['langfuse.observation.metadata.attempt']).toBe('2');
    expect(parsed(a['langfuse.observation.metadata.identity'])).toEqual({ team: 'blue', key_alias: 'prod' });
    expect(
      Object.keys(a).filter(
        (k) => k.startsWith('spanchain.identity.') || k.startsWith('spanchain.metadata.'),
      ),
    ).toEqual([]);
  });

  it('usage and cost shapes: totals without a split, non-USD cost left out', () => {
    expect(usageDetails({ inputTokens: 10, outputTokens: 5 })).toEqual({ input: 10, output: 5, total: 15 });
    expect(usageDetails({ outputTokens: 5, reasoningTokens: 9 })).toEqual({
      output: 0,
      total: 5,
      output_reasoning_tokens: 9,
    });
    expect(usageDetails({})).toBeUndefined();
    expect(costDetails({ total: 1, currency: 'EUR' })).toBeUndefined();
    expect(costDetails({ total: 0.5, currency: 'usd' })).toEqual({ total: 0.5 });
  });

  it('takes the first-chunk time of a stream and leaves out a prompt version Langfuse cannot link', async () => {
    const steps = await record((t) =>
      t.llm({ name: 'streamed', model: 'm', promptName: 'p', promptVersion: 'v2-beta' }, async (step) => {
        step.update({ timeToFirstTokenMs: 40 });
        return 'x';
      }),
    );
    const step = byName(steps, 'streamed');
    const a = attrs(step);
    expect(a['langfuse.observation.completion_start_time']).toBe(new Date(step.startTime + 40).toISOString());
    expect(a['langfuse.observation.prompt.name']).toBe('p');
    expect(a['langfuse.observation.prompt.version']).toBeUndefined();
  });
});

describe('other kinds', () => {
  it('tool arguments/result, retrieval query/documents, embedding texts, step input/output', async () => {
    const steps = await record(async (t) => {
      await t.tool({ name: 'weather', toolName: 'get_weather', arguments: { city: 'Oslo' } }, async () => ({
        c: 3,
      }));
      await t.retrieval({ name: 'search', query: 'refunds', dataSource: 'kb' }, async (step) => {
        step.update({ documents: [{ id: 'd1', content: 'thirty days', score: 0.9 }] });
        return [];
      });
      await t.embedding(
        { name: 'embed', model: 'text-embedding-3-small', texts: ['a', 'b'] },
        async (step) => {
          step.update({ usage: { inputTokens: 4 } });
          return [[1], [2]];
        },
      );
      await t.chain({ name: 'pipeline', input: { q: 1 } }, async () => ({ a: 2 }));
      await t.agent({ name: 'agent', input: 'go' }, async () => 'done');
    });
    const tool = attrs(byName(steps, 'weather'));
    expect(parsed(tool['langfuse.observation.input'])).toEqual({ city: 'Oslo' });
    expect(parsed(tool['langfuse.observation.output'])).toEqual({ c: 3 });
    expect(tool['gen_ai.tool.call.arguments']).toBeUndefined();
    expect(tool['gen_ai.tool.call.result']).toBeUndefined();
    expect(tool['gen_ai.tool.name']).toBe('get_weather');
    expect(tool['langfuse.observation.model.name']).toBeUndefined();

    const search = attrs(byName(steps, 'search'));
    expect(search['langfuse.observation.input']).toBe('refunds');
    expect(parsed(search['langfuse.observation.output'])).toEqual([
      { id: 'd1', content: 'thirty days', score: 0.9 },
    ]);
    expect(search['gen_ai.retrieval.documents']).toBeUndefined();

    const embed = attrs(byName(steps, 'embed'));
    expect(parsed(embed['langfuse.observation.input'])).toEqual(['a', 'b']);
    expect(embed['langfuse.observation.model.name']).toBe('text-embedding-3-small');
    expect(parsed(embed['langfuse.observation.usage_details'])).toEqual({ input: 4, total: 4 });

    const chain = attrs(byName(steps, 'pipeline'));
    expect(parsed(chain['langfuse.observation.input'])).toEqual({ q: 1 });
    expect(parsed(chain['langfuse.observation.output'])).toEqual({ a: 2 });
    expect(chain['spanchain.input']).toBeUndefined();

    const agent = attrs(byName(steps, 'agent'));
    expect(agent['langfuse.observation.input']).toBe('go');
    expect(agent['langfuse.observation.output']).toBe('done');
  });

  it('never puts a model on a span that is not a generation or embedding', async () => {
    const steps = await record((t) =>
      t.rerank(
        { name: 'rr', model: 'rerank-v3', provider: 'cohere', query: 'q', documents: [{ id: 'a' }] },
        async (step) => {
          step.update({ rerankedDocuments: [{ id: 'a', score: 0.5 }] });
          return 1;
        },
      ),
    );
    const a = attrs(byName(steps, 'rr'));
    expect(a['langfuse.observation.type']).toBe('retriever');
    for (const key of ['gen_ai.request.model', 'gen_ai.response.model', 'langfuse.observation.model.name']) {
      expect(a[key], key).toBeUndefined();
    }
    expect(a['langfuse.observation.metadata.model']).toBe('rerank-v3');
    expect(parsed(a['langfuse.observation.input'])).toEqual({ query: 'q', documents: [{ id: 'a' }] });
    expect(parsed(a['langfuse.observation.output'])).toEqual([{ id: 'a', score: 0.5 }]);
  });

  it('no content attributes when content capture is off', async () => {
    const steps = await record((t) => t.chain({ name: 'c', input: 'secret-ish' }, async () => 'out'));
    const a = attrs(byName(steps, 'c'), { captureContent: false });
    expect(a['langfuse.observation.input']).toBeUndefined();
    expect(a['langfuse.observation.output']).toBeUndefined();
  });
});

describe('levels', () => {
  it('ERROR with the message on failure, WARNING for a guardrail block, DEFAULT otherwise', async () => {
    const steps = await record(async (t) => {
      await t
        .tool('broken', async () => {
          throw new TypeError('boom');
        })
        .catch(() => undefined);
      await t.guardrail({ name: 'pii', decision: 'block', reason: 'email found' }, async () => 'x');
      await t.guardrail({ name: 'ok-check', decision: 'pass' }, async () => 'x');
    });
    const broken = langfuseMapper(byName(steps, 'broken'), ON);
    expect(broken.attributes['langfuse.observation.level']).toBe('ERROR');
    expect(broken.attributes['langfuse.observation.status_message']).toBe('boom');
    expect(broken.status.code).toBe(2);
    const blocked = attrs(byName(steps, 'pii'));
    expect(blocked['langfuse.observation.level']).toBe('WARNING');
    expect(blocked['langfuse.observation.status_message']).toBe('email found');
    expect(attrs(byName(steps, 'ok-check'))['langfuse.observation.level']).toBe('DEFAULT');
  });
});

describe('trace attributes and trace keys', () => {
  const TRACE = {
    name: 'support',
    userId: 'u-1',
    sessionId: 's-1',
    tags: ['beta', 'eu'],
    metadata: { plan: 'pro', seats: 5 },
    input: { question: 'q' },
    output: 'a',
    release: 'r-7',
    version: 'v-2',
    environment: 'Staging',
  };
  const TRACE_ATTRS = [
    'langfuse.trace.name',
    'user.id',
    'session.id',
    'langfuse.trace.tags',
    'langfuse.trace.metadata.plan',
    'langfuse.trace.metadata.seats',
    'langfuse.trace.input',
    'langfuse.trace.output',
    'langfuse.release',
    'langfuse.version',
  ];

  it('a new trace: every trace attribute on every span', async () => {
    const steps = await record((t) =>
      t.chain({ name: 'root', trace: TRACE }, async () =>
        t.llm({ name: 'child', model: 'm' }, async () => 'x'),
      ),
    );
    for (const name of ['root', 'child']) {
      const a = attrs(byName(steps, name));
      expect(a['langfuse.trace.name'], name).toBe('support');
      expect(a['user.id']).toBe('u-1');
      expect(a['session.id']).toBe('s-1');
      expect(a['langfuse.trace.tags']).toEqual(['beta', 'eu']);
      expect(a['langfuse.trace.metadata.plan']).toBe('pro');
      expect(a['langfuse.trace.metadata.seats']).toBe('5');
      expect(parsed(a['langfuse.trace.input'])).toEqual({ question: 'q' });
      expect(a['langfuse.trace.output']).toBe('a');
      expect(a['langfuse.release']).toBe('r-7');
      expect(a['langfuse.version']).toBe('v-2');
      expect(a['langfuse.environment']).toBe('staging');
      expect(Object.keys(a).filter((k) => k.startsWith('spanchain.trace.'))).toEqual([]);
    }
  });

  const EXISTING = 'e112673e31ac6a7e04aafe19715fe451';

  it('joining an existing trace without updateTraceKeys writes no trace field (environment stays)', async () => {
    const steps = await record((t) =>
      t.chain({ name: 'joined', existingTraceId: EXISTING, trace: TRACE }, async () =>
        t.tool({ name: 'inner' }, async () => 1),
      ),
    );
    for (const name of ['joined', 'inner']) {
      const step = byName(steps, name);
      expect(step.traceId).toBe(EXISTING);
      const a = attrs(step);
      for (const key of TRACE_ATTRS) expect(a[key], `${name} ${key}`).toBeUndefined();
      expect(a['gen_ai.conversation.id']).toBeUndefined();
      expect(a['langfuse.environment']).toBe('staging');
    }
    // Joined by id alone, the outer step is not sent as a root: Langfuse would give it the trace.
    const joined = langfuseMapper(byName(steps, 'joined'), ON);
    expect(joined.parentSpanId).toMatch(/^[0-9a-f]{16}$/);
    expect(joined.parentSpanId).toBe(joinedParentId(EXISTING));
    expect(langfuseMapper(byName(steps, 'inner'), ON).parentSpanId).toBeUndefined();
  });

  it('leaves a new trace’s root a root', async () => {
    const [root] = await record((t) => t.chain({ name: 'fresh', trace: TRACE }, async () => 1));
    expect(langfuseMapper(root as Step, ON).parentSpanId).toBeUndefined();
  });

  it("with updateTraceKeys ['input', 'output', 'metadata']: only those", async () => {
    const steps = await record((t) =>
      t.chain(
        {
          name: 'joined',
          existingTraceId: EXISTING,
          trace: TRACE,
          updateTraceKeys: ['input', 'output', 'metadata'],
        },
        async () => 'x',
      ),
    );
    const a = attrs(byName(steps, 'joined'));
    expect(parsed(a['langfuse.trace.input'])).toEqual({ question: 'q' });
    expect(a['langfuse.trace.output']).toBe('a');
    expect(a['langfuse.trace.metadata.plan']).toBe('pro');
    for (const key of [
      'langfuse.trace.name',
      'user.id',
      'session.id',
      'langfuse.trace.tags',
      'langfuse.release',
    ]) {
      expect(a[key], key).toBeUndefined();
    }
  });

  it('a masked trace input that is listed goes out as the marker', async () => {
    const steps = await record(
      (t) =>
        t.chain(
          {
            name: 'joined',
            existingTraceId: EXISTING,
            trace: { input: 'raw secret question', output: 'raw answer' },
            updateTraceKeys: ['input', 'output'],
            maskInput: true,
          },
          async () => 'x',
        ),
      [redact()],
    );
    const step = byName(steps, 'joined');
    expect(step.redacted).toContain('trace.input');
    const a = attrs(step);
    expect(a['langfuse.trace.input']).toBe(REDACTED);
    expect(a['langfuse.observation.input']).toBeUndefined();
    expect(JSON.stringify(a)).not.toContain('raw secret question');
    expect(a['langfuse.trace.output']).toBe('raw answer');
  });

  it('plugin defaults for environment, release and version; invalid trace environments are left out', async () => {
    const seen: string[] = [];
    const options: LangfuseMapOptions = {
      captureContent: true,
      environment: 'production',
      release: 'rel-1',
      version: 'ver-1',
      onInvalidEnvironment: (v) => seen.push(v),
    };
    const steps = await record(async (t) => {
      await t.chain('plain', async () => 1);
      await t.chain({ name: 'bad-env', trace: { environment: 'langfuse-prod' } }, async () => 1);
    });
    const plain = attrs(byName(steps, 'plain'), options);
    expect(plain['langfuse.environment']).toBe('production');
    expect(plain['langfuse.release']).toBe('rel-1');
    expect(plain['langfuse.version']).toBe('ver-1');
    const bad = attrs(byName(steps, 'bad-env'), options);
    expect(bad['langfuse.environment']).toBe('production');
    expect(seen).toEqual(['langfuse-prod']);
  });

  it('the app’s own attributes win', async () => {
    const steps = await record((t) =>
      t.chain(
        { name: 'own', attributes: { 'langfuse.observation.type': 'evaluator', 'user.id': 'me' } },
        async () => 1,
      ),
    );
    const a = attrs(byName(steps, 'own'));
    expect(a['langfuse.observation.type']).toBe('evaluator');
    expect(a['user.id']).toBe('me');
  });
});

describe('normalizeEnvironment', () => {
  it('lowercases and validates as Langfuse does', () => {
    expect(normalizeEnvironment('Production')).toBe('production');
    expect(normalizeEnvironment('dev_eu-1')).toBe('dev_eu-1');
    expect(normalizeEnvironment('')).toBeUndefined();
    expect(normalizeEnvironment('a'.repeat(41))).toBeUndefined();
    expect(normalizeEnvironment('has space')).toBeUndefined();
    expect(normalizeEnvironment('Langfuse-x')).toBeUndefined();
  });
});

/** A list that says it has 2³²−1 items and has none: walking it takes minutes. */
function sparseList(): never {
  const list: unknown[] = [];
  list.length = 2 ** 32 - 1;
  return list as never;
}

/** Mapping time of `step` in ms (mapped once to warm up). */
function mappingTime(step: Step, options: LangfuseMapOptions = ON): number {
  langfuseMapper(step, options);
  const started = performance.now();
  langfuseMapper(step, options);
  return performance.now() - started;
}

const keys = (n: number, prefix: string) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]));

describe('budgets', () => {
  const LIMITS = { maxObjectKeys: 100, maxStringLength: 50, maxArrayLength: 10 };

  it('cuts chat content, tool calls and messages to maxArrayLength before mapping them', async () => {
    const parts = Array.from({ length: 5_000 }, (_, i) => ({ type: 'text', text: `p${i}` }));
    const calls = Array.from({ length: 5_000 }, (_, i) => ({ id: `c${i}`, name: 'f', arguments: {} }));
    const [step] = await record((t) =>
      t.llm(
        {
          name: 'long',
          model: 'm',
          inputMessages: [
            { role: 'user', content: parts as never },
            { role: 'assistant', toolCalls: calls },
          ],
        },
        async () => 'x',
      ),
    );
    const a = attrs(step as Step, { captureContent: true, limits: LIMITS });
    const input = parsed(a['langfuse.observation.input']) as Array<{
      content?: unknown[];
      tool_calls?: unknown[];
    }>;
    // Cut before mapping: real parts and calls only, no serialiser marker item among them.
    expect(input[0]?.content).toHaveLength(10);
    expect(input[0]?.content?.[9]).toEqual({ type: 'text', text: 'p9' });
    expect(input[1]?.tool_calls).toHaveLength(10);
    expect(a['spanchain.truncated']).toEqual(['inputMessages']);
  });

  it('maps lists that say 2³²−1 items and a 1 MiB Buffer as content in bounded time', async () => {
    const steps = await record(async (t) => {
      await t.llm(
        {
          name: 'llm',
          model: 'm',
          systemInstructions: sparseList(),
          inputMessages: [
            { role: 'user', content: sparseList(), toolCalls: sparseList() },
            { role: 'user', content: Buffer.alloc(2 ** 20) as never },
          ],
        },
        async (s) => {
          s.update({ outputMessages: sparseList() });
        },
      );
      await t.llm({ name: 'calls', model: 'm', inputMessages: sparseList() }, async (s) => {
        s.update({ toolCalls: sparseList() });
      });
      await t.prompt({ name: 'p', messages: sparseList() }, async () => 1);
    });
    expect(steps).toHaveLength(3);
    for (const step of steps) expect(mappingTime(step), step.name).toBeLessThan(500);
    const llm = attrs(byName(steps, 'llm'));
    expect(String(llm['langfuse.observation.input'])).toContain('[Buffer 1048576 bytes]');
    expect(llm['spanchain.truncated']).toEqual(['inputMessages', 'outputMessages']);
  });

  it('takes at most maxObjectKeys keys of the app’s records: own attributes, then metadata, then the trace’s', async () => {
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
    const a = attrs(step as Step, { captureContent: false, limits: LIMITS });
    const names = Object.keys(a);
    expect(names.filter((k) => k.startsWith('app.a'))).toHaveLength(60);
    expect(names.filter((k) => k.startsWith('langfuse.observation.metadata.'))).toHaveLength(40);
    expect(names.filter((k) => k.startsWith('langfuse.trace.metadata.'))).toHaveLength(0);
    expect(a['langfuse.observation.metadata.m39']).toBe('39');
    expect(a['spanchain.attributes.dropped']).toBe(5_000 - 40 + 50);
    expect(a['spanchain.truncated']).toEqual(['metadata', 'trace.metadata']);
    expect(names.length).toBeLessThanOrEqual(100 + 15);
  });

  it('cuts metadata values, trace tags and own attribute strings to maxStringLength', async () => {
    const long = 'x'.repeat(10_000);
    const [step] = await record((t) =>
      t.custom(
        {
          name: 'long',
          metadata: { note: long },
          attributes: { 'app.note': long, 'app.list': [long, 'ok'] } as never,
          trace: { tags: [long, 'beta'], metadata: { note: long } },
        },
        async () => 1,
      ),
    );
    const a = attrs(step as Step, { captureContent: false, limits: LIMITS });
    const cut = `${'x'.repeat(50)}…[truncated 9950 chars]`;
    expect(a).toMatchObject({
      'langfuse.observation.metadata.note': cut,
      'langfuse.trace.metadata.note': cut,
      'langfuse.trace.tags': [cut, 'beta'],
      'app.note': cut,
      'app.list': [cut, 'ok'],
    });
    expect(attrs(step as Step)['langfuse.observation.metadata.note']).toBe(long);
  });

  it('sends an own attribute list whose strings pass maxBytes as JSON within the budgets, as @spanchain/otel does', async () => {
    const item = 'y'.repeat(40);
    const [step] = await record((t) =>
      t.custom({ name: 'bytes', attributes: { 'app.list': [item, item, item] } as never }, async () => 1),
    );
    const options = { captureContent: false, limits: { maxBytes: 100 } };
    const value = attrs(step as Step, options)['app.list'];
    expect(typeof value).toBe('string');
    expect(value).toBe(mapStep(step as Step, options).attributes['app.list']);
    // Within maxBytes the list stays a list.
    expect(attrs(step as Step, { captureContent: false })['app.list']).toEqual([item, item, item]);
  });

  it('never walks binary data or arrays given as metadata key by key', async () => {
    const steps = await record(async (t) => {
      await t.custom({ name: 'buffer', metadata: Buffer.alloc(2 ** 20) as never }, async () => 1);
      await t.custom(
        {
          name: 'array',
          metadata: Array.from({ length: 1_000_000 }, (_, i) => i) as never,
          trace: { metadata: new Uint8Array(2 ** 20) as never },
        },
        async () => 1,
      );
    });
    for (const step of steps) {
      expect(mappingTime(step), step.name).toBeLessThan(200);
      const a = attrs(step);
      expect(Object.keys(a).filter((k) => k.includes('.metadata.'))).toEqual([]);
      expect(a['spanchain.truncated']).toEqual(
        step.name === 'array' ? ['metadata', 'trace.metadata'] : ['metadata'],
      );
    }
  });
});
