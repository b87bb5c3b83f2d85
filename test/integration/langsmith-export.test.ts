// @spanchain/langsmith assembled: a real tracer with the plugin, steps of every kind, and what a
// loopback LangSmith (test/support/langsmith-receiver.ts, which validates every run against
// LangSmith's `runs.Run` schema) receives: run types, the tree, LangSmith's message, usage and
// document shapes, hidden inputs/outputs, sampling, per-team keys and projects, replicas, batch
// mode, retries, the memory bound with LangSmith down, keys kept out of every message, joining an
// existing LangSmith trace, and the plugin loaded by name.
import { randomBytes } from 'node:crypto';
import {
  createTracer,
  isTraceSampled,
  type PluginCounters,
  type Step,
  setErrorHandler,
  type Tracer,
} from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { type LangSmithPluginOptions, langsmith } from '@spanchain/langsmith';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type LangSmithReceiver,
  type LangSmithRequest,
  startLangSmithReceiver,
} from '../support/langsmith-receiver.js';
import { dottedOrderProblems, validateRun } from '../support/langsmith-schema.js';
import { closedPort, getGc, heapUsed } from '../support/memory.js';

const KEY = 'lsv2_pt_export00000000000000000000000000_c0ffee1234';
const TEAM_KEYS: Record<string, string> = {
  red: 'lsv2_pt_red000000000000000000000000000000_aaaaaaaaaa',
  blue: 'lsv2_pt_blue00000000000000000000000000000_bbbbbbbbbb',
};
/** A user's own provider key, given as `identity.apiKey`: only its hash may leave the process. */
const USER_KEY = 'sk-user-identity-0123456789abcdef';

/** A run as it arrived (JSON). */
interface WireRun {
  id: string;
  trace_id: string;
  dotted_order: string;
  parent_run_id?: string;
  name: string;
  run_type: string;
  start_time: string;
  end_time?: string;
  inputs: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  error?: string;
  extra?: { metadata?: Record<string, unknown>; [key: string]: unknown };
  events?: { name: string; time: string; kwargs?: unknown }[];
  tags?: string[];
  session_name?: string;
}

let receiver: LangSmithReceiver;
const receivers: LangSmithReceiver[] = [];
const tracers: Tracer[] = [];

beforeEach(async () => {
  receiver = await startLangSmithReceiver();
  receivers.push(receiver);
});
afterEach(async () => {
  await Promise.allSettled(tracers.splice(0).map((t) => t.shutdown({ timeoutMs: 2000 })));
  await Promise.allSettled(receivers.splice(0).map((r) => r.close()));
  setErrorHandler();
  vi.restoreAllMocks();
});

function start(
  options: LangSmithPluginOptions = {},
  env: NodeJS.ProcessEnv = {},
  keepSteps = true,
): { tracer: Tracer; memory: MemoryPlugin } {
  const memory = new MemoryPlugin();
  const plugin = langsmith(
    { endpoint: receiver.url, apiKey: KEY, project: 'export', flushIntervalMillis: 10, ...options },
    env,
  );
  const tracer = createTracer({ flushOnExit: false, plugins: keepSteps ? [plugin, memory] : [plugin] });
  tracers.push(tracer);
  return { tracer, memory };
}

const runsOf = (r: LangSmithReceiver = receiver): WireRun[] => r.runs() as unknown as WireRun[];
const postsOf = (request: LangSmithRequest): WireRun[] => request.posts as unknown as WireRun[];
const byName = (runs: WireRun[]): Map<string, WireRun> => new Map(runs.map((r) => [r.name, r]));
const one = (runs: WireRun[], name: string): WireRun => {
  const found = runs.filter((r) => r.name === name);
  if (found.length !== 1) throw new Error(`expected one run named ${name}, found ${found.length}`);
  return found[0]!;
};
const pluginStats = (tracer: Tracer): PluginCounters & { received: number } => {
  const stats = tracer.stats().plugins.find((p) => p.name === 'langsmith');
  if (!stats) throw new Error('no langsmith plugin in tracer.stats()');
  return stats as PluginCounters & { received: number };
};
const sum = (record: Record<string, number>): number => Object.values(record).reduce((a, b) => a + b, 0);

/** A W3C trace id as a UUID, written out here rather than taken from the package. */
const uuidOfTrace = (hex: string): string =>
  `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
const uuidOfSpan = (hex: string): string => uuidOfTrace(`0000000000000000${hex}`);

/**
 * The invariants every received run set must keep: valid against `runs.Run`, dotted order
 * consistent with id/trace/parent, every parent present, a child's dotted order its parent's plus
 * one segment whose time is the run's start time, one root per trace whose id is the trace id.
 */
function expectWellFormedTree(runs: WireRun[]): void {
  expect(runs.length).toBeGreaterThan(0);
  const ids = new Map(runs.map((r) => [r.id, r]));
  expect(ids.size, 'run ids are unique').toBe(runs.length);
  for (const run of runs) {
    expect(validateRun(run), run.name).toEqual([]);
    expect(dottedOrderProblems(run), run.name).toEqual([]);
    const own = run.dotted_order.split('.').at(-1)!;
    expect(own.slice(0, 22), `${run.name}: segment time = start_time`).toBe(
      run.start_time.replace(/[-:.]/g, ''),
    );
    if (run.parent_run_id === undefined) {
      expect(run.id, `${run.name} is a root`).toBe(run.trace_id);
      continue;
    }
    const parent = ids.get(run.parent_run_id);
    expect(parent, `${run.name}'s parent arrived`).toBeDefined();
    expect(run.trace_id).toBe(parent!.trace_id);
    expect(run.dotted_order).toBe(`${parent!.dotted_order}.${own}`);
  }
}

/** One pipeline with a step of every kind; returns nothing, the runs are what matters. */
async function everyKind(tracer: Tracer): Promise<void> {
  await tracer.agent(
    {
      name: 'support-agent',
      agentName: 'support',
      input: 'Where is my refund?',
      tags: ['agent-tag'],
      trace: {
        userId: 'user-42',
        sessionId: 'thread-9',
        tags: ['beta'],
        metadata: { tenant: 'acme' },
      },
      identity: { team: 'search', keyAlias: 'prod-key', apiKey: USER_KEY },
    },
    async () => {
      await tracer.guardrail({ name: 'pii-check', guardrailName: 'pii', decision: 'pass' }, async () => true);
      await tracer.retrieval({ name: 'kb-search', query: 'refund', dataSource: 'kb', topK: 2 }, async (s) => {
        await tracer.embedding(
          { name: 'embed-query', model: 'text-embedding-3-small', texts: ['refund'] },
          () => [[0.1, 0.2, 0.3]],
        );
        s.update({
          documents: [
            { id: 'd1', content: 'Refunds take 5 days.', score: 0.9, metadata: { source: 'faq' } },
            { id: 'd2', content: 'Shipping is free.', score: 0.4 },
          ],
        });
      });
      await tracer.rerank({ name: 'rerank', model: 'rerank-v3', query: 'refund', topN: 1 }, async (s) => {
        s.update({
          documents: [{ id: 'd1', content: 'Refunds take 5 days.' }],
          rerankedDocuments: [{ id: 'd1', content: 'Refunds take 5 days.', score: 0.97 }],
        });
      });
      await tracer.prompt(
        { name: 'qa-prompt', templateName: 'qa', templateVersion: '3', variables: { question: 'refund?' } },
        async (s) => {
          s.update({ messages: [{ role: 'user', content: 'Q: refund?' }] });
        },
      );
      await tracer.llm(
        {
          name: 'chat',
          provider: 'openai',
          model: 'gpt-4o',
          params: { temperature: 0.1, maxTokens: 256, stopSequences: ['END'] },
          systemInstructions: 'Be brief.',
          inputMessages: [{ role: 'user', content: 'Q: refund?' }],
          tools: [{ name: 'order_status', description: 'Order status', parameters: { type: 'object' } }],
        },
        async (s) => {
          s.update({
            responseModel: 'gpt-4o-2024-08-06',
            outputMessages: [
              {
                role: 'assistant',
                content: '',
                toolCalls: [{ id: 'call-1', name: 'order_status', arguments: { order: 7 } }],
              },
            ],
            finishReasons: ['tool_calls'],
            usage: {
              inputTokens: 120,
              outputTokens: 30,
              totalTokens: 150,
              cachedInputTokens: 20,
              reasoningTokens: 8,
            },
            cost: { input: 0.0003, output: 0.0003, total: 0.0006, currency: 'USD' },
          });
        },
      );
      await tracer.tool(
        { name: 'order_status', toolName: 'order_status', toolCallId: 'call-1', arguments: '{"order":7}' },
        async () => ({ status: 'shipped' }),
      );
      const stream = tracer.llm(
        { name: 'answer-stream', provider: 'openai', model: 'gpt-4o-mini' },
        async function* () {
          await new Promise((r) => setTimeout(r, 5));
          yield 'Refunds ';
          await new Promise((r) => setTimeout(r, 5));
          yield 'take 5 days.';
        },
      );
      for await (const _ of stream) {
        // consume the stream: the step ends when the consumer finishes
      }
      await tracer.chain({ name: 'parse', metadata: { 'langchain.run_type': 'parser' } }, () => ({
        ok: true,
      }));
      await tracer.chain({ name: 'typed', metadata: { ls_run_type: 'tool' } }, () => 'typed');
      await tracer.custom({ name: 'custom-step', input: [1, 2, 3] }, () => 'custom');
      await tracer
        .tool({ name: 'failing-tool', toolName: 'explode' }, async () => {
          throw new RangeError('index out of range');
        })
        .catch(() => undefined);
      return 'Refunds take 5 days.';
    },
  );
}

describe('a pipeline of every kind through a real tracer', () => {
  let runs: WireRun[];
  let steps: Step[];
  let tracer: Tracer;

  beforeEach(async () => {
    const started = start();
    tracer = started.tracer;
    await everyKind(tracer);
    expect((await tracer.flush({ timeoutMs: 5000 })).timedOut).toBe(false);
    runs = runsOf();
    steps = started.memory.steps;
  });

  it('arrives whole and valid: one run per step, every request accepted', () => {
    expect(receiver.problems()).toEqual([]);
    expect(receiver.requests.every((r) => r.outcome?.kind === 'accepted')).toBe(true);
    expect(receiver.requests.every((r) => r.endpoint === 'multipart' && r.contentEncoding === 'gzip')).toBe(
      true,
    );
    expect(receiver.requests.every((r) => r.apiKey === KEY)).toBe(true);
    expect(runs).toHaveLength(steps.length);
    expect(runs).toHaveLength(13);
    expectWellFormedTree(runs);
    expect(runs.every((r) => r.session_name === 'export')).toBe(true);
    expect(pluginStats(tracer)).toMatchObject({ received: 13, exported: 13, queued: 0, dropped: {} });
  });

  it('gives each kind its LangSmith run type', () => {
    const types = Object.fromEntries(runs.map((r) => [r.name, r.run_type]));
    expect(types).toEqual({
      'support-agent': 'chain',
      'pii-check': 'chain',
      'kb-search': 'retriever',
      'embed-query': 'embedding',
      rerank: 'retriever',
      'qa-prompt': 'prompt',
      chat: 'llm',
      order_status: 'tool',
      'answer-stream': 'llm',
      parse: 'parser',
      typed: 'tool',
      'custom-step': 'chain',
      'failing-tool': 'tool',
    });
    const named = byName(runs);
    expect(named.get('support-agent')?.extra?.metadata).toMatchObject({
      spanchain_kind: 'agent',
      ls_agent_type: 'root',
    });
    expect(named.get('pii-check')?.extra?.metadata).toMatchObject({
      spanchain_kind: 'guardrail',
      guardrail_decision: 'pass',
    });
  });

  it('builds the tree from the W3C ids: root = trace id as UUID, others = span id as UUID', () => {
    const traceIds = new Set(steps.map((s) => s.traceId));
    expect(traceIds.size).toBe(1);
    const traceId = [...traceIds][0]!;
    const root = one(runs, 'support-agent');
    expect(root.id).toBe(uuidOfTrace(traceId));
    expect(root.parent_run_id).toBeUndefined();
    expect(runs.every((r) => r.trace_id === root.id)).toBe(true);
    for (const step of steps) {
      const run = one(runs, step.name);
      if (step.parentStepId === undefined) continue;
      expect(run.id, step.name).toBe(uuidOfSpan(step.spanId));
      const parent = steps.find((s) => s.spanId === step.parentStepId)!;
      expect(run.parent_run_id, step.name).toBe(one(runs, parent.name).id);
    }
    expect(one(runs, 'embed-query').parent_run_id).toBe(one(runs, 'kb-search').id);
    expect(one(runs, 'embed-query').dotted_order.split('.')).toHaveLength(3);
    // The dotted order sorts siblings in the order they started (LangSmith orders the tree by it).
    const children = runs.filter((r) => r.parent_run_id === root.id);
    const byDotted = [...children]
      .sort((a, b) => (a.dotted_order < b.dotted_order ? -1 : 1))
      .map((r) => r.name);
    const byStart = steps
      .filter((s) => s.parentStepId === steps.find((p) => p.name === 'support-agent')!.spanId)
      .sort((a, b) => a.startTime - b.startTime)
      .map((s) => s.name);
    expect(byDotted).toEqual(byStart);
  });

  it('sends the LLM run in LangSmith’s chat shape, with usage_metadata and the ls_* metadata', () => {
    const chat = one(runs, 'chat');
    expect(chat.inputs).toEqual({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Q: refund?' },
      ],
      tools: [
        {
          type: 'function',
          function: { name: 'order_status', description: 'Order status', parameters: { type: 'object' } },
        },
      ],
    });
    const choice = (chat.outputs!.choices as Record<string, unknown>[])[0]!;
    expect(choice).toMatchObject({ index: 0, finish_reason: 'tool_calls' });
    expect(choice.message).toMatchObject({
      role: 'assistant',
      tool_calls: [{ id: 'call-1', type: 'function', function: { name: 'order_status' } }],
    });
    const call = (choice.message as { tool_calls: { function: { arguments: string } }[] }).tool_calls[0]!;
    expect(JSON.parse(call.function.arguments)).toEqual({ order: 7 });
    const usage = chat.outputs?.usage_metadata as Record<string, unknown>;
    expect(usage).toEqual({
      input_tokens: 120,
      output_tokens: 30,
      total_tokens: 150,
      input_token_details: { cache_read: 20 },
      output_token_details: { reasoning: 8 },
      input_cost: 0.0003,
      output_cost: 0.0003,
      total_cost: 0.0006,
    });
    const allowed = [
      'input_tokens',
      'output_tokens',
      'total_tokens',
      'input_token_details',
      'output_token_details',
      'input_cost',
      'output_cost',
      'total_cost',
      'input_cost_details',
      'output_cost_details',
    ];
    for (const key of Object.keys(usage)) expect(allowed).toContain(key);
    expect(chat.extra?.metadata).toMatchObject({
      ls_provider: 'openai',
      ls_model_name: 'gpt-4o-2024-08-06',
      ls_model_type: 'chat',
      ls_temperature: 0.1,
      ls_max_tokens: 256,
      ls_stop: ['END'],
    });
    expect(chat.extra?.invocation_params).toMatchObject({
      model: 'gpt-4o',
      temperature: 0.1,
      max_tokens: 256,
    });
  });

  it('sends documents in the retriever shape and keeps vectors out of embedding runs', () => {
    const search = one(runs, 'kb-search');
    expect(search.inputs).toEqual({ query: 'refund' });
    expect(search.outputs).toEqual({
      documents: [
        {
          page_content: 'Refunds take 5 days.',
          type: 'Document',
          metadata: { source: 'faq', id: 'd1', score: 0.9 },
        },
        { page_content: 'Shipping is free.', type: 'Document', metadata: { id: 'd2', score: 0.4 } },
      ],
    });
    expect(search.extra?.metadata).toMatchObject({ ls_retriever_name: 'kb', top_k: 2 });
    const rerank = one(runs, 'rerank');
    expect(rerank.outputs).toEqual({
      documents: [
        { page_content: 'Refunds take 5 days.', type: 'Document', metadata: { id: 'd1', score: 0.97 } },
      ],
    });
    const embed = one(runs, 'embed-query');
    expect(embed.inputs).toEqual({ input: ['refund'] });
    expect(embed.outputs).toEqual({ dimensions: 3, count: 1 });
  });

  it('sends tool arguments and results as objects, prompts as variables and rendered messages', () => {
    // The model's JSON text of the arguments is shown as the object it encodes.
    expect(one(runs, 'order_status').inputs).toEqual({ order: 7 });
    expect(one(runs, 'order_status').outputs).toEqual({ status: 'shipped' });
    expect(one(runs, 'order_status').extra?.metadata).toMatchObject({
      tool_name: 'order_status',
      tool_call_id: 'call-1',
    });
    const prompt = one(runs, 'qa-prompt');
    expect(prompt.inputs).toEqual({ question: 'refund?' });
    expect(prompt.outputs).toEqual({ messages: [{ role: 'user', content: 'Q: refund?' }] });
    expect(prompt.extra?.metadata).toMatchObject({
      prompt_template_name: 'qa',
      prompt_template_version: '3',
    });
    // Non-object values are wrapped, as LangSmith's SDK wraps them.
    expect(one(runs, 'custom-step').inputs).toEqual({ input: [1, 2, 3] });
    expect(one(runs, 'custom-step').outputs).toEqual({ output: 'custom' });
  });

  it('marks the streamed LLM run with a new_token event at its first token', () => {
    const streamed = one(runs, 'answer-stream');
    const tokens = (streamed.events ?? []).filter((e) => e.name === 'new_token');
    expect(tokens).toHaveLength(1);
    const at = Date.parse(tokens[0]!.time);
    // Millisecond event times against microsecond run times: compare at millisecond resolution.
    expect(at).toBeGreaterThanOrEqual(Math.floor(Date.parse(streamed.start_time)));
    expect(at).toBeLessThanOrEqual(Date.parse(streamed.end_time!));
    expect(at).toBeGreaterThan(Date.parse(streamed.start_time) + 3); // after the first 5 ms wait
    expect(streamed.outputs).toMatchObject({
      choices: [{ message: { role: 'assistant', content: 'Refunds take 5 days.' } }],
    });
    expect(one(runs, 'chat').events?.some((e) => e.name === 'new_token') ?? false).toBe(false);
  });

  it('puts a failed step’s error on its run, and only there', () => {
    const failed = one(runs, 'failing-tool');
    expect(failed.error).toMatch(/^RangeError: index out of range\n\s+at /);
    expect(runs.filter((r) => r.error !== undefined).map((r) => r.name)).toEqual(['failing-tool']);
  });

  it('carries tags, trace metadata, thread and user, and identity (never the key) on every run', () => {
    for (const run of runs) {
      expect(run.tags, run.name).toEqual(expect.arrayContaining(['beta']));
      expect(run.extra?.metadata, run.name).toMatchObject({
        tenant: 'acme',
        thread_id: 'thread-9',
        user_id: 'user-42',
        team: 'search',
        key_alias: 'prod-key',
      });
      expect(String(run.extra?.metadata?.key_hash), run.name).toMatch(/^sha256:[0-9a-f]{16,}$/);
    }
    expect(one(runs, 'support-agent').tags).toEqual(expect.arrayContaining(['agent-tag', 'beta']));
    expect(one(runs, 'chat').tags).not.toContain('agent-tag');
    expect(one(runs, 'support-agent').inputs).toEqual({ input: 'Where is my refund?' });
    expect(one(runs, 'support-agent').outputs).toEqual({ output: 'Refunds take 5 days.' });
    for (const request of receiver.requests) {
      expect(request.body.includes(USER_KEY)).toBe(false);
      expect(request.body.includes(KEY)).toBe(false);
    }
  });
});

describe('hidden inputs and outputs', () => {
  const cases: [string, LangSmithPluginOptions, NodeJS.ProcessEnv][] = [
    ['options', { hideInputs: true, hideOutputs: true }, {}],
    [
      'LANGSMITH_HIDE_* through the env argument',
      {},
      { LANGSMITH_HIDE_INPUTS: 'true', LANGSMITH_HIDE_OUTPUTS: '1' },
    ],
    [
      'the legacy LANGCHAIN_HIDE_* names',
      {},
      { LANGCHAIN_HIDE_INPUTS: 'true', LANGCHAIN_HIDE_OUTPUTS: 'true' },
    ],
  ];
  for (const [label, options, env] of cases) {
    it(`sends every run with {} inputs and outputs (${label}); usage moves to metadata`, async () => {
      const { tracer } = start(options, env);
      await everyKind(tracer);
      await tracer.flush({ timeoutMs: 5000 });
      const runs = runsOf();
      expect(runs).toHaveLength(13);
      expectWellFormedTree(runs);
      for (const run of runs) {
        expect(run.inputs, run.name).toEqual({});
        if (run.outputs !== undefined) expect(run.outputs, run.name).toEqual({});
      }
      expect(one(runs, 'chat').extra?.metadata?.usage_metadata).toMatchObject({
        input_tokens: 120,
        output_tokens: 30,
        total_tokens: 150,
      });
      // The content is nowhere in what was sent; the error (not an input or output) still is.
      for (const request of receiver.requests) {
        for (const secret of ['Where is my refund?', 'Refunds take 5 days.', 'Q: refund?', 'Be brief.'])
          expect(request.body.includes(secret), secret).toBe(false);
      }
      expect(one(runs, 'failing-tool').error).toMatch(/^RangeError/);
    });
  }

  it('hides one side only when asked for one side', async () => {
    const { tracer } = start({}, { LANGSMITH_HIDE_INPUTS: 'true' });
    await tracer.chain({ name: 'half', input: 'secret question' }, () => 'visible answer');
    await tracer.flush({ timeoutMs: 5000 });
    const run = one(runsOf(), 'half');
    expect(run.inputs).toEqual({});
    expect(run.outputs).toEqual({ output: 'visible answer' });
  });
});

describe('sampling', () => {
  it('samplingRate 0.5 over 200 traces: about half are sent, each kept trace whole, the rest counted', async () => {
    const { tracer, memory } = start({ samplingRate: 0.5, maxBatchRuns: 100 });
    for (let i = 0; i < 200; i++) {
      await tracer.chain({ name: `root-${i}` }, async () => {
        await tracer.llm({ name: `llm-${i}`, model: 'm' }, async () => 'x');
        await tracer.tool({ name: `tool-${i}` }, async () => 'y');
      });
    }
    expect((await tracer.flush({ timeoutMs: 5000 })).timedOut).toBe(false);
    const runs = runsOf();
    expectWellFormedTree(runs);
    const byTrace = new Map<string, WireRun[]>();
    for (const run of runs) byTrace.set(run.trace_id, [...(byTrace.get(run.trace_id) ?? []), run]);
    const kept = byTrace.size;
    // 200 fair coin flips: 60…140 is more than five standard deviations either side.
    expect(kept).toBeGreaterThanOrEqual(60);
    expect(kept).toBeLessThanOrEqual(140);
    for (const [, group] of byTrace) {
      expect(group).toHaveLength(3);
      const i = group.find((r) => r.parent_run_id === undefined)!.name.slice('root-'.length);
      expect(group.map((r) => r.name).sort()).toEqual([`llm-${i}`, `root-${i}`, `tool-${i}`]);
    }
    // The decision is the core's per-trace-id one, so other plugins and processes agree with it.
    const traceIds = new Set(memory.steps.map((s) => s.traceId));
    expect(traceIds.size).toBe(200);
    const expected = new Set([...traceIds].filter((t) => isTraceSampled(t, 0.5)).map(uuidOfTrace));
    expect(new Set(byTrace.keys())).toEqual(expected);
    const stats = pluginStats(tracer);
    expect(stats.received).toBe(600);
    expect(stats.exported).toBe(kept * 3);
    expect(stats.dropped['sampled-out']).toBe((200 - kept) * 3);
  });

  it('samplingRate 0 sends nothing and counts everything', async () => {
    const { tracer } = start({ samplingRate: 0 });
    for (let i = 0; i < 5; i++) await tracer.chain(`r${i}`, () => tracer.llm({ model: 'm' }, () => 'x'));
    await tracer.flush({ timeoutMs: 2000 });
    expect(receiver.requests).toHaveLength(0);
    expect(pluginStats(tracer).dropped['sampled-out']).toBe(10);
  });
});

describe('destinations', () => {
  it('per-team keys and projects: each request carries one key’s runs, in that team’s project', async () => {
    const reports: string[] = [];
    setErrorHandler((r) => reports.push(`${r.source}: ${r.message}`));
    const { tracer } = start({
      apiKey: (step) => TEAM_KEYS[step.identity?.team ?? ''],
      project: (step) => `support-${step.identity?.team ?? 'shared'}`,
      maxBatchRuns: 7,
    });
    const teams = ['red', 'blue', 'red', 'blue', 'red', 'green'];
    await Promise.all(
      teams.map((team, i) =>
        tracer.chain({ name: `${team}-${i}`, identity: { team } }, async () => {
          await tracer.llm({ name: `${team}-${i}-llm`, model: 'm' }, async () => 'x');
          await tracer.tool({ name: `${team}-${i}-tool` }, async () => 'y');
        }),
      ),
    );
    await tracer.flush({ timeoutMs: 5000 });
    expect(receiver.problems()).toEqual([]);
    const projectOfKey = new Map([
      [TEAM_KEYS.red!, 'support-red'],
      [TEAM_KEYS.blue!, 'support-blue'],
    ]);
    expect(receiver.requests.length).toBeGreaterThanOrEqual(2);
    for (const request of receiver.requests) {
      const project = projectOfKey.get(request.apiKey);
      expect(project, 'a known key').toBeDefined();
      const runs = postsOf(request);
      expect(new Set(runs.map((r) => r.session_name))).toEqual(new Set([project]));
      const team = project!.slice('support-'.length);
      for (const run of runs) expect(run.name.startsWith(`${team}-`), run.name).toBe(true);
      expect(request.body.includes(TEAM_KEYS.red!) || request.body.includes(TEAM_KEYS.blue!)).toBe(false);
    }
    const runs = runsOf();
    expect(runs.filter((r) => r.name.startsWith('red-'))).toHaveLength(9);
    expect(runs.filter((r) => r.name.startsWith('blue-'))).toHaveLength(6);
    expect(runs.filter((r) => r.name.startsWith('green-'))).toHaveLength(0);
    expectWellFormedTree(runs);
    // The team without a key: dropped, counted and reported, without any key in the report.
    expect(pluginStats(tracer).dropped['target-error']).toBe(3);
    expect(reports.some((r) => r.includes('apiKey'))).toBe(true);
    for (const report of reports)
      for (const key of Object.values(TEAM_KEYS)) expect(report).not.toContain(key);
  });

  it('replicas: the same runs arrive in the primary project and in every replica', async () => {
    const second = await startLangSmithReceiver();
    receivers.push(second);
    const { tracer } = start({
      replicas: [{ project: 'audit' }, { project: 'mirror', endpoint: second.url, apiKey: TEAM_KEYS.blue! }],
    });
    await tracer.chain('replicated', async () => {
      await tracer.llm({ name: 'replicated-llm', model: 'm' }, async () => 'x');
    });
    await tracer.flush({ timeoutMs: 5000 });
    const idsIn = (r: LangSmithReceiver, project: string, key: string) =>
      r.requests
        .filter((q) => q.apiKey === key && q.outcome?.kind === 'accepted')
        .flatMap(postsOf)
        .filter((run) => run.session_name === project)
        .map((run) => run.id)
        .sort();
    const primary = idsIn(receiver, 'export', KEY);
    expect(primary).toHaveLength(2);
    expect(idsIn(receiver, 'audit', KEY)).toEqual(primary);
    expect(idsIn(second, 'mirror', TEAM_KEYS.blue!)).toEqual(primary);
    // One project per request, never mixed.
    for (const request of [...receiver.requests, ...second.requests])
      expect(new Set(postsOf(request).map((r) => r.session_name)).size).toBe(1);
    expectWellFormedTree(runsOf(second));
    // Each step counted once, by its primary run; the replicas' runs apart.
    expect(pluginStats(tracer)).toMatchObject({ received: 2, exported: 2, queued: 0, dropped: {} });
    expect(tracer.plugins()[0]!.stats?.()).toMatchObject({
      replicas: { exported: 4, queued: 0, dropped: {}, failed: 0 },
    });
  });

  it('replicas: one that refuses costs the primary nothing, and the counts still add up per step', async () => {
    const refusing = await startLangSmithReceiver({ respondWith: () => ({ status: 400, body: 'no' }) });
    receivers.push(refusing);
    const { tracer } = start({ replicas: [{ project: 'mirror', endpoint: refusing.url }] });
    await tracer.chain('replicated', async () => {
      await tracer.llm({ name: 'replicated-llm', model: 'm' }, async () => 'x');
    });
    await tracer.flush({ timeoutMs: 5000 });
    const stats = pluginStats(tracer);
    expect(stats).toMatchObject({ received: 2, exported: 2, queued: 0, dropped: {} });
    expect(stats.received).toBe(stats.exported + stats.queued + sum(stats.dropped));
    expect(tracer.plugins()[0]!.stats?.()).toMatchObject({
      replicas: { exported: 0, queued: 0, dropped: { 'http-400': 2 } },
    });
  });

  it("mode 'batch': one JSON body to /runs/batch, uncompressed, the same valid tree", async () => {
    const { tracer } = start({ mode: 'batch' });
    await everyKind(tracer);
    await tracer.flush({ timeoutMs: 5000 });
    expect(receiver.problems()).toEqual([]);
    expect(receiver.requests.length).toBeGreaterThan(0);
    for (const request of receiver.requests) {
      expect(request.endpoint).toBe('batch');
      expect(request.path).toBe('/runs/batch');
      expect(request.contentType).toBe('application/json');
      expect(request.contentEncoding).toBe('');
      expect(request.patches).toEqual([]);
    }
    const runs = runsOf();
    expect(runs).toHaveLength(13);
    expectWellFormedTree(runs);
    expect(one(runs, 'chat').outputs?.usage_metadata).toMatchObject({ total_tokens: 150 });
  });
});

describe('delivery', () => {
  it('429 with Retry-After: 1, then 202: everything is delivered after the wait', async () => {
    let calls = 0;
    receiver.respondWith(() => (++calls === 1 ? { status: 429, retryAfter: 1 } : { status: 'ok' }));
    const { tracer } = start();
    await tracer.chain('retried', async () => {
      await tracer.llm({ name: 'retried-llm', model: 'm' }, async () => 'x');
      await tracer.tool({ name: 'retried-tool' }, async () => 'y');
    });
    const report = await tracer.flush({ timeoutMs: 5000 });
    expect(report.timedOut).toBe(false);
    const [first, second] = receiver.requests;
    expect(first?.outcome).toEqual({ kind: 'rejected', status: 429 });
    expect(second?.outcome).toEqual({ kind: 'accepted', status: 202 });
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(950);
    expect(
      runsOf()
        .map((r) => r.name)
        .sort(),
    ).toEqual(['retried', 'retried-llm', 'retried-tool']);
    expectWellFormedTree(runsOf());
    expect(pluginStats(tracer)).toMatchObject({ received: 3, exported: 3, queued: 0, dropped: {} });
    expect(pluginStats(tracer).failed).toBeGreaterThanOrEqual(1);
  });
});

// --- memory ---------------------------------------------------------------------------------------

const MiB = 1024 * 1024;

describe('memory stays bounded with LangSmith down', () => {
  for (const sink of ['blackhole', 'refused'] as const) {
    it(`${sink}: 5k pipelines × 5 steps of ~1 KiB, small budgets, drops counted, heap bounded`, async () => {
      const gc = getGc();
      let endpoint = receiver.url;
      if (sink === 'blackhole') receiver.respondWith(() => ({ blackhole: true }));
      else endpoint = `http://127.0.0.1:${await closedPort()}`;
      setErrorHandler(() => undefined); // the drops are reported; this test counts them instead
      const maxQueueRuns = 1000;
      const { tracer } = start(
        {
          endpoint,
          maxQueueRuns,
          maxBufferBytes: 512 * 1024,
          maxBatchRuns: 50,
          timeoutMillis: 200,
          maxRetries: 1,
          flushIntervalMillis: 20,
        },
        {},
        false, // no MemoryPlugin: it would keep every step
      );
      const baseline = await heapUsed(gc);
      const began = Date.now();
      const pipelines = 5000;
      for (let i = 0; i < pipelines; i++) {
        // Random text: neither gzip nor string interning can shrink it.
        const content = () => randomBytes(768).toString('base64');
        await tracer.chain({ name: 'pipeline', input: content() }, async () => {
          await tracer.retrieval({ name: 'search', query: content() }, () => []);
          await tracer.prompt({ name: 'prompt', variables: { q: content() } }, () => 'p');
          await tracer.llm(
            { name: 'llm', model: 'm', inputMessages: [{ role: 'user', content: content() }] },
            () => content(),
          );
          await tracer.tool({ name: 'tool', arguments: { q: content() } }, () => 'ok');
        });
        if (i % 500 === 499) await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 300));
      const during = pluginStats(tracer);
      // The in-process receiver keeps every request it saw: let go of them, so the heap measured
      // is the tracer's and the plugin's.
      const seen = receiver.requests.length;
      if (sink === 'blackhole') expect(seen).toBeGreaterThan(0);
      receiver.clear();
      const grown = (await heapUsed(gc)) - baseline;
      expect(during.received).toBe(pipelines * 5);
      expect(during.exported).toBe(0);
      expect(sum(during.dropped)).toBeGreaterThan(0);
      expect(during.queued).toBeLessThanOrEqual(maxQueueRuns + 2 * 50);
      // 25k steps of ~5 KiB content each would be >100 MiB if kept; the budgets allow a few MiB.
      expect(grown).toBeLessThan(48 * MiB);
      const shutdownStarted = Date.now();
      await tracer.shutdown({ timeoutMs: 1000 });
      expect(Date.now() - shutdownStarted).toBeLessThan(2500);
      // The plugin may still be stopping when the tracer's deadline returns (see the test of
      // shutdown's deadline below): wait, bounded, for its counts to be final.
      const until = Date.now() + 2000;
      while (pluginStats(tracer).queued > 0 && Date.now() < until)
        await new Promise((r) => setTimeout(r, 20));
      const after = pluginStats(tracer);
      expect(after.queued).toBe(0);
      expect(after.exported).toBe(0);
      expect(after.exported + after.queued + sum(after.dropped)).toBe(pipelines * 5);
      expect(Date.now() - began).toBeLessThan(20_000);
      console.log(
        `[langsmith-export] ${sink}: ${seen} request(s) seen, dropped ${JSON.stringify(after.dropped)}, heap +${(grown / MiB).toFixed(1)} MiB` +
          `${gc ? ' after gc' : ' (no gc)'}, ${Date.now() - began} ms`,
      );
    });
  }
});

describe('shutdown with LangSmith not answering', () => {
  it('settles within the tracer’s deadline, with final counts', async () => {
    receiver.respondWith(() => ({ blackhole: true }));
    const warnings: string[] = [];
    setErrorHandler((r) => warnings.push(`${r.source}: ${r.message}`));
    const { tracer } = start({ timeoutMillis: 10_000 });
    await tracer.chain('unanswered', () => tracer.llm({ model: 'm' }, async () => 'x'));
    await receiver.waitFor((r) => r.requests.length > 0, 3000); // the request is in flight
    const began = Date.now();
    const report = await tracer.shutdown({ timeoutMs: 500 });
    expect(Date.now() - began).toBeLessThan(1000);
    // What is not delivered by the deadline is dropped by then: the plugin must not overrun it.
    expect(report.plugins.langsmith).toMatchObject({ timedOut: false, ok: false });
    expect(report.plugins.langsmith?.error).toContain('dropped');
    expect(report.ok).toBe(false);
    expect(warnings.filter((w) => w.includes('did not settle'))).toEqual([]);
    expect(pluginStats(tracer)).toMatchObject({ queued: 0, exported: 0, dropped: { shutdown: 2 } });
  });

  it('reports a flush that reached its deadline with runs still held as not ok', async () => {
    receiver.respondWith(() => ({ blackhole: true }));
    setErrorHandler(() => undefined);
    const { tracer } = start({ timeoutMillis: 10_000 });
    await tracer.chain('unanswered', () => tracer.llm({ model: 'm' }, async () => 'x'));
    const report = await tracer.flush({ timeoutMs: 300 });
    // Still held: the report must not call the flush done.
    expect(pluginStats(tracer).queued).toBe(2);
    expect(report.ok).toBe(false);
    expect(report.plugins.langsmith?.ok).toBe(false);
    // Either the tracer's deadline timer or the plugin's own answer comes first: both say not done.
    const outcome = report.plugins.langsmith;
    if (!outcome?.timedOut) expect(outcome?.error).toMatch(/2 runs queued and 1 requests in flight/);
    // The plugin's own hook, alone: it rejects, saying what it still holds.
    const plugin = tracer.plugins().find((p) => p.name === 'langsmith')!;
    await expect(plugin.flush?.({ deadline: Date.now() + 100 })).rejects.toThrow(
      /2 runs queued and 1 requests in flight/,
    );
    await tracer.shutdown({ timeoutMs: 200 });
  });
});

// --- secrets --------------------------------------------------------------------------------------

describe('no API key in any message', () => {
  const scenarios: [string, (r: LangSmithReceiver) => Promise<string>][] = [
    [
      '401 whose body echoes the key',
      async (r) => {
        r.respondWith((req) => ({ status: 401, body: `invalid x-api-key ${req.apiKey}` }));
        return r.url;
      },
    ],
    [
      '403',
      async (r) => {
        r.respondWith((req) => ({ status: 403, body: `key ${req.apiKey} may not write here` }));
        return r.url;
      },
    ],
    [
      '500, retried then dropped',
      async (r) => {
        r.respondWith((req) => ({ status: 500, body: `internal error for ${req.apiKey}` }));
        return r.url;
      },
    ],
    ['refused connection', async () => `http://127.0.0.1:${await closedPort()}`],
  ];

  for (const [label, arrange] of scenarios) {
    for (const perStep of [false, true]) {
      it(`${label}${perStep ? ' (per-team key function)' : ''}: error handler and debug output stay clean`, async () => {
        const endpoint = await arrange(receiver);
        const reports: string[] = [];
        setErrorHandler((r) => reports.push(`${r.source}: ${r.message} ${String(r.error)}`));
        const stderr: string[] = [];
        vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
          stderr.push(String(chunk));
          return true;
        });
        const key = perStep ? TEAM_KEYS.red! : KEY;
        const { tracer } = start({
          endpoint,
          debug: true,
          maxRetries: 1,
          timeoutMillis: 1000,
          ...(perStep && { apiKey: (step: Step) => TEAM_KEYS[step.identity?.team ?? ''] }),
        });
        await tracer.chain({ name: 'doomed', identity: { team: 'red' } }, () =>
          tracer.llm({ model: 'm' }, async () => 'x'),
        );
        await tracer.flush({ timeoutMs: 5000 });
        vi.mocked(process.stderr.write).mockRestore();
        const stats = pluginStats(tracer);
        expect(stats.exported).toBe(0);
        expect(sum(stats.dropped)).toBe(2);
        expect(reports.length, 'the failure was reported').toBeGreaterThan(0);
        const debug = stderr.filter((line) => line.includes('[spanchain:langsmith]'));
        expect(debug.length, 'debug printed the configuration and the request').toBeGreaterThanOrEqual(2);
        expect(debug.some((line) => /POST .*dropped/.test(line))).toBe(true);
        for (const text of [...reports, ...stderr, JSON.stringify(tracer.stats())]) {
          expect(text).not.toContain(key);
          // Nor a recognisable part of it.
          expect(text).not.toContain(key.slice(-16));
        }
      });
    }
  }
});

// --- joining and loading --------------------------------------------------------------------------

describe('existingTraceId', () => {
  it('adds the run under an existing LangSmith trace (UUID v7 or 32 hex)', async () => {
    const lsTrace = '0192f7a3-2b6c-7d10-8e4f-5a6b7c8d9e0f';
    const { tracer } = start();
    await tracer.chain({ name: 'joined', existingTraceId: lsTrace }, async () => {
      await tracer.llm({ name: 'joined-llm', model: 'm' }, async () => 'x');
    });
    await tracer.chain({ name: 'joined-again', existingTraceId: lsTrace.replace(/-/g, '') }, () => 'y');
    await tracer.flush({ timeoutMs: 5000 });
    const runs = runsOf();
    expect(receiver.problems()).toEqual([]);
    expect(runs).toHaveLength(3);
    for (const run of runs) {
      expect(validateRun(run), run.name).toEqual([]);
      expect(dottedOrderProblems(run), run.name).toEqual([]);
      expect(run.trace_id).toBe(lsTrace);
    }
    const joined = one(runs, 'joined');
    expect(joined.parent_run_id).toBe(lsTrace);
    expect(joined.id).not.toBe(lsTrace);
    expect(joined.dotted_order.split('.')).toHaveLength(2);
    expect(joined.dotted_order.split('.')[0]!.endsWith(`Z${lsTrace}`)).toBe(true);
    const child = one(runs, 'joined-llm');
    expect(child.parent_run_id).toBe(joined.id);
    expect(child.dotted_order.startsWith(`${joined.dotted_order}.`)).toBe(true);
    const again = one(runs, 'joined-again');
    expect(again.parent_run_id).toBe(lsTrace);
    // Both joined runs hang under one root segment, in the order they started.
    expect(again.dotted_order.split('.')[0]).toBe(joined.dotted_order.split('.')[0]);
    expect(again.dotted_order > joined.dotted_order).toBe(true);
  });
});

describe('loading by name', () => {
  it("createTracer({ plugins: ['langsmith'] }) resolves the package and reads LANGSMITH_* variables", async () => {
    // The plugin is made once its package has loaded (asynchronously) and reads process.env then:
    // the variables stay until flush(), which waits for the load; then process.env is restored.
    const saved = { ...process.env };
    for (const key of Object.keys(process.env)) {
      if (/^(LANGSMITH_|LANGCHAIN_|SPANCHAIN_)/.test(key)) delete process.env[key];
    }
    Object.assign(process.env, {
      LANGSMITH_API_KEY: KEY,
      LANGSMITH_ENDPOINT: receiver.url,
      LANGSMITH_PROJECT: 'by-name',
    });
    let tracer: Tracer;
    try {
      tracer = createTracer({ plugins: ['langsmith'], flushOnExit: false });
      tracers.push(tracer);
      await tracer.chain('named', () => tracer.llm({ name: 'named-llm', model: 'm' }, async () => 'x'));
      expect((await tracer.flush({ timeoutMs: 5000 })).timedOut).toBe(false);
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
    expect(process.env.LANGSMITH_API_KEY).toBe(saved.LANGSMITH_API_KEY);
    const runs = runsOf();
    expect(runs.map((r) => r.name).sort()).toEqual(['named', 'named-llm']);
    expect(runs.every((r) => r.session_name === 'by-name')).toBe(true);
    expect(receiver.requests.every((r) => r.apiKey === KEY)).toBe(true);
    expectWellFormedTree(runs);
    expect(pluginStats(tracer)).toMatchObject({ received: 2, exported: 2 });
  });
});
