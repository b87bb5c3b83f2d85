import { describe, expect, it } from 'vitest';
import { newTraceId } from '../../ids.js';
import { isTraceSampled } from './ratio.js';

/** A trace id whose 56 bits of randomness are the given 14 hex digits. */
const withRandomness = (hex14: string, prefix = '0af7651916cd43dd84') => `${prefix}${hex14}`;

const ids = Array.from({ length: 10_000 }, () => newTraceId());

describe('isTraceSampled', () => {
  it('always samples at ratio 1 and never at ratio 0', () => {
    const top = withRandomness('ffffffffffffff');
    const bottom = withRandomness('00000000000000');
    expect(isTraceSampled(bottom, 1)).toBe(true);
    expect(isTraceSampled(top, 0)).toBe(false);
    expect(ids.every((id) => isTraceSampled(id, 1))).toBe(true);
    expect(ids.some((id) => isTraceSampled(id, 0))).toBe(false);
    expect(isTraceSampled(top, Number.NaN)).toBe(false);
    expect(isTraceSampled(top, -1)).toBe(false);
  });

  it('keeps a trace when its randomness reaches the rejection threshold (1 - ratio) * 2^56', () => {
    // ratio 0.5: the threshold is 2^55 = 0x80000000000000.
    expect(isTraceSampled(withRandomness('80000000000000'), 0.5)).toBe(true);
    expect(isTraceSampled(withRandomness('7fffffffffffff'), 0.5)).toBe(false);
    // ratio 0.01: the spec's example threshold 0xfd70a3d70a3d70 (rounded in the last digits).
    expect(isTraceSampled(withRandomness('fd70a3d70a3e00'), 0.01)).toBe(true);
    expect(isTraceSampled(withRandomness('fd70a3d70a3c00'), 0.01)).toBe(false);
  });

  it('compares all 56 bits exactly, beyond the 53 bits a double holds', () => {
    // ratio 2^-53: the threshold is 2^56 - 8. Parsed as one double, 2^56 - 9 would round to
    // 2^56 - 8 and be sampled; compared in two exact halves it is not.
    const ratio = 2 ** -53;
    expect(isTraceSampled(withRandomness('fffffffffffff8'), ratio)).toBe(true);
    expect(isTraceSampled(withRandomness('fffffffffffff7'), ratio)).toBe(false);
    expect(isTraceSampled(withRandomness('ffffffffffffff'), ratio)).toBe(true);
  });

  it('reads only the rightmost 56 bits, in any case, and accepts the UUID form', () => {
    const id = withRandomness('9a3f00c0ffee12');
    expect(isTraceSampled(withRandomness('9a3f00c0ffee12', 'ffffffffffffffffff'), 0.5)).toBe(true);
    expect(isTraceSampled(withRandomness('9a3f00c0ffee12', '000000000000000001'), 0.5)).toBe(true);
    expect(isTraceSampled(id.toUpperCase(), 0.5)).toBe(true);
    for (const traceId of ids.slice(0, 500)) {
      const uuid = `${traceId.slice(0, 8)}-${traceId.slice(8, 12)}-${traceId.slice(12, 16)}-${traceId.slice(16, 20)}-${traceId.slice(20)}`;
      expect(isTraceSampled(uuid, 0.37)).toBe(isTraceSampled(traceId, 0.37));
    }
  });

  it('never samples a malformed id below ratio 1', () => {
    expect(isTraceSampled('not-a-trace-id', 0.999)).toBe(false);
    expect(isTraceSampled(withRandomness('zzzzzzzzzzzzzz'), 0.999)).toBe(false);
    expect(isTraceSampled('abc', 1)).toBe(true);
  });

  it('samples the configured share of random trace ids', () => {
    // 10,000 ids: the standard deviation at ratio p is sqrt(10,000 p (1 - p)) <= 50; allow 5 of them.
    for (const ratio of [0.01, 0.1, 0.25, 0.5, 0.9]) {
      const sampled = ids.filter((id) => isTraceSampled(id, ratio)).length;
      expect(Math.abs(sampled - ratio * ids.length)).toBeLessThan(
        5 * Math.sqrt(ids.length * ratio * (1 - ratio)),
      );
    }
  });

  it('samples at a lower ratio a subset of what it samples at a higher one', () => {
    const ratios = [0.001, 0.05, 0.1, 0.3, 0.5, 0.75, 0.99];
    for (const id of ids) {
      const decisions = ratios.map((r) => isTraceSampled(id, r));
      // Monotone: once sampled at some ratio, sampled at every higher ratio.
      const first = decisions.indexOf(true);
      if (first >= 0) expect(decisions.slice(first).every(Boolean)).toBe(true);
    }
    const low = new Set(ids.filter((id) => isTraceSampled(id, 0.1)));
    const high = new Set(ids.filter((id) => isTraceSampled(id, 0.5)));
    expect(low.size).toBeGreaterThan(0);
    expect([...low].every((id) => high.has(id))).toBe(true);
  });
});
