import { randomFillSync } from 'node:crypto';

/**
 * W3C ids cut from a pool of crypto-random hex: one `randomFillSync` and one hex encoding per
 * 16 KiB of randomness, then each id is a `slice` of that string (about 30 ns, against 100-170 ns
 * for encoding 8 or 16 bytes per id). A sliced id keeps its 32 KiB pool string alive for as long
 * as the id lives; a few pools at most are alive at once.
 */
const RAW = Buffer.allocUnsafe(16_384);
let pool = '';
let offset = 0;

function hexFromPool(chars: number): string {
  if (offset + chars > pool.length) {
    randomFillSync(RAW);
    pool = RAW.toString('hex');
    offset = 0;
  }
  const id = pool.slice(offset, offset + chars);
  offset += chars;
  return id;
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** A new 32-hex W3C trace id. */
export function newTraceId(): string {
  const id = hexFromPool(32);
  // All-zero ids are invalid in W3C trace context; the odds are 2^-128 but the check is free.
  return id === ZERO_TRACE ? newTraceId() : id;
}

/** A new 16-hex W3C span id. */
export function newSpanId(): string {
  const id = hexFromPool(16);
  return id === ZERO_SPAN ? newSpanId() : id;
}

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ALL_ZERO = /^0+$/;

export function isValidTraceId(id: string): boolean {
  return TRACE_ID.test(id) && !ALL_ZERO.test(id);
}

export function isValidSpanId(id: string): boolean {
  return SPAN_ID.test(id) && !ALL_ZERO.test(id);
}

/**
 * Accepts a trace id as 32 hex characters or as a UUID (LangSmith, Langfuse v2 ids), in any case,
 * and returns the W3C form, or undefined when it is neither.
 *
 * @example normalizeTraceId('0AF7651916CD43DD8448EB211C80319C') // '0af7651916cd43dd8448eb211c80319c'
 */
export function normalizeTraceId(id: unknown): string | undefined {
  if (typeof id !== 'string' || id.length > 36) return undefined;
  const hex = (id.length === 36 ? id.replace(/-/g, '') : id).toLowerCase();
  return isValidTraceId(hex) ? hex : undefined;
}

/** `00-<trace>-<span>-<flags>` */
export function formatTraceparent(traceId: string, spanId: string, traceFlags: number): string {
  return `00-${traceId}-${spanId}-${HEX[traceFlags & 0xff]}`;
}
