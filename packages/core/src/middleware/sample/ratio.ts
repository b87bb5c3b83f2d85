/**
 * Consistent probability sampling by trace id, as the OpenTelemetry specification defines it
 * (TraceState: Probability Sampling; `TraceIdRatioBased`): the randomness `R` is the rightmost
 * 56 bits of the trace id (its last 14 hex digits, random under W3C Trace Context Level 2), the
 * rejection threshold is `T = (1 - ratio) * 2^56`, and a trace is sampled iff `R >= T`.
 *
 * Every decision is a pure function of the trace id, so every plugin and every process decides
 * the same for a trace, and the traces sampled at a lower ratio are a subset of those sampled at
 * a higher one. Using the spec's direction (`R >= T`, not `R < ratio * 2^56`) also makes the
 * decision agree with OpenTelemetry SDK samplers and collectors that implement the same spec.
 */

/** 2^28: the randomness is compared as two exact 28-bit halves. */
const HALF = 0x1000_0000;
/** Where the 56 bits of randomness start in a 32-hex-digit trace id. */
const RANDOMNESS_START = 18;
const MIDDLE = RANDOMNESS_START + 7;

/** Value of one hex digit's char code, or -1. */
function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 97 && code <= 102) return code - 87; // a-f
  if (code >= 65 && code <= 70) return code - 55; // A-F
  return -1;
}

/** The 28-bit integer in 7 hex digits of `id` from `start`, or -1 when one is not hex. */
function hex28(id: string, start: number): number {
  let value = 0;
  for (let i = start; i < start + 7; i++) {
    const digit = hexValue(id.charCodeAt(i));
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/**
 * Whether a trace is sampled at `ratio` (0..1): consistent across plugins and processes, and
 * monotone in `ratio` (sampled at 0.1 implies sampled at 0.5). Accepts the W3C form (32 hex
 * digits) or a UUID. Ratio 1 (or more) always samples; 0, a negative ratio or NaN never does; a
 * trace id that is not hex is never sampled below ratio 1.
 *
 * The 56-bit randomness exceeds a double's 53-bit integer precision, so it is parsed as two
 * 28-bit halves (each exact) and compared with the threshold's halves lexicographically: the
 * comparison is exact for every trace id. The threshold itself is `(1 - ratio) * 2^56` in double
 * arithmetic, within a few units of 2^56 of the real value — far below any meaningful ratio.
 *
 * @example
 * if (isTraceSampled(step.traceId, 0.1)) exportTrace(step); // the same 10% in every process
 */
export function isTraceSampled(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (!(ratio > 0) || typeof traceId !== 'string') return false;
  // A UUID carries the same 32 hex digits with dashes; its last 12 are its last group.
  const id = traceId.length === 36 ? traceId.replace(/-/g, '') : traceId;
  if (id.length !== 32) return false;
  const high = hex28(id, RANDOMNESS_START);
  const low = hex28(id, MIDDLE);
  if (high < 0 || low < 0) return false;
  // Multiplying by a power of two is exact; so are the floor and the remainder below (the
  // remainder is a multiple of the threshold's last unit and smaller than 2^28).
  const threshold = (1 - ratio) * HALF * HALF;
  const thresholdHigh = Math.floor(threshold / HALF);
  const thresholdLow = threshold - thresholdHigh * HALF;
  return high > thresholdHigh || (high === thresholdHigh && low >= thresholdLow);
}
