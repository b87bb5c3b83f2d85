/**
 * Trace ids the way Langfuse's SDKs make them, so that a trace started by spanchain and one
 * started by a Langfuse SDK from the same external key (a session, a ticket) are the same trace.
 */
import { createHash, randomBytes } from 'node:crypto';

/**
 * A 32-hex-character trace id. With a seed: the first 32 hex characters of SHA-256 of the seed's
 * UTF-8 bytes (what `createTraceId(seed)` of Langfuse's JS SDK returns); without one: 16 random
 * bytes. Usable as `existingTraceId`.
 *
 * @example createTraceId('my-session-123') // 'e112673e31ac6a7e04aafe19715fe451'
 */
export function createTraceId(seed?: string): string {
  if (seed === undefined) return randomBytes(16).toString('hex');
  return createHash('sha256').update(seed, 'utf8').digest('hex').slice(0, 32);
}
