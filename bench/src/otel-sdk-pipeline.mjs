// @ts-check
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { INPUT, INPUT_TOKENS, MODEL, OUTPUT_TOKENS, work } from './workload.mjs';

/**
 * The workload as an OpenTelemetry SDK user writes it by hand, for any SDK tracer: the SDK
 * contenders differ only in their span processor and exporter, so they share it.
 *
 * @example const pipeline = sdkPipeline(provider.getTracer('bench')); await pipeline();
 * @param {import('@opentelemetry/api').Tracer} tracer
 * @returns {() => Promise<void>}
 */
export function sdkPipeline(tracer) {
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

  return () => inSpan('pipeline', { attributes: { 'step.kind': 'chain', 'input.value': INPUT } }, root);
}
