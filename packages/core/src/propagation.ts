import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  ROOT_CONTEXT,
  trace,
} from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import type { ErrorReporter } from './error-handler.js';

/** Headers as a plain object, a `Headers` instance or a Node `IncomingHttpHeaders`. */
export type HeaderCarrier =
  | Record<string, string | string[] | undefined>
  | { get(name: string): string | null; set?(name: string, value: string): void };

// W3C limits: traceparent is 55 characters in version 00; tracestate at most 512 characters
// (32 members); baggage at most 8,192 bytes. Anything far beyond is hostile, not a future format.
const MAX_TRACEPARENT = 512;
const MAX_TRACESTATE = 512;
const MAX_BAGGAGE = 8_192;

const propagator = new CompositePropagator({
  propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
});

function isHeadersLike(carrier: HeaderCarrier): carrier is { get(name: string): string | null } {
  return typeof (carrier as { get?: unknown }).get === 'function';
}

export function readHeader(carrier: HeaderCarrier, name: string): string | undefined {
  if (isHeadersLike(carrier)) return carrier.get(name) ?? undefined;
  const record = carrier as Record<string, string | string[] | undefined>;
  let value = record[name];
  if (value === undefined) {
    // Plain objects may carry any case; Node lower-cases for us.
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : record[key];
  }
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * Reads `traceparent`, `tracestate` and `baggage` into an OpenTelemetry context. Malformed or
 * oversized headers are ignored (the next step starts a new trace) and counted as warnings.
 */
export function extractContext(
  carrier: HeaderCarrier,
  errors: ErrorReporter,
  base: Context = ROOT_CONTEXT,
): Context {
  if (carrier === null || typeof carrier !== 'object') return base;
  try {
    const traceparent = readHeader(carrier, 'traceparent');
    if (traceparent === undefined) return base;
    const tracestate = readHeader(carrier, 'tracestate');
    const baggage = readHeader(carrier, 'baggage');
    if (traceparent.length > MAX_TRACEPARENT) {
      errors.warn('propagation.extract', `ignored a traceparent of ${traceparent.length} characters`);
      return base;
    }
    const headers: Record<string, string> = { traceparent };
    if (tracestate !== undefined) {
      if (tracestate.length <= MAX_TRACESTATE) headers.tracestate = tracestate;
      else errors.warn('propagation.extract', `ignored a tracestate of ${tracestate.length} characters`);
    }
    if (baggage !== undefined) {
      if (Buffer.byteLength(baggage) <= MAX_BAGGAGE) headers.baggage = baggage;
      else errors.warn('propagation.extract', `ignored a baggage header of ${baggage.length} characters`);
    }
    const ctx = propagator.extract(base, headers, defaultTextMapGetter);
    const spanContext = trace.getSpanContext(ctx);
    if (!spanContext || !isSpanContextValid(spanContext)) {
      errors.warn('propagation.extract', 'ignored a malformed traceparent header');
      return base;
    }
    return ctx;
  } catch (error) {
    errors.report('propagation.extract', error, 'warning');
    return base;
  }
}

/** Writes `traceparent`, `tracestate` and `baggage` for `ctx` into `carrier`. */
export function injectContext(ctx: Context, carrier: HeaderCarrier, errors: ErrorReporter): void {
  try {
    if (isHeadersLike(carrier) && typeof carrier.set === 'function') {
      const headers: Record<string, string> = {};
      propagator.inject(ctx, headers, defaultTextMapSetter);
      for (const [name, value] of Object.entries(headers)) carrier.set(name, value);
    } else {
      propagator.inject(ctx, carrier, defaultTextMapSetter);
    }
  } catch (error) {
    errors.report('propagation.inject', error);
  }
}

// Plugins' own headers (LangSmith's dotted order grows with the depth of the tree) get the
// baggage bound: past it a header is not a propagation header any more.
const MAX_PLUGIN_HEADER = 8_192;

/** A bounded, never-throwing header reader for plugins' `extract` hooks. */
export function headerGetter(carrier: HeaderCarrier): (name: string) => string | undefined {
  return (name) => {
    try {
      const value = readHeader(carrier, name.toLowerCase());
      return value !== undefined && value.length <= MAX_PLUGIN_HEADER ? value : undefined;
    } catch {
      return undefined;
    }
  };
}

const memberKey = (member: string): string => member.split('=', 1)[0]!.trim();

/**
 * `existing` baggage members followed by `added`, without the existing members `added` replaces
 * (a member extracted from an incoming request and written again by its plugin is sent once).
 */
function joinBaggage(existing: string, added: string): string {
  const replaced = new Set(added.split(',').map(memberKey));
  const kept = existing
    .split(',')
    .filter((member) => member.trim() !== '' && !replaced.has(memberKey(member)));
  return kept.length > 0 ? `${kept.join(',')},${added}` : added;
}

/** Adds plugins' headers to `carrier`; a `baggage` value joins the members already there. */
export function writeHeaders(
  carrier: HeaderCarrier,
  headers: Record<string, string>,
  errors: ErrorReporter,
): void {
  try {
    for (const [name, value] of Object.entries(headers)) {
      const existing = name === 'baggage' ? readHeader(carrier, name) : undefined;
      const full = existing ? joinBaggage(existing, value) : value;
      if (isHeadersLike(carrier)) {
        if (typeof carrier.set === 'function') carrier.set(name, full);
      } else {
        (carrier as Record<string, string | string[] | undefined>)[name] = full;
      }
    }
  } catch (error) {
    errors.report('propagation.inject', error);
  }
}
