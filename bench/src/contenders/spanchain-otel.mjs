// @ts-check
import { createTracer } from '@spanchain/core';
import { otel } from '@spanchain/otel';
import { sinkUrl } from '../sink.mjs';
import { assertEnabled, spanchainPipeline } from '../spanchain-pipeline.mjs';

export const name = 'spanchain-otel';
/** Sends to the sink (also measured with it down). */
export const exporting = true;
export const description =
  'spanchain with @spanchain/otel: OTLP http/protobuf to a loopback sink, content captured (so the 1 KiB input is exported, as in otel-sdk-otlp), GenAI metrics on.';

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  const plugin = otel({ endpoint: sinkUrl(), captureContent: 'span' });
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
