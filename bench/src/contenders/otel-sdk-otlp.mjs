// @ts-check
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { sdkPipeline } from '../otel-sdk-pipeline.mjs';
import { sinkUrl } from '../sink.mjs';

export const name = 'otel-sdk-otlp';
/** Sends to the sink (also measured with it down). */
export const exporting = true;
export const description =
  'The same five spans made by hand with the OpenTelemetry SDK: BatchSpanProcessor and the OTLP http/protobuf exporter to a loopback sink.';

/** `ExportResultCode.SUCCESS`. */
const EXPORT_SUCCESS = 0;

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  if (!context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())) {
    throw new Error('another OpenTelemetry context manager is already registered');
  }
  const otlp = new OTLPTraceExporter({ url: `${sinkUrl()}/v1/traces` });
  let delivered = 0;
  /** Counts what the OTLP exporter reports delivered. @type {import('@opentelemetry/sdk-trace-base').SpanExporter} */
  const exporter = {
    export: (spans, done) =>
      otlp.export(spans, (result) => {
        if (result.code === EXPORT_SUCCESS) delivered += spans.length;
        done(result);
      }),
    shutdown: () => otlp.shutdown(),
    forceFlush: () => otlp.forceFlush(),
  };
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });

  return {
    pipeline: sdkPipeline(provider.getTracer('spanchain-bench')),
    flush: () => provider.forceFlush(),
    delivered: () => delivered,
  };
}
