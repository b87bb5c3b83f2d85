import type { Middleware } from '../../../compose.js';
import type { Step } from '../../../step.js';
import type { RetryPolicy } from '../../../step-options.js';
import { MemoryPlugin } from '../../../testing/memory-plugin.js';
import { createTracer } from '../../../tracer.js';

/** Shared by the retry tests: a fast policy, a tracer with memory, failing functions, lookups. */
export const fast = (maxRetries: number, extra?: Partial<RetryPolicy>): RetryPolicy => ({
  maxRetries,
  initialDelayMs: 1,
  maxDelayMs: 2,
  ...extra,
});

export function setup(use: Middleware[] = []) {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], use, flushOnExit: false });
  return { memory, tracer };
}

/** A function failing `failures` times, then returning `value`; counts its calls. */
export function flaky<T>(failures: number, value: T) {
  const state = { calls: 0 };
  const run = async (): Promise<T> => {
    state.calls++;
    if (state.calls <= failures) throw new Error(`fail ${state.calls}`);
    return value;
  };
  return Object.assign(run, { state });
}

/** The one step named `name` that is not an attempt (attempts carry their parent's name). */
export function holder(memory: MemoryPlugin, name: string): Step {
  const found = memory.byName(name).filter((s) => s.attempt === undefined);
  if (found.length !== 1) throw new Error(`expected one step named "${name}", found ${found.length}`);
  return found[0]!;
}

export function attemptsOf(memory: MemoryPlugin, parent: Step | undefined): Step[] {
  return memory.steps
    .filter((s) => s.parentSpanId === parent?.spanId && s.attempt !== undefined)
    .sort((a, b) => (a.attempt?.number ?? 0) - (b.attempt?.number ?? 0));
}
