import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import { observer } from './compose.js';
import { ErrorReporter } from './error-handler.js';
import { SpanchainError } from './errors.js';
import type { Plugin } from './plugin.js';
import type { Step } from './step.js';
import { MemoryPlugin } from './testing/index.js';
import { createTracer } from './tracer.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup(options: Parameters<typeof createTracer>[0] = {}) {
  const memory = new MemoryPlugin();
  const tracer = createTracer({
    flushOnExit: false,
    ...options,
    plugins: [memory, ...(options.plugins ?? [])],
  });
  return { memory, tracer };
}

describe('nesting', () => {
  it('nests steps under the active step, in one trace', async () => {
    const { memory, tracer } = setup();
    await tracer.agent('root', async () => {
      await tracer.retrieval('search', async () => ['doc']);
      await tracer.llm({ model: 'gpt-4o' }, async () => {
        await tracer.tool('lookup', async () => 42);
      });
    });
    const root = memory.one('root');
    const llm = memory.one('gpt-4o');
    expect(memory.steps).toHaveLength(4);
    expect(new Set(memory.steps.map((s) => s.traceId))).toEqual(new Set([root.traceId]));
    expect(memory.one('search').parentSpanId).toBe(root.spanId);
    expect(llm.parentSpanId).toBe(root.spanId);
    expect(memory.one('lookup').parentSpanId).toBe(llm.spanId);
    expect(root.parentSpanId).toBeUndefined();
    expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(root.spanId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('keeps 1,000 concurrent pipelines apart', async () => {
    const { memory, tracer } = setup();
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        tracer.chain(`pipeline-${i}`, async () => {
          await tick();
          await tracer.retrieval(`r-${i}`, async () => {
            await tick();
          });
          await Promise.all([tracer.llm(`l-${i}`, async () => tick()), tracer.tool(`t-${i}`, () => i)]);
        }),
      ),
    );
    expect(memory.steps).toHaveLength(4000);
    const byName = new Map(memory.steps.map((s) => [s.name, s]));
    for (let i = 0; i < 1000; i++) {
      const root = byName.get(`pipeline-${i}`)!;
      for (const child of [`r-${i}`, `l-${i}`, `t-${i}`]) {
        const step = byName.get(child)!;
        expect(step.parentSpanId).toBe(root.spanId);
        expect(step.traceId).toBe(root.traceId);
      }
    }
    expect(new Set(memory.steps.map((s) => s.traceId)).size).toBe(1000);
  });
});

describe('return values', () => {
  it('keeps a synchronous function synchronous', () => {
    const { memory, tracer } = setup();
    const value = tracer.prompt('build', () => 'text');
    expect(value).toBe('text');
    expect(memory.one('build').output).toBe('text');
  });

  it('keeps a synchronous function synchronous under observer middleware', async () => {
    const seen: unknown[] = [];
    const { memory, tracer } = setup({
      use: [
        observer(async (step, next) => {
          await next();
          seen.push(step.output);
        }),
      ],
    });
    const value = tracer.prompt('build', () => 'text');
    expect(value).toBe('text');
    await tracer.flush();
    expect(seen).toEqual(['text']);
    expect(memory.one('build').status).toBe('ok');
  });

  it('returns the very promise the function returned, with its extra methods', async () => {
    class ApiPromise<T> extends Promise<T> {
      withResponse() {
        return 'raw';
      }
    }
    const { memory, tracer } = setup();
    let made: ApiPromise<string> | undefined;
    const returned = tracer.llm('call', () => {
      made = new ApiPromise<string>((resolve) => resolve('answer'));
      return made;
    });
    expect(returned).toBe(made);
    expect(returned.withResponse()).toBe('raw');
    expect(await returned).toBe('answer');
    await tracer.flush();
    expect(memory.one('call').output).toBe('answer');
  });

  it('returns the very promise under an observer chain too', async () => {
    const { tracer } = setup({ use: [observer(async (_s, next) => next())] });
    const made = Promise.resolve(1);
    expect(tracer.tool('t', () => made)).toBe(made);
  });

  it('hands back a value that throws when asked whether it is a promise or a stream', async () => {
    // Asking for `then`, Symbol.asyncIterator or getReader must not throw into the app: calling the
    // function untraced would not have thrown.
    const trap = new Proxy(
      {},
      {
        get: () => {
          throw new Error('get trap');
        },
      },
    );
    const thenGetter = Object.defineProperty({}, 'then', {
      get() {
        throw new Error('then getter');
      },
    });
    const { memory, tracer } = setup();
    expect(tracer.custom('proxy', () => trap)).toBe(trap);
    expect(tracer.custom('getter', () => thenGetter)).toBe(thenGetter);
    const chained = setup({ use: [observer(async (_s, next) => next())] });
    expect(chained.tracer.custom('chained', () => trap)).toBe(trap);
    await tracer.flush();
    await chained.tracer.flush();
    expect(memory.one('proxy').status).toBe('ok');
    expect(memory.one('getter').status).toBe('ok');
    expect(chained.memory.one('chained').status).toBe('ok');
  });
});

describe('errors', () => {
  it('rethrows the same error object, synchronously, and records it', () => {
    const { memory, tracer } = setup();
    const cause = new RangeError('inner');
    const error = Object.assign(new TypeError('outer', { cause }), { code: 'E_BAD' });
    let thrown: unknown;
    try {
      tracer.tool('t', () => {
        throw error;
      });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBe(error);
    const step = memory.one('t');
    expect(step.status).toBe('error');
    expect(step.error).toMatchObject({
      type: 'TypeError',
      message: 'outer',
      code: 'E_BAD',
      cause: { type: 'RangeError', message: 'inner' },
    });
    expect(step.error?.stack).toContain('TypeError: outer');
  });

  it('rejects with the same error object and records it', async () => {
    const { memory, tracer } = setup();
    const error = new Error('async boom');
    await expect(
      tracer.llm('l', async () => {
        throw error;
      }),
    ).rejects.toBe(error);
    await tracer.flush();
    expect(memory.one('l')).toMatchObject({
      status: 'error',
      error: { type: 'Error', message: 'async boom' },
    });
  });

  it('records what it can of a thrown value whose getters or proxy traps throw, and rethrows it as it is', async () => {
    // Reading the thrown value must never throw: synchronously that would replace the app's error,
    // asynchronously it would be an unhandled rejection (which ends a Node process by default).
    const trap = new Proxy(
      {},
      {
        getPrototypeOf: () => {
          throw new Error('getPrototypeOf trap');
        },
        has: () => {
          throw new Error('has trap');
        },
      },
    );
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    const badMessage = new TypeError('x');
    Object.defineProperty(badMessage, 'message', {
      get() {
        throw new Error('message getter');
      },
    });
    const { memory, tracer } = setup();
    for (const [name, value] of [
      ['trap', trap],
      ['revoked', revoked],
      ['message', badMessage],
    ] as const) {
      let thrown: unknown;
      try {
        tracer.custom(`sync-${name}`, () => {
          throw value;
        });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBe(value);
      await expect(
        tracer.custom(`async-${name}`, async () => {
          throw value;
        }),
      ).rejects.toBe(value);
    }
    await tracer.flush();
    expect(memory.steps).toHaveLength(6);
    for (const step of memory.steps) expect(step.status).toBe('error');
    expect(memory.one('async-message').error).toMatchObject({ type: 'TypeError', message: '' });
    expect(memory.one('sync-trap').error).toEqual({ type: 'object', message: '' });
  });

  it('records non-Error throws', async () => {
    const { memory, tracer } = setup();
    await expect(tracer.tool('t', () => Promise.reject('just a string'))).rejects.toBe('just a string');
    await tracer.flush();
    expect(memory.one('t').error).toEqual({ type: 'string', message: 'just a string' });
  });

  it('rethrows the original error through a middleware chain', async () => {
    const { tracer } = setup({ use: [async (_s, next) => next()] });
    const error = new Error('through chain');
    await expect(
      tracer.tool('t', async () => {
        throw error;
      }),
    ).rejects.toBe(error);
  });

  it('records trace fields and identity on failed steps too', async () => {
    const { memory, tracer } = setup();
    await tracer
      .agent(
        {
          name: 'root',
          trace: { userId: 'u1', sessionId: 's1', tags: ['beta'] },
          identity: { team: 'search' },
        },
        async () => {
          await tracer.tool('fails', async () => {
            throw new Error('x');
          });
        },
      )
      .catch(() => {});
    const failed = memory.one('fails');
    expect(failed.status).toBe('error');
    expect(failed.trace).toMatchObject({ userId: 'u1', sessionId: 's1', tags: ['beta'] });
    expect(failed.identity).toEqual({ team: 'search' });
  });
});

describe('emit', () => {
  it('refuses what is not a step, reporting it instead of delivering it', async () => {
    const reports: string[] = [];
    const { memory, tracer } = setup({ onError: (r) => reports.push(`${r.source}: ${r.message}`) });
    tracer.emit('cache-miss' as never);
    tracer.emit({ name: 'half' } as never);
    await tracer.flush();
    expect(memory.steps).toHaveLength(0);
    expect(reports).toHaveLength(2);
    expect(reports[0]).toMatch(/^emit: .*expects a step record/);
  });
});

describe('manual steps', () => {
  it('ends once: a second end or fail is ignored', async () => {
    const { memory, tracer } = setup();
    const step = tracer.startStep('llm', { name: 'manual', model: 'm' });
    step.update({ usage: { inputTokens: 3, outputTokens: 4 } });
    step.end('done');
    step.end('again');
    step.fail(new Error('late'));
    step.update({ model: 'changed' });
    await tracer.flush();
    expect(memory.steps).toHaveLength(1);
    expect(memory.one('manual')).toMatchObject({
      status: 'ok',
      output: 'done',
      model: 'm',
      usage: { inputTokens: 3, outputTokens: 4 },
    });
  });

  it('fails with the error recorded', async () => {
    const { memory, tracer } = setup();
    tracer.startStep('tool', 'broken').fail(new Error('nope'));
    expect(memory.one('broken')).toMatchObject({ status: 'error', error: { message: 'nope' } });
  });

  it('runs middleware around a manual step', async () => {
    const { memory, tracer } = setup({
      use: [
        async (step, next) => {
          await next();
          step.setAttributes({ seen: String(step.output) });
        },
      ],
    });
    const step = tracer.startStep('tool', 'm');
    step.end('out');
    await tracer.flush();
    expect(memory.one('m').attributes).toEqual({ seen: 'out' });
  });

  it('is not active unless asked: context() makes it so', async () => {
    const { memory, tracer } = setup();
    const parent = tracer.startStep('chain', 'cb-parent');
    tracer.tool('outside', () => 1);
    const { context } = await import('@opentelemetry/api');
    context.with(parent.context(), () => tracer.tool('inside', () => 1));
    parent.end();
    expect(memory.one('outside').parentSpanId).toBeUndefined();
    expect(memory.one('inside').parentSpanId).toBe(parent.spanId);
  });
});

describe('middleware chain', () => {
  it('lets code after next() see the output', async () => {
    const outputs: unknown[] = [];
    const { tracer } = setup({
      use: [
        async (step, next) => {
          await next();
          outputs.push(step.output);
        },
      ],
    });
    await tracer.tool('t', async () => 'result');
    expect(outputs).toEqual(['result']);
  });

  it('lets a middleware short-circuit with a result', async () => {
    const fn = vi.fn(async () => 'fresh');
    const { memory, tracer } = setup({
      use: [
        async (step) => {
          step.returnValue = 'cached';
        },
      ],
    });
    expect(await tracer.llm('l', fn)).toBe('cached');
    expect(fn).not.toHaveBeenCalled();
    await tracer.flush();
    expect(memory.one('l')).toMatchObject({ status: 'ok', output: 'cached' });
  });

  it('marks a recovered error as ok and keeps it as an event', async () => {
    const { memory, tracer } = setup({
      use: [
        async (step, next) => {
          try {
            await next();
          } catch {
            step.returnValue = 'fallback value';
          }
        },
      ],
    });
    expect(
      await tracer.tool('t', async () => {
        throw new Error('flaky');
      }),
    ).toBe('fallback value');
    await tracer.flush();
    const step = memory.one('t');
    expect(step.status).toBe('ok');
    expect(step.error).toBeUndefined();
    expect(step.events.map((e) => e.name)).toContain('error-recovered');
  });

  it('scopes a middleware to kinds: others pay nothing and keep promise identity', async () => {
    const { forKinds } = await import('./compose.js');
    const calls: string[] = [];
    const { tracer } = setup({
      use: [
        forKinds(['llm'], async (step, next) => {
          calls.push(step.kind);
          await next();
        }),
      ],
    });
    const made = Promise.resolve(1);
    expect(tracer.tool('t', () => made)).toBe(made);
    await tracer.llm('l', async () => 1);
    expect(calls).toEqual(['llm']);
  });

  it('rejects when a middleware calls next() twice, without running the function twice', async () => {
    const fn = vi.fn(async () => 1);
    const { tracer } = setup({
      use: [
        async (_s, next) => {
          await next();
          await next();
        },
      ],
    });
    const error = await tracer.tool('t', fn).catch((e: unknown) => e);
    expect(SpanchainError.isInstance(error) && error.code).toBe('NEXT_CALLED_MULTIPLE_TIMES');
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe('trace fields, identity and continuation', () => {
  it('hashes an API key and never stores it', async () => {
    const { memory, tracer } = setup();
    const apiKey = 'sk-live-0123456789abcdef';
    await tracer.llm({ name: 'l', identity: { team: 'ml', keyAlias: 'prod', apiKey } }, async () => 1);
    const step = memory.one('l');
    expect(step.identity?.keyHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(step)).not.toContain(apiKey);
    expect(step.identity).toMatchObject({ team: 'ml', keyAlias: 'prod' });
  });

  it('joins an existing trace by id and limits the trace keys it may write', async () => {
    const { memory, tracer } = setup();
    const existing = '4bf92f3577b34da6a3ce929d0e0e4736';
    await tracer.chain(
      {
        name: 'joined',
        existingTraceId: existing.toUpperCase(),
        updateTraceKeys: ['output'],
        trace: { name: 'ignored?' },
      },
      async () => tracer.tool('child', () => 1),
    );
    const joined = memory.one('joined');
    expect(joined.traceId).toBe(existing);
    expect(joined.parentSpanId).toBeUndefined();
    expect(joined.parentIsRemote).toBe(true);
    expect(joined.traceKeys).toEqual(['output']);
    expect(memory.one('child').traceKeys).toEqual(['output']);
    expect(memory.one('child').traceId).toBe(existing);
  });

  it('accepts a UUID as existing trace id and a parent span id', async () => {
    const { memory, tracer } = setup();
    await tracer.chain(
      {
        name: 'j',
        existingTraceId: '4bf92f35-77b3-4da6-a3ce-929d0e0e4736',
        existingParentSpanId: '00f067aa0ba902b7',
      },
      () => 1,
    );
    expect(memory.one('j')).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentSpanId: '00f067aa0ba902b7',
    });
  });

  it('ignores a malformed existing trace id with a warning, starting a new trace', async () => {
    const onError = vi.fn();
    const { memory, tracer } = setup({ onError });
    await tracer.chain({ name: 'j', existingTraceId: 'not-an-id' }, () => 1);
    expect(memory.one('j').traceKeys.length).toBeGreaterThan(5);
    expect(onError).toHaveBeenCalledWith(
      expect.objectContaining({ source: 'step.existingTraceId', level: 'warning' }),
    );
    expect(tracer.stats().errors['step.existingTraceId']).toBe(1);
  });

  it('gives a new trace every trace key', async () => {
    const { memory, tracer } = setup();
    await tracer.chain('root', () => 1);
    expect(memory.one('root').traceKeys).toContain('name');
  });

  it('shares trace fields across the steps of one trace', async () => {
    const { memory, tracer } = setup();
    await tracer.agent({ name: 'root', trace: { name: 'support' } }, async (root) => {
      await tracer.tool('t', (step) => step.updateTrace({ userId: 'late-user' }));
      root.updateTrace({ output: 'final' });
    });
    expect(memory.one('root').trace).toMatchObject({ name: 'support', userId: 'late-user', output: 'final' });
    expect(memory.one('t').trace).toBe(memory.one('root').trace);
  });

  it('follows an explicit parent over the active step', async () => {
    const { memory, tracer } = setup();
    const other = tracer.startStep('chain', 'other');
    await tracer.chain('active', async () => tracer.tool({ name: 'child', parent: other }, () => 1));
    other.end();
    expect(memory.one('child').parentSpanId).toBe(other.spanId);
  });

  it('takes a traceparent string as parent', async () => {
    const { memory, tracer } = setup();
    tracer.tool(
      { name: 'remote-child', parent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      () => 1,
    );
    expect(memory.one('remote-child')).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentSpanId: 'b7ad6b7169203331',
      parentIsRemote: true,
      traceKeys: [],
    });
  });

  it('an unsampled remote parent makes an unsampled step that no plugin receives', async () => {
    const { memory, tracer } = setup();
    tracer.tool({ name: 'x', parent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' }, () => 1);
    expect(memory.steps).toHaveLength(0);
    expect(tracer.stats().steps.unsampled).toBe(1);
  });
});

describe('lifecycle', () => {
  it('is disabled by option: the function runs, nothing is recorded', async () => {
    const memory = new MemoryPlugin();
    const tracer = createTracer({ plugins: [memory], enabled: false, flushOnExit: false });
    const made = Promise.resolve(5);
    expect(tracer.llm('l', () => made)).toBe(made);
    expect(tracer.tool('t', (step) => step.traceId)).toBe('00000000000000000000000000000000');
    expect(memory.steps).toHaveLength(0);
  });

  it('shuts down once and traces nothing afterwards', async () => {
    const { memory, tracer } = setup();
    tracer.tool('before', () => 1);
    const first = tracer.shutdown();
    expect(tracer.shutdown()).toBe(first);
    const report = await first;
    expect(report.ok).toBe(true);
    expect(memory.shutdowns).toBe(1);
    expect(tracer.tool('after', () => 2)).toBe(2);
    expect(memory.steps.map((s) => s.name)).toEqual(['before']);
  });

  it('on shutdown, a plugin with a shutdown hook delivers there, with the whole deadline', async () => {
    const calls: string[] = [];
    const queued: Step[] = [];
    const exporter: Plugin = {
      name: 'slow-backend',
      onEnd: (step) => queued.push(step),
      // A flush waiting on a backend that never answers would eat the whole deadline.
      flush: () => {
        calls.push('flush');
        return new Promise(() => {});
      },
      shutdown: ({ deadline }) => {
        calls.push(`shutdown with ${deadline - Date.now() > 300 ? 'time left' : 'no time'}`);
        return Promise.resolve();
      },
      stats: () => ({ exported: queued.length }),
    };
    const flushOnly: Plugin = {
      name: 'flush-only',
      onEnd() {},
      flush: async () => void calls.push('flush-only'),
    };
    const tracer = createTracer({ plugins: [exporter, flushOnly], flushOnExit: false });
    tracer.tool('t', () => 1);
    const report = await tracer.shutdown({ timeoutMs: 500 });
    expect(calls.sort()).toEqual(['flush-only', 'shutdown with time left']);
    expect(report).toMatchObject({ ok: true, timedOut: false, exported: 1 });
  });

  it("a plugin's own error reporter reaches the tracer's onError once attached", () => {
    const own = new ErrorReporter();
    const attached: unknown[] = [];
    const plugin: Plugin = {
      name: 'reporting',
      onEnd() {},
      attach(context) {
        attached.push(context.errors);
        own.forwardTo(context.errors);
      },
    };
    const onError = vi.fn();
    const tracer = createTracer({ plugins: [plugin], onError, flushOnExit: false });
    expect(attached).toHaveLength(1);
    own.warn('plugin:reporting.export', 'the backend answered 503');
    expect(onError).toHaveBeenCalledWith(
      expect.objectContaining({ source: 'plugin:reporting.export', level: 'warning' }),
    );
    expect(tracer.stats().errors['plugin:reporting.export']).toBe(1);
  });

  it('counts steps in stats', async () => {
    const { tracer } = setup();
    await tracer.chain('a', async () => tracer.tool('b', () => 1));
    const stats = tracer.stats();
    expect(stats.steps).toMatchObject({ started: 2, ended: 2, open: 0 });
    expect(stats.plugins[0]).toMatchObject({ name: 'memory', received: 2, hookErrors: 0 });
  });
});

describe('types (checked by the typecheck step)', () => {
  it('returns exactly the function’s type and shows the kind’s fields on the handle', async () => {
    const { tracer } = setup();
    expectTypeOf(tracer.prompt('p', () => 1)).toEqualTypeOf<number>();
    expectTypeOf(tracer.llm('l', async () => 'a')).toEqualTypeOf<Promise<string>>();
    const gen = tracer.llm('g', async function* () {
      yield 1;
    });
    expectTypeOf(gen).toEqualTypeOf<AsyncGenerator<number, void, unknown>>();
    for await (const _ of gen) {
      // consume
    }
    tracer.llm({ model: 'm' }, (step) => {
      expectTypeOf(step.model).toEqualTypeOf<string | undefined>();
      expectTypeOf(step.update).parameter(0).toHaveProperty('usage');
      return step.model;
    });
    tracer.retrieval({ query: 'q' }, (step) => {
      expectTypeOf(step.documents).toEqualTypeOf<import('./step.js').Document[] | undefined>();
    });
    expect(tracer.stats().steps.ended).toBe(5);
  });
});
