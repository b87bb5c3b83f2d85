// @ts-check
import { createTracer } from '@spanchain/core';
import { assertEnabled, spanchainPipeline } from '../spanchain-pipeline.mjs';

export const name = 'spanchain-noplugin';
export const description = 'spanchain with no plugins and no middleware: the pure cost of the core.';

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  const tracer = createTracer({ serviceName: 'spanchain-bench', plugins: [], flushOnExit: false });
  assertEnabled(tracer);
  return {
    pipeline: spanchainPipeline(tracer),
    flush: async () => {
      await tracer.flush();
    },
  };
}
