// @ts-check
import { createTracer } from '@spanchain/core';
import { phoenix } from '@spanchain/phoenix';
import { sinkUrl } from '../sink.mjs';
import { assertEnabled, spanchainPipeline } from '../spanchain-pipeline.mjs';

export const name = 'spanchain-phoenix';
/** Sends to the sink (also measured with it down). */
export const exporting = true;
export const description =
  "spanchain with @spanchain/phoenix (defaults: batching, OTLP http/protobuf, OpenInference attributes, project header and resource attribute) to the loopback sink's /v1/traces; content always captured.";

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  // Only the endpoint comes from here: PHOENIX_* and OPENINFERENCE_* variables of the machine are ignored.
  const plugin = phoenix({ endpoint: sinkUrl(), project: 'spanchain-bench' }, {});
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
