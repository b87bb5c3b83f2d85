import { SpanchainError } from './errors.js';
import type { StepKind } from './step.js';
import type { MiddlewareStep } from './step-record.js';

/** Koa-style middleware: code before `await next()` sees the input, code after it the outcome. */
export type Middleware = (step: MiddlewareStep, next: () => Promise<void>) => Promise<void> | void;

/** A middleware limited to some step kinds (see `forKinds`). */
export interface KindScopedMiddleware extends Middleware {
  readonly kinds: ReadonlySet<StepKind>;
}

/**
 * Composes middlewares into one, onion-style: the first runs outermost. `next()` may be called
 * once per middleware; a second call rejects with `NEXT_CALLED_MULTIPLE_TIMES`.
 *
 * @example
 * const run = compose([timing, redact()]);
 * await run(step, async () => { await callModel() });
 */
export function compose(middlewares: readonly Middleware[]): Middleware {
  for (const m of middlewares) {
    if (typeof m !== 'function') throw new TypeError('compose: every middleware must be a function');
  }
  return function composed(step, next) {
    let index = -1;
    function dispatch(i: number): Promise<void> {
      if (i <= index) {
        return Promise.reject(
          new SpanchainError('NEXT_CALLED_MULTIPLE_TIMES', 'next() called multiple times'),
        );
      }
      index = i;
      const fn = i === middlewares.length ? next : middlewares[i];
      if (!fn) return Promise.resolve();
      try {
        return Promise.resolve(fn(step, dispatch.bind(null, i + 1)));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return dispatch(0);
  };
}

/**
 * Limits a middleware to some kinds of step. The tracer composes one chain per kind, so kinds a
 * middleware does not apply to pay nothing for it.
 *
 * @example forKinds(['llm', 'embedding'], cost())
 */
export function forKinds(kinds: readonly StepKind[], middleware: Middleware): KindScopedMiddleware {
  const scoped = ((step, next) => middleware(step, next)) as KindScopedMiddleware;
  Object.defineProperty(scoped, 'kinds', { value: new Set(kinds), enumerable: true });
  Object.defineProperty(scoped, 'name', { value: middleware.name || 'forKinds' });
  if ((middleware as { observer?: boolean }).observer)
    Object.defineProperty(scoped, 'observer', { value: true });
  return scoped;
}

/** The middlewares that apply to a kind, in order. */
export function middlewaresFor(kind: StepKind, middlewares: readonly Middleware[]): Middleware[] {
  return middlewares.filter((m) => {
    const kinds = (m as Partial<KindScopedMiddleware>).kinds;
    return !kinds || kinds.has(kind);
  });
}

/**
 * Marks a middleware as an observer: it reads and annotates the step but never changes what the
 * caller receives (no short-circuit, no replaced result, no thrown error of its own). A chain of
 * observers lets the tracer hand the caller the function's own promise object unchanged.
 *
 * @example export const timing = () => observer(async (step, next) => { await next(); … });
 */
export function observer<M extends Middleware>(middleware: M): M & { readonly observer: true } {
  Object.defineProperty(middleware, 'observer', { value: true, enumerable: true });
  return middleware as M & { readonly observer: true };
}
