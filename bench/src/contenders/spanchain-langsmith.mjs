// @ts-check
import { createTracer } from '@spanchain/core';
import { langsmith } from '@spanchain/langsmith';
import { sinkUrl } from '../sink.mjs';
import { assertEnabled, spanchainPipeline } from '../spanchain-pipeline.mjs';

export const name = 'spanchain-langsmith';
/** Sends to the sink (also measured with it down). */
export const exporting = true;
export const description =
  "spanchain with @spanchain/langsmith (defaults: batches of 100 runs, multipart, gzip) to the loopback sink's LangSmith endpoint (/runs/multipart).";

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  const plugin = langsmith({ endpoint: sinkUrl(), apiKey: 'lsv2_bench_key', project: 'bench' }, {});
  const tracer = createTracer({ serviceName: 'spanchain-bench', plugins: [plugin], flushOnExit: false });
  assertEnabled(tracer);
  return {
    pipeline: spanchainPipeline(tracer),
    flush: async () => {
      await tracer.flush();
    },
    delivered: () => plugin.stats().exported ?? 0,
  };
}
