// @ts-check
import { context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { INPUT, INPUT_TOKENS, MODEL, OUTPUT_TOKENS, work } from '../workload.mjs';

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
  const tracer = provider.getTracer('spanchain-bench');

  /**
   * How a step is traced by hand: an active span around the function, the error recorded and
   * rethrown, the span ended in `finally`.
   *
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
    delivered: () => exporter.exported,
  };
}
