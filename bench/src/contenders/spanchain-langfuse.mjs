// @ts-check
import { createTracer } from '@spanchain/core';
import { langfuse } from '@spanchain/langfuse';
import { sinkUrl } from '../sink.mjs';
import { assertEnabled, spanchainPipeline } from '../spanchain-pipeline.mjs';

export const name = 'spanchain-langfuse';
/** Sends to the sink (also measured with it down). */
export const exporting = true;
export const description =
  "spanchain with @spanchain/langfuse (defaults: batching, OTLP http/protobuf, no compression) to the loopback sink's Langfuse endpoint (/api/public/otel/v1/traces); content always captured.";

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  const plugin = langfuse({ baseUrl: sinkUrl(), publicKey: 'pk-lf-bench', secretKey: 'sk-lf-bench' });
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
