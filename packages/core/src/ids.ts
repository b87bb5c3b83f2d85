import { randomFillSync } from 'node:crypto';

/**
 * W3C ids from a pool of crypto-random bytes: one `randomFillSync` per 4 KiB instead of one per id,
 * hex-encoded through a 256-entry table (faster than `Buffer#toString('hex')` for 8 and 16 bytes).
 */
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

function hexFromPool(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  let out = '';
  let zero = true;
  for (let i = offset, end = offset + bytes; i < end; i++) {
    const b = pool[i]!;
    if (b !== 0) zero = false;
    out += HEX[b];
  }
  offset += bytes;
  // All-zero ids are invalid in W3C trace context; the odds are 2^-64 but the fix is free.
  return zero ? hexFromPool(bytes) : out;
}

/** A new 32-hex W3C trace id. */
export function newTraceId(): string {
  return hexFromPool(16);
}

/** A new 16-hex W3C span id. */
export function newSpanId(): string {
  return hexFromPool(8);
}

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
