import { describe, expect, it } from 'vitest';
import { compose, forKinds, type Middleware, middlewaresFor, observer } from './compose.js';
import { SpanchainError } from './errors.js';
import type { MiddlewareStep } from './step-record.js';

// compose never reads the step; a plain object stands in for it.
const step = { kind: 'llm' } as unknown as MiddlewareStep;
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('compose', () => {
  it('runs middlewares in onion order', async () => {
    const order: number[] = [];
    const mw =
      (n: number): Middleware =>
      async (_step, next) => {
        order.push(n);
        await wait(1);
        await next();
        await wait(1);
        order.push(n + 3);
      };
    await compose([mw(1), mw(2), mw(3)])(step, async () => {
      order.push(0);
    });
    expect(order).toEqual([1, 2, 3, 0, 6, 5, 4]);
  });

  it('works with no middleware: calls the final next', async () => {
    let called = false;
    await compose([])(step, async () => {
      called = true;
    });
    expect(called).toBe(true);
  });

  it('passes the same step to every middleware', async () => {
    const seen: unknown[] = [];
    await compose([
      async (s, next) => {
        seen.push(s);
        await next();
      },
      async (s, next) => {
        seen.push(s);
        await next();
      },
    ])(step, async () => {});
    expect(seen).toEqual([step, step]);
  });

  it('rejects when next() is called twice', async () => {
    const run = compose([
      async (_s, next) => {
        await next();
        await next();
      },
    ]);
    const error = await Promise.resolve(run(step, async () => {})).catch((e: unknown) => e);
    expect(SpanchainError.isInstance(error)).toBe(true);
    expect((error as SpanchainError).code).toBe('NEXT_CALLED_MULTIPLE_TIMES');
  });

  it('propagates errors thrown downstream, catchable upstream', async () => {
    const boom = new Error('boom');
    let caught: unknown;
    await compose([
      async (_s, next) => {
        try {
          await next();
        } catch (error) {
          caught = error;
        }
      },
      async () => {
        throw boom;
      },
    ])(step, async () => {});
    expect(caught).toBe(boom);
  });

  it('turns a synchronous throw into a rejection', async () => {
    const boom = new Error('sync');
    const run = compose([
      () => {
        throw boom;
      },
    ]);
    await expect(run(step, async () => {})).rejects.toBe(boom);
  });

  it('lets a middleware short-circuit: later ones and the final next never run', async () => {
    let ran = false;
    await compose([
      async () => {},
      async (_s, next) => {
        ran = true;
        await next();
      },
    ])(step, async () => {
      ran = true;
    });
    expect(ran).toBe(false);
  });

  it('nests: a composed chain is itself a middleware', async () => {
    const order: string[] = [];
    const inner = compose([
      async (_s, next) => {
        order.push('inner');
        await next();
      },
    ]);
    await compose([
      async (_s, next) => {
        order.push('outer');
        await next();
      },
      inner,
    ])(step, async () => {
      order.push('end');
    });
    expect(order).toEqual(['outer', 'inner', 'end']);
  });

  it('accepts middlewares that return nothing (synchronous ones)', async () => {
    const order: string[] = [];
    await compose([
      (_s, next) => {
        order.push('sync');
        void next();
      },
    ])(step, async () => {
      order.push('end');
    });
    expect(order).toEqual(['sync', 'end']);
  });

  it('refuses a non-function at composition time', () => {
    expect(() => compose([42 as unknown as Middleware])).toThrow(TypeError);
  });
});

describe('forKinds', () => {
  it('keeps a middleware for its kinds only', () => {
    const a: Middleware = async (_s, next) => next();
    const b = forKinds(['llm', 'embedding'], a);
    expect(middlewaresFor('llm', [a, b])).toEqual([a, b]);
    expect(middlewaresFor('tool', [a, b])).toEqual([a]);
  });

  it('keeps the observer mark', () => {
    const scoped = forKinds(
      ['llm'],
      observer(async (_s, next) => next()),
    );
    expect((scoped as { observer?: boolean }).observer).toBe(true);
  });
});
