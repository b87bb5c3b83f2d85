// An outage of every backend in the middle of a steady traced workload, then recovery: the app
// (a child process, so that its latency and heap are its own) runs the four exporting plugins with
// their default settings against the loopback sinks, which close their ports for the outage
// (ECONNREFUSED) and open them again. Checked:
// - app latency: p99 of traced requests against untraced ones run interleaved in the same process
//   (alternating blocks; the median over blocks of each block's p99);
// - heap growth over the warmed-up baseline, after a GC at the end of the outage and at the end;
// - every step of a request started after a plugin's first successful export since the sinks came
//   back arrives exactly once (ids at the sink), and no step ever arrives twice;
// - received = exported + Σ dropped + queued (in flight included) for every plugin, in every
//   `stats()` sample taken during the run (every 25 ms) and at the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeAccounts, identityGap } from './support/accounting.js';
import { runApp } from './support/app-process.js';
import { PROFILE } from './support/profile.js';
import { count, median, mib, ms, report } from './support/report.js';
import { PLUGINS, type Sinks, startSinks } from './support/sinks.js';

let sinks: Sinks;
beforeAll(async () => {
  sinks = await startSinks();
});
afterAll(async () => {
  await sinks?.close();
});

describe('outage then recovery', () => {
  it(`${PROFILE.outage.outageMs / 1000} s outage over ${count(PROFILE.outage.steps)} traced steps: latency, heap, delivery, accounting`, async () => {
    const o = PROFILE.outage;
    // Half the requests are traced (two steps each), half untraced.
    const requests = o.steps;
    const totalMs = o.beforeMs + o.outageMs + o.afterMs;
    const rate = Math.round((requests * 1000) / totalMs);
    const outageStart = Math.round((rate * o.beforeMs) / 1000);
    const outageEnd = Math.round((rate * (o.beforeMs + o.outageMs)) / 1000);
    let stepsAtOutageStart = 0;
    let stepsAtOutageEnd = 0;
    const result = await runApp(
      {
        plugins: sinks.targets(),
        requests,
        ratePerSecond: rate,
        blockSize: 200,
        // A fast model call: real ones take hundreds of ms, which would hide more of the tracing.
        workMs: 50,
        concurrency: 512,
        deadlineMs: totalMs * 2 + 10_000,
        phases: [
          { name: 'outage-start', atRequest: outageStart },
          { name: 'outage-end', atRequest: outageEnd },
        ],
        drainTimeoutMs: 30_000,
      },
      {
        onPhase: async (name, info) => {
          if (name === 'outage-start') {
            stepsAtOutageStart = info.tracedSteps;
            await sinks.down();
          } else {
            stepsAtOutageEnd = info.tracedSteps;
            await sinks.up();
          }
        },
      },
    );

    expect(result.errors.filter((e) => e.startsWith('request'))).toEqual([]);
    expect(result.timedOut).toBe(false);
    expect(result.completed).toBe(requests);

    // Latency: median over blocks of each block's p99, traced over untraced.
    const tracedP99 = median(result.latency.blockP99.traced);
    const untracedP99 = median(result.latency.blockP99.untraced);
    const ratio = tracedP99 / untracedP99;
    // Heap: what the outage and its aftermath left, after GC, over the warmed-up baseline.
    const growth = Math.max(result.heap.afterOutage ?? 0, result.heap.final) - result.heap.baseline;

    const steps = result.tracedSteps;
    const delivery = PLUGINS.map((plugin) => {
      const from = result.recovery[plugin]?.seq ?? steps;
      const after = sinks.ledger.range(plugin, from, steps);
      const all = sinks.ledger.range(plugin, 0, steps);
      const before = sinks.ledger.range(plugin, 0, stepsAtOutageStart);
      const stats = result.stats.plugins.find((p) => p.name === plugin)!;
      return { plugin, from, after, all, before, stats, recovery: result.recovery[plugin] };
    });

    report(
      'outage',
      `p99 traced ${ratio.toFixed(2)}× untraced (median block p99 ${ms(tracedP99)} vs ${ms(untracedP99)}, ` +
        `pooled ${ms(result.latency.traced.p99)} vs ${ms(result.latency.untraced.p99)}), ` +
        `heap ${mib(growth)} (baseline ${result.heap.baseline.toFixed(1)} MiB, after outage ${result.heap.afterOutage?.toFixed(1)}, ` +
        `end ${result.heap.final.toFixed(1)}, max sampled ${result.heap.maxSampled.toFixed(1)}); ` +
        delivery
          .map(
            (d) =>
              `${d.plugin}: recovered ${d.recovery ? `${(d.recovery.lagMs / 1000).toFixed(1)} s after the sinks came back` : 'never'}, ` +
              `delivered ${d.after.once}/${steps - d.from} once after recovery, ${d.all.once}/${steps} overall ` +
              `(${d.before.once}/${stepsAtOutageStart} before the outage), dropped ${JSON.stringify(d.stats.dropped)}`,
          )
          .join('; ') +
        `; identity held in ${result.identity.samples} samples × ${PLUGINS.length} plugins; ` +
        `${count(steps)} steps (outage over steps ${stepsAtOutageStart}–${stepsAtOutageEnd}), workload ${ms(result.workloadMs)}, drain ${ms(result.drainMs)}`,
    );

    // Accounting held in every sample, and at the end nothing is left queued.
    expect(result.identity.violations).toEqual([]);
    for (const p of result.stats.plugins) {
      expect(identityGap(p), describeAccounts(p)).toBe(0);
      expect(p.queued, describeAccounts(p)).toBe(0);
      expect(p.received, describeAccounts(p)).toBe(steps);
      // What the counters call exported is what arrived.
      expect(sinks.ledger.total[p.name], describeAccounts(p)).toBe(p.exported);
    }
    for (const d of delivery) {
      expect(d.recovery, `${d.plugin} never exported again after the outage`).toBeDefined();
      // Recovery must leave room for a real check: most of the after-phase.
      expect(steps - d.from, d.plugin).toBeGreaterThan((steps - stepsAtOutageEnd) / 3);
      expect(d.after, `${d.plugin}: ${sinks.ledger.problems(d.plugin, d.from, steps).join(' ')}`).toEqual({
        once: steps - d.from,
        missing: 0,
        duplicated: 0,
      });
      expect(d.all.duplicated, d.plugin).toBe(0);
      expect(sinks.ledger.unnumbered[d.plugin] ?? 0).toBe(0);
    }
    expect(growth).toBeLessThan(PROFILE.outage.heapGrowthMiB);
    expect(ratio).toBeLessThanOrEqual(PROFILE.outage.p99Ratio);
  });
});
