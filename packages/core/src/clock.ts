import { performance } from 'node:perf_hooks';

const origin = performance.timeOrigin;

/** Epoch milliseconds with sub-millisecond precision, monotonic within the process. */
export function now(): number {
  return origin + performance.now();
}

/** Accepts epoch ms or a Date; anything else is "now". */
export function toEpochMs(time: unknown): number {
  if (typeof time === 'number' && Number.isFinite(time) && time > 0) return time;
  if (time instanceof Date && !Number.isNaN(time.getTime())) return time.getTime();
  return now();
}
