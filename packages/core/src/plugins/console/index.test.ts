import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SpanchainError } from '../../errors.js';
import { MemoryPlugin } from '../../testing/index.js';
import { createTracer } from '../../tracer.js';
import { type ConsolePluginOptions, createConsolePlugin, resolveConsoleOptions } from './index.js';

// Built from a string: biome rejects a control character in a regex literal.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`);
const REMOTE_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const REMOTE_PARENT = `00-${REMOTE_TRACE_ID}-00f067aa0ba902b7-01`;

function fakeStream(isTTY = false) {
  const writes: string[] = [];
  return {
    writes,
    isTTY,
    write(chunk: string) {
      writes.push(chunk);
      return true;
    },
    text: () => writes.join(''),
  };
}

function setup(options: ConsolePluginOptions = {}, isTTY = false) {
  const stream = fakeStream(isTTY);
  const console = createConsolePlugin({ colors: false, ...options, stream });
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory, console], flushOnExit: false });
  return { stream, console, memory, tracer };
}

/** Header lines of trees: they are the lines that do not start with a status glyph or a branch. */
const headers = (text: string) => text.split('\n').filter((l) => l !== '' && !/^[✓✗◌·├└│…]/.test(l));

beforeEach(() => {
  vi.stubEnv('SPANCHAIN_CONSOLE_FORMAT', undefined);
  vi.stubEnv('NO_COLOR', undefined);
  vi.stubEnv('FORCE_COLOR', undefined);
});
afterEach(() => {
  vi.unstubAllEnvs();
});

describe('console plugin: tree', () => {
  it('prints the tree once the root ends, never inside onEnd', async () => {
    const { stream, tracer } = setup();
    const answer = tracer.chain('pipeline', () =>
      tracer.tool({ name: 'add', toolName: 'calculator' }, () => 1 + 1),
    );
    expect(answer).toBe(2);
    // Both steps ended synchronously inside the call above; nothing may have been written yet.
    expect(stream.writes).toEqual([]);
    await tracer.flush();
    expect(stream.writes).toHaveLength(1);
    const lines = stream.text().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^pipeline {2}\S+ ms {2}trace [0-9a-f]{32}$/);
    expect(lines[1]).toMatch(/^✓ chain pipeline +\S+ ms {2}█/);
    expect(lines[2]).toMatch(/^└─ ✓ tool {2}add +\S+ ms .*tool calculator$/);
  });

  it('writes on its own in the next turn of the event loop, without flush()', async () => {
    const { stream, tracer } = setup();
    await tracer.llm({ name: 'answer', model: 'gpt-4o' }, async () => 'hi');
    expect(stream.writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.text()).toContain('✓ llm answer');
  });

  it('holds children until their root ends, and counts them as queued meanwhile', async () => {
    const { stream, console, tracer } = setup();
    const root = tracer.startStep('agent', 'long-task');
    tracer.tool({ name: 'step-1', parent: root }, () => 1);
    await tracer.tool({ name: 'step-2', parent: root }, async () => 2);
    await tracer.flush();
    expect(stream.writes).toEqual([]);
    expect(console.stats()).toMatchObject({ exported: 0, queued: 2 });
    root.end('done');
    await tracer.flush();
    expect(stream.text()).toMatch(/✓ agent long-task[^\n]*\n├─ ✓ tool {2}step-1[^\n]*\n└─ ✓ tool {2}step-2/);
    expect(console.stats()).toMatchObject({ exported: 3, queued: 0 });
  });

  it('prints two interleaved concurrent traces as two separate trees', async () => {
    const { stream, tracer } = setup();
    const pause = () => new Promise((resolve) => setTimeout(resolve, 2));
    const pipeline = (name: string) =>
      tracer.chain(name, async () => {
        await tracer.retrieval(`${name}-search`, async () => pause());
        await tracer.llm(`${name}-answer`, async () => pause());
      });
    await Promise.all([pipeline('alpha'), pipeline('beta')]);
    await tracer.flush();
    const text = stream.text();
    expect(headers(text).map((h) => h.split(' ')[0])).toEqual(['alpha', 'beta']);
    const [alpha, beta] = text.split(/\n(?=beta )/);
    expect(alpha).toMatch(
      /^alpha .*\n✓ chain {5}alpha .*\n├─ ✓ retrieval alpha-search .*\n└─ ✓ llm {7}alpha-answer /,
    );
    expect(beta).toMatch(
      /^beta .*\n✓ chain {5}beta .*\n├─ ✓ retrieval beta-search .*\n└─ ✓ llm {7}beta-answer /,
    );
  });

  it('prints a trace whose root continues a remote parent from a traceparent', async () => {
    const { stream, memory, tracer } = setup();
    await tracer.agent({ name: 'handle-request', parent: REMOTE_PARENT }, async () => {
      await tracer.llm('reply', async () => 'ok');
    });
    await tracer.flush();
    expect(memory.one('handle-request')).toMatchObject({ parentIsRemote: true, traceId: REMOTE_TRACE_ID });
    expect(headers(stream.text())).toEqual([
      expect.stringMatching(/^handle-request .* trace 4bf92f3577b34da6a3ce929d0e0e4736$/),
    ]);
    expect(stream.text()).toContain('└─ ✓ llm   reply');
  });

  it("prints a step under the app's own (local) OTel span as a root", async () => {
    const { stream, memory, tracer } = setup();
    const appSpan = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: REMOTE_TRACE_ID,
      spanId: '1111111111111111',
      traceFlags: 1,
      isRemote: false,
    });
    await context.with(appSpan, () => tracer.chain('inside-http-handler', async () => 'ok'));
    await tracer.flush();
    expect(memory.one('inside-http-handler')).toMatchObject({
      parentIsRemote: false,
      parentSpanId: '1111111111111111',
    });
    expect(stream.text()).toMatch(/^inside-http-handler .*\n✓ chain inside-http-handler /);
  });

  it('prints a child that ends after its root was printed on its own', async () => {
    const { stream, tracer } = setup();
    let release!: () => void;
    let late: Promise<unknown> | undefined;
    tracer.chain('fire-and-forget', () => {
      late = tracer.tool('background', () => new Promise<void>((resolve) => (release = resolve)));
    });
    await tracer.flush();
    expect(headers(stream.text()).map((h) => h.split(' ')[0])).toEqual(['fire-and-forget']);
    release();
    await late;
    await tracer.flush();
    expect(headers(stream.text()).map((h) => h.split(' ')[0])).toEqual(['fire-and-forget', 'background']);
  });

  it('at shutdown prints a trace whose root never ended, marked incomplete', async () => {
    const { stream, tracer } = setup();
    const root = tracer.startStep('agent', 'stuck-agent');
    tracer.tool({ name: 'done-part', parent: root }, () => 1);
    await tracer.flush();
    expect(stream.writes).toEqual([]);
    await tracer.shutdown();
    const lines = stream.text().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^stuck-agent .*incomplete: root still running/);
    expect(lines[1]).toMatch(/^◌ agent stuck-agent .*running$/);
    expect(lines[2]).toMatch(/^└─ ✓ tool {2}done-part /);
  });

  it('keeps leaf steps up to maxStepsPerTrace and counts the rest', async () => {
    const { stream, console, tracer } = setup({ maxStepsPerTrace: 3 });
    await tracer.chain('batch', async () => {
      for (let i = 1; i <= 5; i++) await tracer.tool(`item-${i}`, async () => i);
    });
    await tracer.flush();
    const text = stream.text();
    expect(text).toContain('item-3');
    expect(text).not.toContain('item-4');
    expect(text.trimEnd().split('\n').at(-1)).toBe('… 2 more steps not shown');
    expect(console.stats()).toEqual({
      exported: 4,
      queued: 0,
      failed: 0,
      dropped: { 'trace-overflow': 0, 'step-overflow': 2, 'queue-full': 0, 'render-error': 0 },
    });
  });

  it('drops the oldest trace beyond maxOpenTraces, counting its steps then and later', async () => {
    const { stream, console, tracer } = setup({ maxOpenTraces: 2 });
    const roots = ['first', 'second', 'third'].map((name) => {
      const root = tracer.startStep('chain', name);
      tracer.tool({ name: `${name}-child`, parent: root }, () => 1);
      return root;
    });
    // The third trace pushed the first out with its one ended child.
    expect(console.stats().dropped['trace-overflow']).toBe(1);
    for (const root of roots) root.end();
    await tracer.flush();
    expect(headers(stream.text()).map((h) => h.split(' ')[0])).toEqual(['second', 'third']);
    expect(console.stats()).toMatchObject({ exported: 4, dropped: { 'trace-overflow': 2 } });
  });

  it('survives a step it cannot render: one line about it, counted, nothing thrown', async () => {
    const { stream, console, tracer } = setup();
    const hostile = {
      get inputTokens(): number {
        throw new Error('getter exploded');
      },
    };
    await tracer.llm('odd', async (step) => {
      step.update({ usage: hostile });
    });
    await tracer.flush();
    expect(stream.text()).toMatch(
      /^\[spanchain\] console plugin could not render trace [0-9a-f]{32}: getter exploded\n$/,
    );
    expect(console.stats()).toMatchObject({ exported: 0, failed: 1, dropped: { 'render-error': 1 } });
  });
});

describe('console plugin: colours', () => {
  it('colours a TTY and respects NO_COLOR', async () => {
    const tty = fakeStream(true);
    const tracer = createTracer({ plugins: [createConsolePlugin({ stream: tty })], flushOnExit: false });
    await tracer.chain('coloured', async () => 1);
    await tracer.flush();
    expect(tty.text()).toMatch(ANSI);

    vi.stubEnv('NO_COLOR', '1');
    const plain = fakeStream(true);
    const quiet = createTracer({ plugins: [createConsolePlugin({ stream: plain })], flushOnExit: false });
    await quiet.chain('plain', async () => 1);
    await quiet.flush();
    expect(plain.text()).toContain('✓ chain plain');
    expect(plain.text()).not.toMatch(ANSI);
  });

  it('resolves colours: option > FORCE_COLOR > NO_COLOR > TTY', () => {
    const tty = fakeStream(true);
    const pipe = fakeStream(false);
    const colors = (input: ConsolePluginOptions, env: NodeJS.ProcessEnv) =>
      resolveConsoleOptions(input, env).colors;
    expect(colors({ stream: tty }, {})).toBe(true);
    expect(colors({ stream: pipe }, {})).toBe(false);
    expect(colors({ stream: tty }, { NO_COLOR: '1' })).toBe(false);
    expect(colors({ stream: tty }, { NO_COLOR: '' })).toBe(true);
    expect(colors({ stream: pipe }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colors({ stream: tty }, { FORCE_COLOR: '0' })).toBe(false);
    expect(colors({ stream: pipe }, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(true);
    expect(colors({ stream: tty, colors: false }, { FORCE_COLOR: '1' })).toBe(false);
  });
});

describe('console plugin: options', () => {
  it('takes the format from SPANCHAIN_CONSOLE_FORMAT unless the option says otherwise', () => {
    expect(resolveConsoleOptions({}, { SPANCHAIN_CONSOLE_FORMAT: 'jsonl' }).format).toBe('jsonl');
    expect(resolveConsoleOptions({ format: 'tree' }, { SPANCHAIN_CONSOLE_FORMAT: 'jsonl' }).format).toBe(
      'tree',
    );
    expect(resolveConsoleOptions(undefined, {})).toMatchObject({
      format: 'tree',
      width: 24,
      showIds: true,
      maxStepsPerTrace: 2_000,
      maxOpenTraces: 1_000,
    });
  });

  it('fails at construction on a bad option or environment value, naming it', () => {
    expect(() => resolveConsoleOptions({}, { SPANCHAIN_CONSOLE_FORMAT: 'xml' })).toThrow(
      /SPANCHAIN_CONSOLE_FORMAT/,
    );
    expect(() => createConsolePlugin({ width: 0 })).toThrow(SpanchainError);
    expect(() => createConsolePlugin({ width: 0 })).toThrow(/width/);
    expect(() => createConsolePlugin({ stream: {} as never })).toThrow(/stream: expected a writable stream/);
    expect(() => createConsolePlugin({ colour: true } as never)).toThrow(/colour/);
  });

  it("is what the built-in plugin name 'console' makes, writing to stderr", async () => {
    vi.stubEnv('SPANCHAIN_CONSOLE_FORMAT', 'jsonl');
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const tracer = createTracer({ plugins: ['console'], flushOnExit: false });
      tracer.custom('via-built-in', () => 1);
      await tracer.flush();
      const lines = write.mock.calls
        .map(([chunk]) => String(chunk))
        .filter((c) => c.includes('via-built-in'));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ name: 'via-built-in', kind: 'custom' });
    } finally {
      write.mockRestore();
    }
  });
});

describe('console plugin: JSON lines', () => {
  it('writes one parseable line per ended step, after the call returns', async () => {
    const { stream, console, memory, tracer } = setup({ format: 'jsonl' });
    tracer.chain('pipeline', () => {
      tracer.retrieval({ name: 'search', documents: [{ id: 'a', content: 'refunds' }] }, () => 1);
      tracer.llm(
        { name: 'answer', model: 'gpt-4o', usage: { inputTokens: 10, outputTokens: 2 } },
        () => 'hi',
      );
    });
    expect(stream.writes).toEqual([]);
    await tracer.flush();
    expect(stream.writes).toHaveLength(1);
    const lines = stream.text().trimEnd().split('\n');
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.map((p) => [p.name, p.kind])).toEqual([
      ['search', 'retrieval'],
      ['answer', 'llm'],
      ['pipeline', 'chain'],
    ]);
    for (const [index, step] of memory.steps.entries()) {
      expect(parsed[index]).toMatchObject({ traceId: step.traceId, spanId: step.spanId, status: 'ok' });
    }
    expect(parsed[1]).toMatchObject({ model: 'gpt-4o', usage: { inputTokens: 10, outputTokens: 2 } });
    expect(parsed[0]).not.toHaveProperty('options');
    expect(console.stats()).toMatchObject({ exported: 3, queued: 0 });
  });

  it('serialises what JSON.stringify cannot, and scrubs credentials from errors', async () => {
    const { stream, tracer } = setup({ format: 'jsonl' });
    const circular: Record<string, unknown> = { big: 10n };
    circular.self = circular;
    expect(() =>
      tracer.tool({ name: 'odd', input: circular }, () => {
        throw new Error('bad key sk-ant-abcdefghijklmnopqrstuv');
      }),
    ).toThrow('bad key');
    await tracer.flush();
    const line = JSON.parse(stream.text()) as { input: unknown; error: { message: string } };
    expect(line.input).toEqual({ big: '10', self: '[Circular]' });
    expect(line.error.message).toBe('bad key [REDACTED]');
  });

  it('bounds its queue and counts what it drops', async () => {
    const { stream, console, tracer } = setup({ format: 'jsonl', maxQueuedLines: 2 });
    for (let i = 0; i < 5; i++) tracer.custom(`step-${i}`, () => i);
    expect(console.stats()).toMatchObject({ queued: 2, dropped: { 'queue-full': 3 } });
    await tracer.flush();
    expect(stream.text().trimEnd().split('\n')).toHaveLength(2);
  });
});
