/**
 * Trace ids for the app's own logs. Inside a spanchain step the step is the active OpenTelemetry
 * span (a non-recording span with the step's ids), so these read the ids from the OTel context;
 * they work the same inside any span the app's OTel SDK started.
 */
import { type Context, context, isSpanContextValid, trace } from '@opentelemetry/api';

export interface TraceIds {
  /** 32 lowercase hex characters. */
  traceId: string;
  /** 16 lowercase hex characters. */
  spanId: string;
  /** W3C trace flags (bit 0: sampled). */
  traceFlags: number;
}

/** Field names OpenTelemetry's log bridges (pino, winston, bunyan instrumentations) use. */
export interface LogFields {
  trace_id?: string;
  span_id?: string;
  /** Two lowercase hex digits, as in a traceparent (`01` = sampled). */
  trace_flags?: string;
}

/**
 * The ids of the active span (the running spanchain step, or an app span), or undefined outside
 * any span.
 *
 * @param ctx the context to read; default the active one
 * @example
 * await tracer.llm({ model: 'gpt-4o' }, async () => {
 *   const ids = activeTraceIds(); // { traceId: '4bf9…', spanId: '00f0…', traceFlags: 1 }
 *   myLogger.info({ traceId: ids?.traceId }, 'calling the model');
 * });
 */
export function activeTraceIds(ctx: Context = context.active()): TraceIds | undefined {
  const spanContext = trace.getSpanContext(ctx);
  if (!spanContext || !isSpanContextValid(spanContext)) return undefined;
  return { traceId: spanContext.traceId, spanId: spanContext.spanId, traceFlags: spanContext.traceFlags };
}

/**
 * `{ trace_id, span_id, trace_flags }` of the active span for a structured logger, or `{}` outside
 * any span. Meant for pino's `mixin` (called on every log line) or a winston format.
 *
 * @param ctx the context to read; default the active one
 * @example
 * import pino from 'pino';
 * import { logFields } from '@spanchain/otel';
 *
 * const log = pino({ mixin: () => logFields() });
 * await tracer.chain('rag', async () => {
 *   log.info('retrieving'); // {"msg":"retrieving","trace_id":"4bf9…","span_id":"00f0…","trace_flags":"01",…}
 * });
 *
 * @example
 * // winston
 * const withTrace = winston.format((info) => Object.assign(info, logFields()));
 * const logger = winston.createLogger({ format: winston.format.combine(withTrace(), winston.format.json()) });
 */
export function logFields(ctx: Context = context.active()): LogFields {
  const spanContext = trace.getSpanContext(ctx);
  if (!spanContext || !isSpanContextValid(spanContext)) return {};
  return {
    trace_id: spanContext.traceId,
    span_id: spanContext.spanId,
    trace_flags: flagsHex(spanContext.traceFlags),
  };
}

function flagsHex(flags: number): string {
  const byte = flags & 0xff;
  return byte < 16 ? `0${byte.toString(16)}` : byte.toString(16);
}
