import { describe, expect, it, vi } from 'vitest';
import type { Plugin } from './plugin.js';
import { MemoryPlugin } from './testing/index.js';
import { createTracer } from './tracer.js';

function tracerWith(plugins: Plugin[], onError = vi.fn()) {
  const memory = new MemoryPlugin();
  const tracer = createTracer({
    plugins: [...plugins, memory],
    onError,
    flushOnExit: false,
    flushTimeoutMs: 200,
  });
  return { tracer, memory, onError };
}

describe('plugin isolation', () => {
  it('a plugin throwing in every hook changes nothing for the app or the other plugins', async () => {
    const broken: Plugin = {
      name: 'broken',
      onStart() {
        throw new Error('start boom');
      },
      onEnd() {
        throw new Error('end boom');
      },
      flush() {
        throw new Error('flush boom');
      },
      stats() {
        throw new Error('stats boom');
      },
    };
    const { tracer, memory, onError } = tracerWith([broken]);
    const value = await tracer.chain('root', async () => tracer.tool('t', () => 7));
    expect(value).toBe(7);
    expect(memory.steps.map((s) => s.name)).toEqual(['t', 'root']);
    const report = await tracer.flush();
    // A flush that threw did not flush: the report says so, as for one that rejects.
    expect(report.ok).toBe(false);
    expect(report.plugins.broken).toEqual({ ok: false, timedOut: false, error: 'Error: flush boom' });
    expect(report.plugins.memory?.ok).toBe(true);
    const stats = tracer.stats();
    expect(stats.plugins.find((p) => p.name === 'broken')).toMatchObject({ received: 2, hookErrors: 5 });
    expect(stats.errors['plugin:broken.onEnd']).toBe(2);
    expect(onError).toHaveBeenCalledWith(
      expect.objectContaining({ source: 'plugin:broken.onStart', level: 'error' }),
    );
  });

  it('a plugin whose onEnd rejects asynchronously leaves no unhandled rejection', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    const rejecting: Plugin = { name: 'rejecting', onEnd: () => Promise.reject(new Error('later')) as never };
    const { tracer } = tracerWith([rejecting]);
    tracer.tool('t', () => 1);
    await new Promise((r) => setTimeout(r, 10));
    process.off('unhandledRejection', unhandled);
    expect(unhandled).not.toHaveBeenCalled();
    expect(tracer.stats().errors['plugin:rejecting.onEnd']).toBe(1);
  });

  it('a plugin whose flush hangs makes flush time out at its deadline, others still flush', async () => {
    const hanging: Plugin = { name: 'hanging', onEnd() {}, flush: () => new Promise(() => {}) };
    const { tracer, memory } = tracerWith([hanging]);
    tracer.tool('t', () => 1);
    const started = Date.now();
    const report = await tracer.flush({ timeoutMs: 100 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(report).toMatchObject({ ok: false, timedOut: true });
    expect(report.plugins.hanging).toEqual({ ok: false, timedOut: true });
    expect(report.plugins.memory).toEqual({ ok: true, timedOut: false });
    expect(memory.flushes).toBe(1);
  });

  it('a plugin whose flush rejects is reported, with secrets scrubbed', async () => {
    const failing: Plugin = {
      name: 'failing',
      onEnd() {},
      flush: () => Promise.reject(new Error('401 for Authorization: Bearer abcdefghijklmnop')),
    };
    const { tracer, onError } = tracerWith([failing]);
    const report = await tracer.flush();
    expect(report.ok).toBe(false);
    expect(report.plugins.failing?.ok).toBe(false);
    const messages = onError.mock.calls.map(([r]) => (r as { message: string }).message).join('\n');
    expect(messages).toContain('401');
    expect(messages).not.toContain('abcdefghijklmnop');
    expect(report.plugins.failing?.error).not.toContain('abcdefghijklmnop');
  });

  it('shutdown has one overall deadline even when a plugin hangs', async () => {
    const hanging: Plugin = { name: 'hanging', onEnd() {}, shutdown: () => new Promise(() => {}) };
    const { tracer } = tracerWith([hanging]);
    const started = Date.now();
    const report = await tracer.shutdown({ timeoutMs: 150 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(report.timedOut).toBe(true);
  });

  it('keeps the process alive while it waits for plugins, even on their unref’d timers', async () => {
    // A plugin whose delivery waits on a timer it unref'd (a retry backoff). If the tracer's own
    // deadline timer were unref'd too, nothing would keep Node running: an awaited shutdown would
    // never return and the process would exit (code 13 for a top-level await) with the data lost.
    let delivered = false;
    const backoff: Plugin = {
      name: 'backoff',
      onEnd() {},
      shutdown: () =>
        new Promise<void>((resolve) => {
          setTimeout(() => {
            delivered = true;
            resolve();
          }, 50).unref();
        }),
    };
    const { tracer } = tracerWith([backoff]);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const closing = tracer.shutdown({ timeoutMs: 5_000 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers()).toBeGreaterThan(before);
    const report = await closing;
    expect(delivered).toBe(true);
    expect(report.ok).toBe(true);
    // Cleared once the plugins settled: nothing is left holding the process.
    expect(timers()).toBe(before);
  });

  it('rate-limits reports per source but keeps counting', async () => {
    const broken: Plugin = {
      name: 'noisy',
      onEnd() {
        throw new Error('again');
      },
    };
    const { tracer, onError } = tracerWith([broken]);
    for (let i = 0; i < 50; i++) tracer.tool('t', () => i);
    expect(onError).toHaveBeenCalledTimes(10);
    expect(tracer.stats().errors['plugin:noisy.onEnd']).toBe(50);
  });

  it('a throwing error handler does not reach the app', () => {
    const broken: Plugin = {
      name: 'b',
      onEnd() {
        throw new Error('x');
      },
    };
    const { tracer } = tracerWith(
      [broken],
      vi.fn(() => {
        throw new Error('handler broke');
      }),
    );
    expect(tracer.tool('t', () => 'fine')).toBe('fine');
  });

  it('merges a plugin’s own counters into stats', () => {
    const counting: Plugin = {
      name: 'counting',
      onEnd() {},
      stats: () => ({ exported: 3, queued: 2, dropped: { 'queue-full': 1 }, failed: 4 }),
    };
    const { tracer } = tracerWith([counting]);
    expect(tracer.stats().plugins[0]).toEqual({
      name: 'counting',
      received: 0,
      hookErrors: 0,
      exported: 3,
      queued: 2,
      dropped: { 'queue-full': 1 },
      failed: 4,
    });
  });
});
