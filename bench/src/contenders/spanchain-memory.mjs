// @ts-check
import { createTracer } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { assertEnabled, spanchainPipeline } from '../spanchain-pipeline.mjs';

export const name = 'spanchain-memory';
export const description =
  'spanchain with the in-memory plugin of its tests (MemoryPlugin: onStart and onEnd), emptied every 100 pipelines.';

/**
 * Up to 500 steps are kept between drains, about what the BatchSpanProcessor of `otel-sdk` holds
 * before it exports (512 spans), so both keep similar amounts of data alive and the heap does
 * not grow with the run. Kept longer, steps survive young-generation GCs and the cost per step
 * rises with the drain interval (measured: up to twice as much at 1,000 pipelines).
 */
const DRAIN_EVERY = 100;

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ serviceName: 'spanchain-bench', plugins: [memory], flushOnExit: false });
  assertEnabled(tracer);
  const run = spanchainPipeline(tracer);
  let delivered = 0;
  let sinceDrain = 0;
  const drain = () => {
    delivered += memory.steps.length;
    memory.clear();
    sinceDrain = 0;
  };
  return {
    // Drains before a pipeline, not after: no extra async wrapper, and the previous pipelines
    // have all ended since the worker awaits each one.
    pipeline: () => {
      if (++sinceDrain === DRAIN_EVERY) drain();
      return run();
    },
    flush: async () => {
      await tracer.flush();
      drain();
    },
    delivered: () => delivered + memory.steps.length,
  };
}
