// @ts-check
import { context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { sinkUrl } from '../sink.mjs';
import { INPUT, INPUT_TOKENS, MODEL, OUTPUT_TOKENS, work } from '../workload.mjs';

export const name = 'otel-sdk-otlp';
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
  const tracer = provider.getTracer('spanchain-bench');

  /**
   * @template T
   * @param {string} spanName
   * @param {import('@opentelemetry/api').SpanOptions} options
   * @param {(span: import('@opentelemetry/api').Span) => Promise<T>} fn
   * @returns {Promise<T>}
   */
  const inSpan = (spanName, options, fn) =>
    tracer.startActiveSpan(spanName, options, async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        span.recordException(/** @type {Error} */ (error));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });

  const root = async () => {
    await inSpan('retrieve', { attributes: { 'step.kind': 'retrieval', 'input.value': INPUT } }, () =>
      work(INPUT),
    );
    await inSpan('prompt', { attributes: { 'step.kind': 'prompt', 'input.value': INPUT } }, () =>
      work(INPUT),
    );
    await inSpan(
      `chat ${MODEL}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'step.kind': 'llm',
          'gen_ai.operation.name': 'chat',
          'gen_ai.request.model': MODEL,
          'input.value': INPUT,
        },
      },
      async (span) => {
        const result = await work(INPUT);
        span.setAttributes({
          'gen_ai.usage.input_tokens': INPUT_TOKENS,
          'gen_ai.usage.output_tokens': OUTPUT_TOKENS,
        });
        return result;
      },
    );
    await inSpan('search', { attributes: { 'step.kind': 'tool', 'input.value': INPUT } }, () => work(INPUT));
  };

  return {
    pipeline: () => inSpan('pipeline', { attributes: { 'step.kind': 'chain', 'input.value': INPUT } }, root),
    flush: () => provider.forceFlush(),
    delivered: () => delivered,
  };
}
