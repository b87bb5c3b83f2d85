import { describe, expect, it } from 'vitest';
import type { Step } from '../../step.js';
import { MemoryPlugin } from '../../testing/index.js';
import { createTracer } from '../../tracer.js';
import { durationBar, formatDuration, formatMoney } from './format.js';
import { renderTraceTree } from './render.js';

// Built from a string: biome rejects a control character in a regex literal.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`);

/** Steps of a real run, with start and end times pinned (ms from the root's start) so text is stable. */
function pinTimes(steps: Step[], times: Record<string, [number, number]>): Step[] {
  const origin = 1_700_000_000_000;
  for (const step of steps) {
    const time = times[step.name];
    if (!time) throw new Error(`no time for ${step.name}`);
    const record = step as unknown as { startTime: number; endTime: number };
    record.startTime = origin + time[0];
    record.endTime = origin + time[1];
  }
  return steps;
}

/** A RAG-shaped trace: a chain with retrieval, prompt, llm (usage, cost, model) and tool. */
async function ragTrace(): Promise<Step[]> {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], flushOnExit: false });
  await tracer.chain({ name: 'answer-question', trace: { name: 'support-bot' } }, async () => {
    await tracer.retrieval(
      { name: 'search-docs', dataSource: 'kb', query: 'refund policy' },
      async (step) => {
        step.update({ documents: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }, { id: 'e' }] });
      },
    );
    tracer.prompt({ name: 'build-prompt', templateName: 'answer', templateVersion: 3 }, () => 'rendered');
    await tracer.llm({ name: 'generate', model: 'gpt-4o', provider: 'openai' }, async (step) => {
      step.update({
        responseModel: 'gpt-4o-2024-08-06',
        usage: { inputTokens: 1200, outputTokens: 330, cachedInputTokens: 800 },
        cost: { total: 0.00291, currency: 'USD' },
        timeToFirstTokenMs: 212,
      });
      return 'You can get a refund within 30 days.';
    });
    await tracer.tool({ name: 'lookup-order', toolName: 'get_order' }, async () => ({ status: 'shipped' }));
  });
  return pinTimes(memory.steps, {
    'answer-question': [0, 1840],
    'search-docs': [2, 124],
    'build-prompt': [125, 127.1],
    generate: [128, 1700],
    'lookup-order': [1702, 1787],
  });
}

describe('renderTraceTree', () => {
  it('draws a RAG trace as a waterfall: header, branches in start order, bars and details', async () => {
    const steps = await ragTrace();
    // The root ends last; the tree must still open with it and list its children by start time.
    expect(steps.at(-1)?.name).toBe('answer-question');
    const text = renderTraceTree(steps, { colors: false, width: 24, showIds: false });
    expect(text).toBe(
      [
        'support-bot  1840 ms · 1,530 tokens · $0.0029',
        '✓ chain     answer-question  1840 ms  ████████████████████████',
        '├─ ✓ retrieval search-docs    122 ms  █▋                        kb · 5 docs',
        '├─ ✓ prompt    build-prompt   2.1 ms   ▏                        answer v3',
        '├─ ✓ llm       generate      1572 ms   ████████████████████▌    gpt-4o-2024-08-06 · 1,200→330 tok (800 cached) · $0.0029 · ttft 212 ms',
        '└─ ✓ tool      lookup-order    85 ms                        █▏  tool get_order',
        '',
      ].join('\n'),
    );
  });

  it('nests grandchildren under their parent with a continuing branch', async () => {
    const memory = new MemoryPlugin();
    const tracer = createTracer({ plugins: [memory], flushOnExit: false });
    await tracer.agent('agent', async () => {
      await tracer.llm('plan', async () => {
        await tracer.tool('search', async () => 1);
      });
      await tracer.llm('answer', async () => 2);
    });
    pinTimes(memory.steps, { agent: [0, 100], plan: [1, 60], search: [10, 50], answer: [61, 99] });
    const lines = renderTraceTree(memory.steps, { colors: false, width: 10, showIds: false }).split('\n');
    expect(lines.slice(1, 5).map((l) => l.slice(0, 20).trimEnd())).toEqual([
      '✓ agent agent',
      '├─ ✓ llm   plan',
      '│  └─ ✓ tool  search',
      '└─ ✓ llm   answer',
    ]);
  });

  it('marks a failed step with ✗ and its error type, code and first message line, scrubbed', async () => {
    const memory = new MemoryPlugin();
    const tracer = createTracer({ plugins: [memory], flushOnExit: false });
    const error = Object.assign(
      new Error('Incorrect API key sk-proj-abcdefghijklmnop1234\nstack-ish detail'),
      {
        name: 'AuthenticationError',
        code: 401,
      },
    );
    await expect(
      tracer.chain('pipeline', async () => {
        await tracer.llm({ name: 'call', model: 'gpt-4o' }, async () => {
          throw error;
        });
      }),
    ).rejects.toBe(error);
    const text = renderTraceTree(memory.steps, { colors: false, width: 12 });
    const callLine = text.split('\n').find((l) => l.includes(' call '));
    expect(callLine).toMatch(/^└─ ✗ llm {3}call /);
    expect(callLine).toContain('AuthenticationError [401]: Incorrect API key [REDACTED]');
    expect(text).not.toContain('stack-ish detail');
    expect(text).not.toContain('abcdefghijklmnop');
    expect(text.split('\n')[0]).toContain('2 errors');
    expect(text.split('\n')[0]).toContain(`trace ${memory.steps[0]!.traceId}`);
  });

  it('uses ANSI colours only when asked', async () => {
    const steps = await ragTrace();
    const plain = renderTraceTree(steps, { colors: false, width: 24 });
    const coloured = renderTraceTree(steps, { colors: true, width: 24 });
    expect(plain).not.toMatch(ANSI);
    expect(coloured).toMatch(ANSI);
    // The llm kind tag is magenta (35) and the root's status glyph green (32).
    expect(coloured).toContain('\u001b[35mllm');
    expect(coloured).toContain('\u001b[32m✓\u001b[0m');
    expect(coloured.replace(new RegExp(ANSI.source, 'g'), '')).toBe(plain);
  });

  it('shows running steps and says the trace is incomplete', async () => {
    const memory = new MemoryPlugin();
    const tracer = createTracer({ plugins: [memory], flushOnExit: false });
    const root = tracer.startStep('agent', 'long-task');
    tracer.tool({ name: 'fetch', parent: root }, () => 1);
    const steps = [...memory.steps, root.step];
    const text = renderTraceTree(steps, {
      colors: false,
      width: 8,
      incomplete: true,
      omitted: 3,
      showIds: false,
    });
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toContain('incomplete: root still running');
    expect(lines[1]).toMatch(/^◌ agent long-task .*running$/);
    expect(lines[2]).toMatch(/^└─ ✓ tool {2}fetch /);
    expect(lines[3]).toBe('… 3 more steps not shown');
  });

  it('renders nothing for no steps', () => {
    expect(renderTraceTree([], { colors: false, width: 24 })).toBe('');
  });
});

describe('formatting', () => {
  it('formats durations: one decimal under 10 ms, whole ms under 10 s, then seconds', () => {
    expect([0.42, 9.96, 10, 980.4, 9999, 12_345, 754_000].map(formatDuration)).toEqual([
      '0.4 ms',
      '10.0 ms',
      '10 ms',
      '980 ms',
      '9999 ms',
      '12.3 s',
      '754 s',
    ]);
    expect(formatDuration(Number.NaN)).toBe('?');
  });

  it('formats money', () => {
    expect(formatMoney(0.00291, 'USD')).toBe('$0.0029');
    expect(formatMoney(12.5, 'USD')).toBe('$12.50');
    expect(formatMoney(0.00001, 'USD')).toBe('<$0.0001');
    expect(formatMoney(0.5, 'EUR')).toBe('0.5000 EUR');
  });

  it('places a bar by offset and length, with an eighth-block end and at least a sliver', () => {
    expect(durationBar(250, 750, 1000, 8)).toBe('  ████  ');
    expect(durationBar(0, 1000, 1000, 8)).toBe('████████');
    expect(durationBar(0, 1, 1000, 8)).toBe('▏       ');
    expect(durationBar(500, 1000, 1000, 4)).toBe('  ██');
    expect(durationBar(0, 1000 * (3 / 16), 1000, 8)).toBe('█▌      ');
  });
});
