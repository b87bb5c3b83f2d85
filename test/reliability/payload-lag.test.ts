// Event-loop lag with 2.5 MB payloads: each traced request carries 2.5 MiB as its input message and
// its output, through all four exporting plugins at their defaults (child process, sinks in the
// parent). Traced and untraced blocks alternate; a 2 ms timer measures how late the loop is, per
// block mode. The plugins cut content to their budgets and encode in slices, so tracing must not add
// long turns: the traced p99 lag stays near the untraced one, and no turn comes close to what
// serialising 2.5 MB at once would cost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeAccounts, identityGap } from './support/accounting.js';
import { runApp } from './support/app-process.js';
import { PROFILE } from './support/profile.js';
import { ms, report } from './support/report.js';
import { type Sinks, startSinks } from './support/sinks.js';

let sinks: Sinks;
beforeAll(async () => {
  sinks = await startSinks();
});
afterAll(async () => {
  await sinks?.close();
});

describe('event-loop lag with large payloads', () => {
  it(`${(PROFILE.payload.bytes / 2 ** 20).toFixed(1)} MiB in and out of every traced request`, async () => {
    const p = PROFILE.payload;
    const result = await runApp({
      plugins: sinks.targets(),
      requests: p.requests,
      ratePerSecond: p.ratePerSecond,
      blockSize: 10,
      workMs: 50,
      payloadBytes: p.bytes,
      warmupRequests: 20,
      lagIntervalMs: 2,
      deadlineMs: (p.requests / p.ratePerSecond) * 1000 * 3 + 10_000,
      drainTimeoutMs: 30_000,
    });
    const { traced, untraced } = result.lag;
    report(
      'payload lag',
      `${result.tracedRequests} traced requests of ${(p.bytes / 2 ** 20).toFixed(1)} MiB in + out: loop lag p99 ${ms(traced.p99)} traced vs ${ms(untraced.p99)} untraced, ` +
        `max ${ms(traced.max)} vs ${ms(untraced.max)} (worst at ${result.lag.worst.at} ms, ${traced.n} + ${untraced.n} samples); request p99 ${ms(result.latency.traced.p99)} vs ${ms(result.latency.untraced.p99)}; ` +
        `heap ${result.heap.baseline.toFixed(1)} → ${result.heap.final.toFixed(1)} MiB; ${result.stats.plugins.map(describeAccounts).join('; ')}`,
    );
    expect(result.timedOut).toBe(false);
    expect(result.errors.filter((e) => e.startsWith('request'))).toEqual([]);
    // A 2.5 MB JSON.stringify alone takes ~10 ms here; the plugins must never do that work in one turn.
    expect(traced.p99).toBeLessThan(untraced.p99 + p.p99SlackMs);
    // Before slices were bounded by time (8 ms) as well as by count, this was 110–180 ms here.
    expect(traced.max).toBeLessThan(Math.max(80, untraced.max * 2));
    for (const s of result.stats.plugins) {
      expect(identityGap(s), describeAccounts(s)).toBe(0);
      expect(s.exported, describeAccounts(s)).toBe(result.tracedSteps);
    }
  });
});
