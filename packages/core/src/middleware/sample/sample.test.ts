import { describe, expect, it } from 'vitest';
import type { Middleware } from '../../compose.js';
import { SpanchainError } from '../../errors.js';
import { newSpanId, newTraceId } from '../../ids.js';
import type { Step } from '../../step.js';
import { MemoryPlugin } from '../../testing/index.js';
import { createTracer } from '../../tracer.js';
import { isTraceSampled, resolveSampleOptions, type SampleOptions, sample } from './index.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup(options: SampleOptions = {}, use: { before?: Middleware[]; after?: Middleware[] } = {}) {
  const memory = new MemoryPlugin();
  const sampler = sample(options);
  const tracer = createTracer({
    flushOnExit: false,
    plugins: [memory],
    use: [...(use.before ?? []), sampler, ...(use.after ?? [])],
  });
  return { memory, sampler, tracer };
}

const traceIds = (steps: Step[]) => new Set(steps.map((s) => s.traceId));

describe('head sampling', () => {
  it('decides the same for the same trace ids in two tracers', async () => {
    const ids = Array.from({ length: 2_000 }, () => newTraceId());
    const first = setup({ ratio: 0.3 });
    const second = setup({ ratio: 0.3 });
    for (const id of ids) {
      first.tracer.agent({ name: 'root', existingTraceId: id }, () => 1);
      second.tracer.chain({ name: 'other', existingTraceId: id }, () => 2);
    }
    await Promise.all([first.tracer.flush(), second.tracer.flush()]);
    const a = traceIds(first.memory.steps);
    const b = traceIds(second.memory.steps);
    expect(a).toEqual(b);
    expect(a).toEqual(new Set(ids.filter((id) => isTraceSampled(id, 0.3))));
    expect(a.size).toBeGreaterThan(450);
    expect(a.size).toBeLessThan(750);
    expect(first.sampler.stats()).toMatchObject({ headSampled: a.size, headDropped: 2_000 - a.size });
  });

  it('samples about the configured share of new traces', async () => {
    const { memory, sampler, tracer } = setup({ ratio: 0.25 });
    for (let i = 0; i < 10_000; i++) tracer.custom('root', () => i);
    await tracer.flush();
    // Standard deviation sqrt(10,000 * 0.25 * 0.75) ≈ 43; allow five.
    expect(Math.abs(memory.steps.length - 2_500)).toBeLessThan(220);
    expect(sampler.stats().headSampled).toBe(memory.steps.length);
    expect(memory.steps.every((s) => s.sampled && (s.traceFlags & 1) === 1)).toBe(true);
  });

  it('keeps at a lower ratio a subset of the traces kept at a higher one', async () => {
    const ids = Array.from({ length: 2_000 }, () => newTraceId());
    const low = setup({ ratio: 0.1 });
    const high = setup({ ratio: 0.4 });
    for (const id of ids) {
      low.tracer.custom({ name: 'root', existingTraceId: id }, () => 1);
      high.tracer.custom({ name: 'root', existingTraceId: id }, () => 1);
    }
    await Promise.all([low.tracer.flush(), high.tracer.flush()]);
    const kept = traceIds(high.memory.steps);
    expect(low.memory.steps.length).toBeGreaterThan(100);
    expect(low.memory.steps.length).toBeLessThan(kept.size);
    expect(low.memory.steps.every((s) => kept.has(s.traceId))).toBe(true);
  });

  it('makes children follow their root, all or nothing per trace', async () => {
    const { memory, tracer } = setup({ ratio: 0.5 });
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        tracer.agent(`root-${i}`, async () => {
          await tick();
          await tracer.llm('llm', async () => {
            await tracer.tool('tool', () => i);
          });
        }),
      ),
    );
    await tracer.flush();
    const byTrace = new Map<string, Step[]>();
    for (const s of memory.steps) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
    expect(byTrace.size).toBeGreaterThan(50);
    expect(byTrace.size).toBeLessThan(150);
    for (const [traceId, steps] of byTrace) {
      expect(steps.map((s) => s.kind).sort()).toEqual(['agent', 'llm', 'tool']);
      expect(isTraceSampled(traceId, 0.5)).toBe(true);
    }
  });

  it('follows an unsampled remote parent when parent-based, and re-decides when not', async () => {
    const parent = `00-${newTraceId()}-${newSpanId()}-00`;
    const based = setup({ ratio: 1 });
    await based.tracer.agent({ name: 'handler', parent }, async () => {
      await based.tracer.tool('lookup', () => 1);
    });
    await based.tracer.flush();
    expect(based.memory.steps).toEqual([]);
    expect(based.sampler.stats()).toMatchObject({ headSampled: 0, headDropped: 1 });

    const independent = setup({ ratio: 1, parentBased: false });
    let traceparent = '';
    await independent.tracer.agent({ name: 'handler', parent }, async (step) => {
      await independent.tracer.tool('lookup', () => 1);
      traceparent = step.traceparent();
    });
    await independent.tracer.flush();
    expect(independent.memory.steps.map((s) => s.name)).toEqual(['lookup', 'handler']);
    expect(traceparent.endsWith('-01')).toBe(true);
  });

  it('follows a sampled remote parent even at ratio 0', async () => {
    const { memory, tracer } = setup({ ratio: 0 });
    await tracer.agent({ name: 'handler', parent: `00-${newTraceId()}-${newSpanId()}-01` }, () => 1);
    await tracer.agent('local', () => 1);
    await tracer.flush();
    expect(memory.steps.map((s) => s.name)).toEqual(['handler']);
  });

  it('lets the per-call option force a trace in or out', async () => {
    const none = setup({ ratio: 0 });
    await none.tracer.agent({ name: 'forced-in', sample: true }, async () => {
      await none.tracer.tool('child', () => 1);
    });
    await none.tracer.flush();
    expect(none.memory.steps.map((s) => s.name)).toEqual(['child', 'forced-in']);

    const all = setup({ ratio: 1, tail: { errors: true } });
    await expect(
      all.tracer.agent({ name: 'forced-out', sample: false }, async () => {
        await all.tracer.tool('child', () => {
          throw new Error('boom');
        });
      }),
    ).rejects.toThrow('boom');
    await all.tracer.agent('normal', () => 1);
    await all.tracer.flush();
    expect(all.memory.steps.map((s) => s.name)).toEqual(['normal']);
    expect(all.sampler.stats()).toMatchObject({ headDropped: 1, tailKept: 0, tailPending: 0 });
  });
});

describe('tail sampling', () => {
  it('keeps a trace with an error and drops a fast one that succeeded', async () => {
    const { memory, sampler, tracer } = setup({ ratio: 0, tail: { errors: true } });
    const answer = await tracer.agent('failing', async () => {
      await tracer.retrieval('search', async () => ['doc']);
      try {
        await tracer.tool('lookup', async () => {
          throw new Error('tool down');
        });
      } catch {
        return 'fallback answer';
      }
    });
    await tracer.agent('fine', async () => {
      await tracer.tool('lookup', async () => 1);
    });
    await tracer.flush();
    expect(answer).toBe('fallback answer');
    expect(memory.steps.map((s) => s.name)).toEqual(['search', 'lookup', 'failing']);
    expect(memory.steps.every((s) => s.sampled && s.name !== 'fine')).toBe(true);
    expect(memory.one('lookup').status).toBe('error');
    expect(traceIds(memory.steps).size).toBe(1);
    expect(memory.started).toEqual([]);
    expect(sampler.stats()).toMatchObject({ headDropped: 2, tailKept: 1, tailDropped: 1, tailPending: 0 });
  });

  it('keeps a trace whose root throws, and the caller still gets the error', async () => {
    const { memory, tracer } = setup({ ratio: 0, tail: {} });
    const failure = new Error('root failed');
    await expect(
      tracer.chain('root', async () => {
        await tracer.llm('call', async () => 'ok');
        throw failure;
      }),
    ).rejects.toBe(failure);
    await tracer.flush();
    expect(memory.steps.map((s) => `${s.name}:${s.status}`)).toEqual(['call:ok', 'root:error']);
  });

  it('keeps a trace whose root lasted longer than latencyMs', async () => {
    const { memory, sampler, tracer } = setup({ ratio: 0, tail: { errors: false, latencyMs: 1_000 } });
    await tracer.agent({ name: 'slow', startTime: Date.now() - 5_000 }, async () => {
      await tracer.llm('call', async () => 'late');
    });
    await tracer
      .agent('quick', async () => {
        await tracer.llm('call', async () => {
          throw new Error('ignored: errors rule is off');
        });
      })
      .catch(() => undefined);
    await tracer.flush();
    expect(memory.steps.map((s) => s.name)).toEqual(['call', 'slow']);
    expect(sampler.stats()).toMatchObject({ tailKept: 1, tailDropped: 1 });
  });

  it('propagates the sampled flag from a held trace so downstream spans record', async () => {
    const { tracer } = setup({ ratio: 0, tail: { errors: true } });
    const headers: Record<string, string> = {};
    await tracer.agent('held', async () => {
      await tracer.tool('call', () => tracer.inject(headers));
    });
    expect(headers.traceparent).toMatch(/-01$/);

    const untailed = setup({ ratio: 0 });
    const plain: Record<string, string> = {};
    await untailed.tracer.agent('dropped', () => untailed.tracer.inject(plain));
    expect(plain.traceparent).toMatch(/-00$/);
  });

  it('delivers each step of a kept trace once, whatever middleware surrounds it', async () => {
    const outer: Middleware = async (_step, next) => {
      await next();
      await Promise.resolve();
    };
    const inner: Middleware = async (_step, next) => {
      await tick();
      await next();
    };
    const { memory, tracer } = setup({ ratio: 0, tail: {} }, { before: [outer], after: [inner] });
    await expect(
      tracer.agent('root', async () => {
        await Promise.all([tracer.llm('a', async () => 'x'), tracer.tool('b', () => 'y')]);
        await tracer.retrieval('c', async () => {
          throw new Error('index gone');
        });
      }),
    ).rejects.toThrow('index gone');
    await tracer.flush();
    expect(memory.steps.map((s) => s.name).sort()).toEqual(['a', 'b', 'c', 'root']);
    expect(memory.steps.at(-1)?.name).toBe('root');
    expect(new Set(memory.steps.map((s) => s.spanId)).size).toBe(4);
  });

  it('delivers a kept trace before flush() resolves, even when the caller did not wait', async () => {
    const { memory, tracer } = setup({ ratio: 0, tail: {} });
    tracer
      .agent('root', async () => {
        await tracer.tool('t', async () => {
          throw new Error('x');
        });
      })
      .catch(() => undefined);
    await tick();
    await tracer.flush();
    expect(memory.steps.map((s) => s.name)).toEqual(['t', 'root']);
  });

  it('delivers the late steps of a kept trace as they end', async () => {
    const { memory, tracer } = setup({ ratio: 0, tail: {} });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let late: Promise<unknown> | undefined;
    await tracer
      .agent('root', async () => {
        late = tracer.tool('background', async () => gate);
        throw new Error('root failed');
      })
      .catch(() => undefined);
    await tracer.flush();
    expect(memory.steps.map((s) => s.name)).toEqual(['root']);
    release();
    await late;
    await tracer.flush();
    expect(memory.steps.map((s) => s.name)).toEqual(['root', 'background']);
  });

  it('bounds the steps held per trace and counts what it dropped', async () => {
    const { memory, sampler, tracer } = setup({ ratio: 0, tail: { maxStepsPerTrace: 2 } });
    await tracer
      .agent('root', async () => {
        for (let i = 0; i < 5; i++) await tracer.tool(`t${i}`, async () => i);
        throw new Error('after five tools');
      })
      .catch(() => undefined);
    await tracer.flush();
    expect(memory.steps.map((s) => s.name)).toEqual(['t0', 't1', 'root']);
    expect(sampler.stats()).toMatchObject({ tailKept: 1, tailOverflow: 3 });
  });

  it('bounds the traces held at once: a trace beyond it is not held, and counted', async () => {
    const { memory, sampler, tracer } = setup({ ratio: 0, tail: { maxTraces: 1 } });
    const first = tracer.startStep('agent', 'first');
    const second = tracer.startStep('agent', 'second');
    expect(first.traceFlags & 1).toBe(1);
    expect(second.traceFlags & 1).toBe(0);
    expect(sampler.stats()).toMatchObject({ tailOverflow: 1, tailPending: 1 });
    second.fail(new Error('not held, so not kept'));
    first.fail(new Error('held, so kept'));
    await tracer.flush();
    expect(memory.steps.map((s) => s.name)).toEqual(['first']);
  });

  it('drops a held trace whose root never ends after timeoutMs', async () => {
    const { memory, sampler, tracer } = setup({ ratio: 0, tail: { timeoutMs: 5 } });
    const abandoned = tracer.startStep('agent', 'abandoned');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await tracer.agent('next', () => 1);
    expect(sampler.stats()).toMatchObject({ tailExpired: 1, tailDropped: 1, tailPending: 0 });
    abandoned.fail(new Error('too late'));
    await tracer.flush();
    expect(memory.steps).toEqual([]);
  });

  it('gives no plugin any step of a dropped trace, at start or end', async () => {
    const { memory, tracer } = setup({ ratio: 0.5, tail: { latencyMs: 60_000 } });
    const roots: string[] = [];
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        tracer.agent(`root-${i}`, async (step) => {
          roots.push(step.traceId);
          await tracer.llm('llm', async () => i);
        }),
      ),
    );
    await tracer.flush();
    const kept = roots.filter((id) => isTraceSampled(id, 0.5));
    expect(traceIds(memory.steps)).toEqual(new Set(kept));
    expect(traceIds(memory.started)).toEqual(new Set(kept));
    expect(memory.steps).toHaveLength(kept.length * 2);
  });
});

describe('options', () => {
  it('reads SPANCHAIN_SAMPLE_RATIO, with the option winning', () => {
    expect(resolveSampleOptions({}, { SPANCHAIN_SAMPLE_RATIO: ' 0.25 ' }).ratio).toBe(0.25);
    expect(resolveSampleOptions({ ratio: 0.5 }, { SPANCHAIN_SAMPLE_RATIO: '0.25' }).ratio).toBe(0.5);
    expect(resolveSampleOptions(undefined, {})).toEqual({ ratio: 1, parentBased: true, tail: undefined });
    expect(resolveSampleOptions({ tail: {} }, {}).tail).toEqual({
      errors: true,
      latencyMs: undefined,
      maxTraces: 1_000,
      maxStepsPerTrace: 1_000,
      timeoutMs: 60_000,
    });
  });

  it('rejects bad options and a bad environment value at construction', () => {
    expect(() => sample({ ratio: 1.5 })).toThrow(/ratio/);
    expect(() => sample({ tail: { maxTraces: 0 } })).toThrow(/tail\.maxTraces/);
    expect(() => sample({ rate: 0.1 } as SampleOptions)).toThrow(SpanchainError);
    expect(() => resolveSampleOptions({}, { SPANCHAIN_SAMPLE_RATIO: 'ten percent' })).toThrow(
      /SPANCHAIN_SAMPLE_RATIO: expected a number from 0 to 1/,
    );
  });

  it('is an observer, so the caller gets the function’s own promise', () => {
    const { sampler, tracer } = setup({ ratio: 0, tail: {} });
    const promise = Promise.resolve(42);
    expect(sampler.observer).toBe(true);
    expect(tracer.agent('root', () => promise)).toBe(promise);
  });
});
