import {
  createTracer,
  type Plugin,
  STEP_KINDS,
  type Step,
  type StepKind,
  type Tracer,
} from '@spanchain/core';
import { describe, expect, it } from 'vitest';
import { formatRunTime, parseDottedOrder } from './ids.js';
import { RunLinks } from './links.js';
import {
  chatMessage,
  type MapOptions,
  RUN_TYPE_BY_KIND,
  runTypeOf,
  toDocument,
  toRun,
  usageMetadata,
} from './map.js';
import { RUN_TYPES, type Run } from './run.js';
import { VERSION } from './version.js';

/** Maps every step as the plugin does: links on start and end, the run on end. */
class RunPlugin implements Plugin {
  readonly name = 'runs';
  readonly links = new RunLinks();
  readonly runs: Run[] = [];
  readonly steps: Step[] = [];
  constructor(private readonly options: MapOptions = {}) {}
  onStart(step: Step): void {
    this.links.start(step);
  }
  onEnd(step: Step): void {
    this.steps.push(step);
    this.runs.push(toRun(step, this.links.end(step)!, this.options));
  }
  run(name: string): Run {
    const found = this.runs.filter((r) => r.name === name);
    if (found.length !== 1) throw new Error(`expected one run named ${name}, found ${found.length}`);
    return found[0]!;
  }
}

async function record(fn: (tracer: Tracer) => unknown, options: MapOptions = {}): Promise<RunPlugin> {
  const plugin = new RunPlugin(options);
  const tracer = createTracer({ flushOnExit: false, plugins: [plugin] });
  try {
    await fn(tracer);
  } catch {
    // Failing steps are part of what is recorded.
  }
  await tracer.flush();
  return plugin;
}

const meta = (run: Run) => run.extra?.metadata ?? {};
const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

describe('run types', () => {
  it('maps every step kind to a LangSmith run type, saying the real kind where they differ', async () => {
    const plugin = await record(async (tracer) => {
      for (const kind of STEP_KINDS) await tracer.step(kind, { name: `k-${kind}` }, async () => 'x');
    });
    const expected: Record<StepKind, string> = {
      agent: 'chain',
      chain: 'chain',
      retrieval: 'retriever',
      prompt: 'prompt',
      llm: 'llm',
      tool: 'tool',
      embedding: 'embedding',
      rerank: 'retriever',
      guardrail: 'chain',
      custom: 'chain',
    };
    expect(RUN_TYPE_BY_KIND).toEqual(expected);
    for (const kind of STEP_KINDS) {
      const run = plugin.run(`k-${kind}`);
      expect(run.run_type, kind).toBe(expected[kind]);
      expect(RUN_TYPES).toContain(run.run_type);
      expect(meta(run).spanchain_kind, kind).toBe(expected[kind] === kind ? undefined : kind);
    }
  });

  it('maps LangChain output parsers to parser and honours a valid ls_run_type override', async () => {
    const plugin = await record((tracer) => {
      tracer.chain({ name: 'parser', metadata: { 'langchain.run_type': 'parser' } }, () => 1);
      tracer.custom({ name: 'as-tool', metadata: { ls_run_type: 'tool' } }, () => 1);
      tracer.custom({ name: 'bad-override', metadata: { ls_run_type: 'agent' } }, () => 1);
      tracer.llm({ name: 'llm-parser-key', metadata: { 'langchain.run_type': 'parser' } }, () => 1);
    });
    expect(plugin.run('parser').run_type).toBe('parser');
    expect(plugin.run('as-tool').run_type).toBe('tool');
    expect(plugin.run('bad-override').run_type).toBe('chain');
    expect(plugin.run('llm-parser-key').run_type).toBe('llm');
  });

  it('never returns a run type outside the enum, whatever the step says', () => {
    const odd = { kind: 'nonsense', metadata: { ls_run_type: 7 } } as unknown as Step;
    expect(runTypeOf(odd)).toBe('chain');
  });
});

describe('ids, times and the tree', () => {
  it('takes ids and dotted order from the link, and writes times with microseconds', async () => {
    const plugin = await record(async (tracer) => {
      await tracer.chain('root', async () => tracer.tool('child', async () => 1));
    });
    const root = plugin.run('root');
    const child = plugin.run('child');
    expect(root.trace_id).toBe(root.id);
    expect(root.parent_run_id).toBeUndefined();
    expect(child.trace_id).toBe(root.id);
    expect(child.parent_run_id).toBe(root.id);
    expect(child.dotted_order.startsWith(`${root.dotted_order}.`)).toBe(true);
    expect(parseDottedOrder(child.dotted_order)!.at(-1)!.id).toBe(child.id);
    for (const run of [root, child]) {
      expect(run.start_time).toMatch(ISO_MICROS);
      expect(run.end_time).toMatch(ISO_MICROS);
      expect(run.end_time! >= run.start_time).toBe(true);
      // The dotted segment carries the start time exactly.
      expect(run.dotted_order).toContain(`${run.start_time.replace(/[-:.]/g, '')}${run.id}`);
    }
    const step = plugin.steps.find((s) => s.name === 'child')!;
    expect(child.start_time).toBe(formatRunTime(step.startTime, 1));
  });

  it('never ends a run before the execution order digits of its start', () => {
    const links = new RunLinks();
    const step = {
      kind: 'chain',
      name: 'fast',
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      parentIsRemote: false,
      startTime: 1_726_766_208_521,
      endTime: 1_726_766_208_521.25,
      trace: {},
      events: [],
      attributes: {},
    } as unknown as Step;
    const link = { ...links.end(step)!, startTime: formatRunTime(step.startTime, 900) };
    expect(toRun(step, link).end_time).toBe(link.startTime);
  });
});

describe('LLM runs', () => {
  it('writes messages, tools, choices, usage and the ls_* metadata', async () => {
    const plugin = await record((tracer) =>
      tracer.llm(
        {
          name: 'chat',
          provider: 'openai',
          model: 'gpt-4o',
          params: { temperature: 0.2, maxTokens: 100, stopSequences: ['END'], topP: 0.9, choiceCount: 1 },
          systemInstructions: 'be brief',
          inputMessages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'look' },
                { type: 'image', url: 'https://x/img.png' },
              ],
            },
            { role: 'assistant', toolCalls: [{ id: 'c1', name: 'search', arguments: { q: 'refund' } }] },
            { role: 'tool', toolCallId: 'c1', content: 'found it' },
          ],
          tools: [{ name: 'search', description: 'web search', parameters: { type: 'object' } }],
        },
        async (step) => {
          step.update({
            responseModel: 'gpt-4o-2024-08-06',
            outputMessages: [{ role: 'assistant', content: 'Refunds take 5 days.', finishReason: 'stop' }],
            usage: { inputTokens: 120, outputTokens: 30, cachedInputTokens: 100, reasoningTokens: 10 },
            cost: { input: 0.001, output: 0.002, total: 0.003, currency: 'USD' },
          });
          return 'Refunds take 5 days.';
        },
      ),
    );
    const run = plugin.run('chat');
    expect(run.run_type).toBe('llm');
    expect(run.inputs).toEqual({
      messages: [
        { role: 'system', content: 'be brief' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'look' },
            { type: 'image_url', image_url: { url: 'https://x/img.png' } },
          ],
        },
        {
          role: 'assistant',
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'search', arguments: '{"q":"refund"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'found it' },
      ],
      tools: [
        {
          type: 'function',
          function: { name: 'search', description: 'web search', parameters: { type: 'object' } },
        },
      ],
    });
    expect(run.outputs).toEqual({
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Refunds take 5 days.' }, finish_reason: 'stop' },
      ],
      usage_metadata: {
        input_tokens: 120,
        output_tokens: 30,
        total_tokens: 150,
        input_token_details: { cache_read: 100 },
        output_token_details: { reasoning: 10 },
        input_cost: 0.001,
        output_cost: 0.002,
        total_cost: 0.003,
      },
    });
    expect(meta(run)).toMatchObject({
      ls_provider: 'openai',
      ls_model_name: 'gpt-4o-2024-08-06',
      ls_model_type: 'chat',
      ls_temperature: 0.2,
      ls_max_tokens: 100,
      ls_stop: ['END'],
    });
    expect(run.extra?.invocation_params).toEqual({
      model: 'gpt-4o',
      temperature: 0.2,
      max_tokens: 100,
      stop: ['END'],
      top_p: 0.9,
      n: 1,
    });
    expect(run.extra?.runtime).toMatchObject({
      sdk: '@spanchain/langsmith',
      sdk_version: VERSION,
      runtime: 'nodejs',
    });
  });

  it('answers with tool calls as an assistant choice, and a text completion as prompts', async () => {
    const plugin = await record((tracer) => {
      tracer.llm({ name: 'calls', model: 'm', inputMessages: [{ role: 'user', content: 'hi' }] }, (step) => {
        step.update({
          toolCalls: [{ id: 't1', name: 'f', arguments: '{"a":1}' }],
          finishReasons: ['tool_calls'],
        });
      });
      tracer.llm({ name: 'completion', model: 'm', input: 'Once upon a time' }, () => 'there was');
    });
    expect(plugin.run('calls').outputs).toEqual({
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: '',
            tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
          },
          finish_reason: 'tool_calls',
        },
      ],
    });
    const completion = plugin.run('completion');
    expect(completion.inputs).toEqual({ prompts: ['Once upon a time'] });
    expect(completion.outputs).toEqual({
      choices: [{ index: 0, message: { role: 'assistant', content: 'there was' } }],
    });
    expect(meta(completion).ls_model_type).toBe('llm');
  });

  it('marks the first streamed token with a new_token event', async () => {
    const plugin = await record(async (tracer) => {
      const stream = tracer.llm({ name: 'stream', model: 'm' }, async function* () {
        yield 'a';
        yield 'b';
      });
      for await (const _ of stream) {
        // consume
      }
    });
    const run = plugin.run('stream');
    const step = plugin.steps.find((s) => s.name === 'stream')!;
    const firstToken = step.events.find((e) => e.name === 'first-token')!;
    expect(run.events).toEqual([{ name: 'new_token', time: new Date(firstToken.time).toISOString() }]);
    expect(run.extra?.invocation_params).toMatchObject({ stream: true });
  });

  it('derives the new_token event from timeToFirstTokenMs when there is no event', async () => {
    const plugin = await record((tracer) =>
      tracer.llm({ name: 'ttft', model: 'm' }, (step) => {
        step.update({ timeToFirstTokenMs: 250 });
      }),
    );
    const step = plugin.steps[0]!;
    expect(plugin.run('ttft').events).toEqual([
      { name: 'new_token', time: new Date(step.startTime + 250).toISOString() },
    ]);
  });

  it('keeps usage_metadata to the documented keys and costs in USD', () => {
    expect(usageMetadata({ inputTokens: 10 })).toEqual({
      input_tokens: 10,
      output_tokens: 0,
      total_tokens: 10,
    });
    expect(
      usageMetadata(
        { outputTokens: 5, totalTokens: 7, cacheCreationInputTokens: 2 },
        {
          total: 1,
          currency: 'EUR',
        },
      ),
    ).toEqual({
      input_tokens: 0,
      output_tokens: 5,
      total_tokens: 7,
      input_token_details: { cache_creation: 2 },
    });
    expect(usageMetadata(undefined)).toBeUndefined();
    expect(usageMetadata({})).toBeUndefined();
    expect(usageMetadata({ inputTokens: Number.NaN, outputTokens: -3.4 })).toEqual({
      input_tokens: 0,
      output_tokens: 0,
      total_tokens: 0,
    });
    const allowed = new Set([
      'input_tokens',
      'output_tokens',
      'total_tokens',
      'input_token_details',
      'output_token_details',
      'input_cost',
      'output_cost',
      'total_cost',
    ]);
    const full = usageMetadata(
      { inputTokens: 1, outputTokens: 2, totalTokens: 3, cachedInputTokens: 1, reasoningTokens: 1 },
      { input: 1, output: 1, total: 2, currency: 'usd' },
    )!;
    for (const key of Object.keys(full)) expect(allowed.has(key), key).toBe(true);
    expect(full.total_cost).toBe(2);
  });

  it('names providers as LangChain does where they differ', async () => {
    const plugin = await record((tracer) => {
      tracer.llm({ name: 'bedrock', provider: 'aws.bedrock', model: 'claude' }, () => 1);
      tracer.llm({ name: 'anthropic', provider: 'anthropic', model: 'claude' }, () => 1);
    });
    expect(meta(plugin.run('bedrock')).ls_provider).toBe('amazon_bedrock');
    expect(meta(plugin.run('anthropic')).ls_provider).toBe('anthropic');
  });
});

describe('retrieval, rerank, tool, prompt, embedding, agent, guardrail', () => {
  it('writes retriever outputs as documents', async () => {
    const plugin = await record((tracer) => {
      tracer.retrieval({ name: 'search', query: 'refunds', dataSource: 'kb', topK: 2 }, (step) => {
        step.update({
          documents: [
            { id: 'd1', content: 'Refunds take 5 days.', score: 0.9, metadata: { source: 'faq' } },
            { content: 'Other.' },
          ],
        });
      });
      tracer.rerank(
        { name: 'rerank', model: 'rerank-3', provider: 'cohere', query: 'q', topN: 1 },
        (step) => {
          step.update({
            documents: [
              { id: 'a', content: 'A' },
              { id: 'b', content: 'B' },
            ],
            rerankedDocuments: [{ id: 'b', content: 'B', score: 0.8 }],
          });
        },
      );
    });
    const search = plugin.run('search');
    expect(search.run_type).toBe('retriever');
    expect(search.inputs).toEqual({ query: 'refunds' });
    expect(search.outputs).toEqual({
      documents: [
        {
          page_content: 'Refunds take 5 days.',
          type: 'Document',
          metadata: { source: 'faq', id: 'd1', score: 0.9 },
        },
        { page_content: 'Other.', type: 'Document', metadata: {} },
      ],
    });
    expect(meta(search)).toMatchObject({ ls_retriever_name: 'kb', top_k: 2 });
    const rerank = plugin.run('rerank');
    expect(rerank.run_type).toBe('retriever');
    expect(rerank.inputs).toEqual({
      query: 'q',
      documents: [
        { page_content: 'A', type: 'Document', metadata: { id: 'a' } },
        { page_content: 'B', type: 'Document', metadata: { id: 'b' } },
      ],
    });
    expect(rerank.outputs).toEqual({
      documents: [{ page_content: 'B', type: 'Document', metadata: { id: 'b', score: 0.8 } }],
    });
    expect(meta(rerank)).toMatchObject({ ls_provider: 'cohere', ls_model_name: 'rerank-3', top_n: 1 });
  });

  it('writes tool arguments as an object and wraps other values', async () => {
    const plugin = await record((tracer) => {
      tracer.tool({ name: 'obj', toolName: 'obj', arguments: { city: 'Paris' } }, () => ({ temp: 21 }));
      tracer.tool({ name: 'json', toolName: 'json', arguments: '{"city":"Oslo"}' }, (step) => {
        step.update({ result: 'sunny' });
      });
      tracer.tool({ name: 'list', arguments: [1, 2] }, () => 3);
      tracer.tool({ name: 'text', arguments: 'not json {' }, () => undefined);
    });
    expect(plugin.run('obj').inputs).toEqual({ city: 'Paris' });
    expect(plugin.run('obj').outputs).toEqual({ temp: 21 });
    expect(plugin.run('json').inputs).toEqual({ city: 'Oslo' });
    expect(plugin.run('json').outputs).toEqual({ output: 'sunny' });
    expect(plugin.run('list').inputs).toEqual({ input: [1, 2] });
    expect(plugin.run('list').outputs).toEqual({ output: 3 });
    expect(plugin.run('text').inputs).toEqual({ input: 'not json {' });
    expect(plugin.run('text').outputs).toBeUndefined();
    expect(meta(plugin.run('obj')).tool_name).toBe('obj');
  });

  it('writes prompt variables in, rendered messages or text out', async () => {
    const plugin = await record((tracer) => {
      tracer.prompt(
        { name: 'chat-prompt', templateName: 'qa', templateVersion: 3, variables: { q: 'x' } },
        (step) => {
          step.update({ messages: [{ role: 'user', content: 'Q: x' }] });
        },
      );
      tracer.prompt({ name: 'text-prompt', variables: { q: 'y' } }, (step) => {
        step.update({ text: 'Q: y' });
      });
    });
    const chat = plugin.run('chat-prompt');
    expect(chat.run_type).toBe('prompt');
    expect(chat.inputs).toEqual({ q: 'x' });
    expect(chat.outputs).toEqual({ messages: [{ role: 'user', content: 'Q: x' }] });
    expect(meta(chat)).toMatchObject({ prompt_template_name: 'qa', prompt_template_version: 3 });
    expect(plugin.run('text-prompt').outputs).toEqual({ output: 'Q: y' });
  });

  it('summarises embeddings without sending vectors', async () => {
    const vectors = [
      [0.1, 0.2, 0.3],
      [0.4, 0.5, 0.6],
    ];
    const plugin = await record((tracer) =>
      tracer.embedding({ name: 'embed', model: 'text-embedding-3-small', texts: ['a', 'b'] }, (step) => {
        step.update({ usage: { inputTokens: 4 } });
        return vectors;
      }),
    );
    const run = plugin.run('embed');
    expect(run.inputs).toEqual({ input: ['a', 'b'] });
    expect(run.outputs).toEqual({
      dimensions: 3,
      count: 2,
      usage_metadata: { input_tokens: 4, output_tokens: 0, total_tokens: 4 },
    });
    expect(JSON.stringify(run)).not.toContain('0.6');
    expect(meta(run).ls_model_name).toBe('text-embedding-3-small');
  });

  it('tells a top-level agent from a subagent, and records guardrail verdicts', async () => {
    const plugin = await record(async (tracer) => {
      await tracer.agent({ name: 'planner', agentName: 'planner', agentId: 'p1' }, async () => {
        await tracer.agent({ name: 'researcher', agentName: 'researcher' }, async () => 1);
        await tracer.guardrail(
          { name: 'pii', guardrailName: 'pii', decision: 'block', reason: 'email found', target: 'output' },
          async () => undefined,
        );
      });
    });
    expect(meta(plugin.run('planner'))).toMatchObject({
      spanchain_kind: 'agent',
      ls_agent_type: 'root',
      agent_name: 'planner',
      agent_id: 'p1',
    });
    expect(meta(plugin.run('researcher')).ls_agent_type).toBe('subagent');
    const pii = plugin.run('pii');
    expect(pii.run_type).toBe('chain');
    expect(meta(pii)).toMatchObject({
      spanchain_kind: 'guardrail',
      guardrail_name: 'pii',
      guardrail_decision: 'block',
      guardrail_reason: 'email found',
      guardrail_target: 'output',
    });
    expect(pii.outputs).toEqual({ decision: 'block', reason: 'email found' });
  });
});

describe('trace-level fields, metadata, tags, errors, events', () => {
  it('puts user, thread, trace metadata, identity and tags on every run', async () => {
    const plugin = await record(async (tracer) => {
      await tracer.chain(
        {
          name: 'root',
          tags: ['step-tag', 'shared'],
          trace: {
            userId: 'user-1',
            sessionId: 'conv-9',
            tags: ['shared', 'trace-tag'],
            metadata: { plan: 'pro' },
            environment: 'prod',
            release: 'abc123',
            version: '1.2.0',
            input: { question: 'q?' },
            output: 'a!',
          },
          identity: { team: 'search', keyAlias: 'prod-key', apiKey: 'sk-secret-value' },
        },
        async () => {
          await tracer.tool('child', async () => 1);
        },
      );
    });
    const root = plugin.run('root');
    const child = plugin.run('child');
    for (const run of [root, child]) {
      expect(meta(run)).toMatchObject({
        user_id: 'user-1',
        thread_id: 'conv-9',
        plan: 'pro',
        environment: 'prod',
        release: 'abc123',
        revision_id: '1.2.0',
        team: 'search',
        key_alias: 'prod-key',
      });
      expect(String(meta(run).key_hash)).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(JSON.stringify(run)).not.toContain('sk-secret-value');
    }
    expect(root.tags).toEqual(['step-tag', 'shared', 'trace-tag']);
    expect(child.tags).toEqual(['shared', 'trace-tag']);
    // The root run shows the trace's input and output; other runs do not.
    expect(root.inputs).toEqual({ question: 'q?' });
    expect(root.outputs).toEqual({ output: 'a!' });
    expect(child.inputs).toEqual({});
  });

  it('lets metadata the app set win over derived keys', async () => {
    const plugin = await record((tracer) =>
      tracer.llm(
        {
          name: 'm',
          model: 'gpt-4o',
          metadata: { ls_model_name: 'my-finetune', thread_id: 'explicit' },
          trace: { sessionId: 'derived', metadata: { ls_provider: 'custom' } },
        },
        () => 'x',
      ),
    );
    expect(meta(plugin.run('m'))).toMatchObject({
      ls_model_name: 'my-finetune',
      thread_id: 'explicit',
      ls_provider: 'custom',
    });
  });

  it('writes errors with type, message, stack and causes', async () => {
    const plugin = await record((tracer) =>
      tracer.tool('failing', () => {
        const error = new TypeError('bad input', { cause: new RangeError('too big') }) as TypeError & {
          code: string;
        };
        error.code = 'E_BAD';
        throw error;
      }),
    );
    const run = plugin.run('failing');
    expect(run.error).toMatch(/^TypeError: bad input\n\s+at /);
    expect(run.error).toContain('\nCaused by: RangeError: too big');
    expect(meta(run).error_code).toBe('E_BAD');
  });

  it('keeps events with their attributes', async () => {
    const plugin = await record((tracer) =>
      tracer.chain('evented', (step) => {
        step.addEvent('retry', { attempt: 1, 'delay.ms': 200 });
        step.addEvent('checkpoint');
      }),
    );
    const events = plugin.run('evented').events!;
    expect(events.map((e) => e.name)).toEqual(['retry', 'checkpoint']);
    expect(events[0]!.kwargs).toEqual({ attempt: 1, 'delay.ms': 200 });
    expect(events[1]!.kwargs).toBeUndefined();
    expect(events[0]!.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });
});

describe('LANGSMITH_HIDE_INPUTS / _OUTPUTS', () => {
  const llm = (tracer: Tracer) =>
    tracer.llm(
      { name: 'secret', model: 'gpt-4o', inputMessages: [{ role: 'user', content: 'my secret question' }] },
      (step) => {
        step.update({ usage: { inputTokens: 3, outputTokens: 4 } });
        return 'my secret answer';
      },
    );

  it('sends empty inputs and outputs, as the SDK does, keeping token usage in metadata', async () => {
    const plugin = await record(llm, { hideInputs: true, hideOutputs: true });
    const run = plugin.run('secret');
    expect(run.inputs).toEqual({});
    expect(run.outputs).toEqual({});
    expect(meta(run).usage_metadata).toEqual({ input_tokens: 3, output_tokens: 4, total_tokens: 7 });
    expect(meta(run).ls_model_name).toBe('gpt-4o');
    expect(JSON.stringify(run)).not.toContain('secret question');
    expect(JSON.stringify(run)).not.toContain('secret answer');
  });

  it('hides one side only', async () => {
    const inputsHidden = (await record(llm, { hideInputs: true })).run('secret');
    expect(inputsHidden.inputs).toEqual({});
    expect(JSON.stringify(inputsHidden.outputs)).toContain('secret answer');
    const outputsHidden = (await record(llm, { hideOutputs: true })).run('secret');
    expect(JSON.stringify(outputsHidden.inputs)).toContain('secret question');
    expect(outputsHidden.outputs).toEqual({});
  });
});

describe('strange input', () => {
  it('stays JSON-safe and within the limits', async () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const hostile = {
      ok: 1,
      get boom(): never {
        throw new Error('getter');
      },
    };
    const limits = { maxStringLength: 100, maxBytes: 10_000 };
    const plugin = await record(
      (tracer) => {
        tracer.chain({ name: 'cyclic', input: cyclic, metadata: { big: 10n } }, () => 'x'.repeat(1_000_000));
        tracer.tool({ name: 'hostile', arguments: hostile }, () => new Map([['k', 1]]));
        tracer.custom({ name: 'array', input: [1, 2, 3] }, () => new Date(0));
        tracer.llm(
          { name: 'weird-llm', inputMessages: [null, 'x', { role: 'user', content: cyclic }] as never },
          () => 1,
        );
      },
      { limits },
    );
    for (const run of plugin.runs) {
      const text = JSON.stringify(run);
      expect(JSON.parse(text)).toEqual(run);
      expect(text.length).toBeLessThan(40_000);
      expect(typeof run.inputs).toBe('object');
      expect(Array.isArray(run.inputs)).toBe(false);
      if (run.outputs) expect(Array.isArray(run.outputs)).toBe(false);
    }
    expect(plugin.run('cyclic').inputs).toMatchObject({ name: 'loop', self: '[Circular]' });
    expect(String(plugin.run('cyclic').outputs?.output).length).toBeLessThan(200);
    expect(meta(plugin.run('cyclic')).big).toBe('10');
    expect(plugin.run('hostile').inputs.ok).toBe(1);
    expect(plugin.run('array').inputs).toEqual({ input: [1, 2, 3] });
    expect(plugin.run('array').outputs).toEqual({ output: '1970-01-01T00:00:00.000Z' });
  });

  it('keeps derived metadata whole when user metadata exceeds the budget', async () => {
    const plugin = await record(
      (tracer) =>
        tracer.llm(
          { name: 'budget', provider: 'openai', model: 'gpt-4o', metadata: { notes: 'n'.repeat(50_000) } },
          () => 'x',
        ),
      { limits: { maxStringLength: 50, maxBytes: 500 } },
    );
    const metadata = meta(plugin.run('budget'));
    expect(metadata).toMatchObject({ ls_provider: 'openai', ls_model_name: 'gpt-4o', ls_model_type: 'chat' });
    expect(String(metadata.notes).length).toBeLessThan(100);
  });

  it('maps a hand-made step with missing fields without throwing', () => {
    const links = new RunLinks();
    const step = { kind: 'llm', traceId: 'x', spanId: 'y' } as unknown as Step;
    const run = toRun(step, links.end(step)!);
    expect(run.run_type).toBe('llm');
    expect(run.name).toBe('llm');
    expect(run.inputs).toEqual({});
    expect(run.end_time).toBeUndefined();
  });

  it('keeps the run in the tree when the step itself cannot be read', () => {
    const links = new RunLinks();
    const step = {
      kind: 'tool',
      traceId: 'c'.repeat(32),
      spanId: 'd'.repeat(16),
      parentIsRemote: false,
      startTime: 0,
    };
    const link = links.end(step as never)!;
    Object.defineProperty(step, 'trace', {
      get() {
        throw new Error('getter');
      },
    });
    const run = toRun(step as never, link);
    expect(run).toMatchObject({ id: link.runId, trace_id: link.traceRunId, run_type: 'tool', inputs: {} });
    expect(run.error).toBeDefined();
  });

  it('converts messages and documents of any shape', () => {
    expect(chatMessage('hi')).toEqual({ role: 'user', content: 'hi' });
    expect(chatMessage({ role: 'assistant', content: 'ok', finishReason: 'stop' } as never)).toEqual({
      role: 'assistant',
      content: 'ok',
    });
    expect(toDocument('text')).toEqual({ page_content: 'text', type: 'Document', metadata: {} });
    expect(toDocument(null)).toEqual({ page_content: '', type: 'Document', metadata: {} });
  });
});

/** A list that says it has 2³²−1 items and has none: walking it takes minutes. */
function sparseList(): never {
  const list: unknown[] = [];
  list.length = 2 ** 32 - 1;
  return list as never;
}

const keys = (n: number, prefix: string) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]));

describe('budgets', () => {
  const LIMITS = { maxObjectKeys: 100, maxStringLength: 50, maxArrayLength: 10 };

  it('cuts tags to maxStringLength (at most 100, reading at most maxArrayLength of each list) and says so', async () => {
    const long = 'y'.repeat(10_000);
    const plugin = await record(
      (tracer) =>
        tracer.custom(
          {
            name: 'tags',
            tags: [long, ...Array.from({ length: 5_000 }, (_, i) => `t${i}`)],
            trace: { tags: ['beta'] },
          },
          () => 1,
        ),
      { limits: LIMITS },
    );
    const run = plugin.run('tags');
    expect(run.tags).toEqual([
      `${'y'.repeat(50)}…[truncated 9950 chars]`,
      ...Array.from({ length: 9 }, (_, i) => `t${i}`),
      'beta',
    ]);
    expect(meta(run).spanchain_truncated).toEqual(['tags']);
    // A 50 MiB tag makes a run of about the budget, not of 50 MiB.
    const big = await record((tracer) =>
      tracer.custom({ name: 'big', tags: ['z'.repeat(50 * 2 ** 20)] }, () => 1),
    );
    expect(JSON.stringify(big.run('big')).length).toBeLessThan(40_000);
  });

  it('metadata: the step’s, the trace’s, then the attributes, at most maxObjectKeys keys in all', async () => {
    const plugin = await record(
      (tracer) =>
        tracer.custom(
          {
            name: 'wide',
            metadata: { ...keys(60, 'm'), shared: 'step' },
            trace: { metadata: { ...keys(30, 't'), shared: 'trace' } },
            attributes: keys(5_000, 'a') as never,
          },
          () => 1,
        ),
      { limits: LIMITS },
    );
    const metadata = meta(plugin.run('wide'));
    const names = Object.keys(metadata);
    expect(names.filter((k) => /^m\d+$/.test(k))).toHaveLength(60);
    expect(names.filter((k) => /^t\d+$/.test(k))).toHaveLength(30);
    expect(names.filter((k) => /^a\d+$/.test(k))).toHaveLength(100 - 61 - 30);
    expect(metadata.shared).toBe('step');
    expect(metadata.spanchain_truncated).toEqual(['attributes']);
  });

  it('never walks binary data or arrays given as metadata or document metadata key by key', async () => {
    const started = performance.now();
    const plugin = await record((tracer) => {
      tracer.custom({ name: 'buffer', metadata: Buffer.alloc(2 ** 20) as never }, () => 1);
      tracer.custom(
        { name: 'array', metadata: Array.from({ length: 1_000_000 }, (_, i) => i) as never },
        () => 1,
      );
      tracer.retrieval({ name: 'docs', query: 'q' }, (s) => {
        s.update({ documents: [{ id: 'd', content: 'c', metadata: new Uint8Array(2 ** 20) as never }] });
        return 1;
      });
    });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(meta(plugin.run('buffer'))).not.toHaveProperty('0');
    expect(meta(plugin.run('buffer')).spanchain_truncated).toEqual(['metadata']);
    expect(meta(plugin.run('array'))).not.toHaveProperty('0');
    const [doc] = (plugin.run('docs').outputs?.documents ?? []) as Array<{
      metadata: Record<string, unknown>;
    }>;
    expect(doc?.metadata).toEqual({ id: 'd' });
  });

  it('cuts content lists before mapping them, in bounded time, noting the field', async () => {
    const parts = Array.from({ length: 5_000 }, (_, i) => ({ type: 'text', text: `p${i}` }));
    const started = performance.now();
    const plugin = await record(
      (tracer) => {
        tracer.llm(
          { name: 'long', model: 'm', inputMessages: [{ role: 'user', content: parts as never }] },
          () => 'x',
        );
        tracer.llm(
          {
            name: 'sparse',
            model: 'm',
            systemInstructions: sparseList(),
            inputMessages: [{ role: 'user', content: sparseList(), toolCalls: sparseList() }],
            tools: sparseList(),
          },
          (s) => {
            s.update({ outputMessages: sparseList() });
            return 'x';
          },
        );
        tracer.llm({ name: 'calls', model: 'm', inputMessages: sparseList() }, (s) => {
          s.update({ toolCalls: sparseList() });
          return 'x';
        });
        tracer.retrieval({ name: 'docs', query: 'q' }, (s) => {
          s.update({ documents: sparseList() });
          return 1;
        });
        tracer.prompt({ name: 'prompt', messages: sparseList() }, () => 1);
      },
      { limits: LIMITS },
    );
    expect(performance.now() - started).toBeLessThan(2_000);
    const long = plugin.run('long');
    const [message] = (long.inputs.messages ?? []) as Array<{ content: unknown[] }>;
    // Real parts only: no serialiser marker among them.
    expect(message?.content).toHaveLength(10);
    expect(message?.content[9]).toEqual({ type: 'text', text: 'p9' });
    expect(meta(long).spanchain_truncated).toEqual(['inputMessages']);
    expect(meta(plugin.run('sparse')).spanchain_truncated).toEqual(['inputMessages', 'outputMessages']);
    expect(meta(plugin.run('docs')).spanchain_truncated).toEqual(['documents']);
  });
});
