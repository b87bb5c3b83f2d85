// @ts-check
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { sdkPipeline } from '../otel-sdk-pipeline.mjs';

export const name = 'otel-sdk';
export const description =
  'The same five spans made by hand with the OpenTelemetry SDK: startActiveSpan, BatchSpanProcessor, an exporter that succeeds at once.';

/** @typedef {import('@opentelemetry/sdk-trace-base').SpanExporter} SpanExporter */

/** `ExportResultCode.SUCCESS` of `@opentelemetry/core`, which the bench does not otherwise need. */
const EXPORT_SUCCESS = 0;

/**
 * Counts spans and calls back success at once, so the processor's batching is measured and the
 * transport is not.
 *
 * @implements {SpanExporter}
 */
class CountingExporter {
  exported = 0;

  /**
   * @param {import('@opentelemetry/sdk-trace-base').ReadableSpan[]} spans
   * @param {(result: { code: number }) => void} done
   */
  export(spans, done) {
    this.exported += spans.length;
    done({ code: EXPORT_SUCCESS });
  }

  async shutdown() {}

  async forceFlush() {}
}

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  if (!context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())) {
    throw new Error('another OpenTelemetry context manager is already registered');
  }
  const exporter = new CountingExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });

  return {
    pipeline: sdkPipeline(provider.getTracer('spanchain-bench')),
    flush: () => provider.forceFlush(),
    delivered: () => exporter.exported,
  };
}
