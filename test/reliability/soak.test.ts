// A flapping-sink soak: the traced app (child process) runs a steady workload while both sinks
// cycle through answering, 503 and 429 with Retry-After, closed ports, slow answers, resets and
// silence, every few hundred milliseconds (short profile: 6 s; full profile: 3 minutes). Then the
// sinks stay up. Checked: the accounting identity in every stats() sample, no step ever delivered
// twice, every step after the sinks settled delivered once, nothing left queued, and no heap growth
// beyond the baseline once collected (a leak would show over the full profile's minutes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeAccounts, identityGap } from './support/accounting.js';
import { runApp } from './support/app-process.js';
import { PROFILE } from './support/profile.js';
import { count, mib, ms, report } from './support/report.js';
import { PLUGINS, type Sinks, startSinks } from './support/sinks.js';

let sinks: Sinks;
beforeAll(async () => {
  sinks = await startSinks();
});
afterAll(async () => {
  await sinks?.close();
});

type Mode = 'ok' | '503' | '429' | 'down' | 'slow' | 'reset' | 'blackhole';
const CYCLE: Mode[] = ['503', 'ok', 'down', 'slow', 'reset', 'ok', '429', 'blackhole', 'ok'];

describe('flapping sinks', () => {
  it(`${PROFILE.soak.durationMs / 1000} s of a sink that changes its mind every ${PROFILE.soak.flipMs} ms`, async () => {
    const s = PROFILE.soak;
    const requests = Math.round((s.ratePerSecond * s.durationMs) / 1000);
    // Flapping over the first 60 %, then the sinks stay up: the settled 40 % (3.2 s in the short
    // profile) leaves room for a request caught in the silent phase to time out and for the next
    // export to show recovery (with 2.4 s, OTel's first export after it sometimes came at the end).
    const flapStart = Math.round(requests * 0.05);
    const flapEnd = Math.round(requests * 0.6);
    let mode: Mode = 'ok';
    let down = false;
    const modes: Record<string, number> = {};
    const setMode = async (next: Mode) => {
      mode = next;
      modes[next] = (modes[next] ?? 0) + 1;
      if (next === 'down' && !down) {
        down = true;
        await sinks.down();
      } else if (next !== 'down' && down) {
        down = false;
        await sinks.up();
      }
    };
    const otlpAnswer = () => {
      switch (mode) {
        case '503':
          return { status: 503, retryAfter: 1 };
        case '429':
          return { status: 429, retryAfter: 1 };
        case 'slow':
          return { delayMs: 300 };
        case 'reset':
          return { reset: true as const };
        case 'blackhole':
          return { blackhole: true as const };
        default:
          return { status: 'ok' as const };
      }
    };
    sinks.otlp.respondWith(otlpAnswer);
    sinks.langsmith.respondWith(otlpAnswer);
    let flipper: NodeJS.Timeout | undefined;
    let flips = 0;
    // Requests time out after 1 s, so that silent phases end well within the soak.
    const fast = { timeoutMillis: 1_000 };
    const result = await runApp(
      {
        plugins: sinks.targets({ otel: fast, langfuse: fast, phoenix: fast, langsmith: fast }),
        requests,
        ratePerSecond: s.ratePerSecond,
        blockSize: 200,
        workMs: 20,
        concurrency: 256,
        deadlineMs: s.durationMs * 2 + 20_000,
        phases: [
          { name: 'flap-start', atRequest: flapStart },
          { name: 'outage-end', atRequest: flapEnd },
        ],
        drainTimeoutMs: 30_000,
      },
      {
        onPhase: async (name) => {
          if (name === 'flap-start') {
            flipper = setInterval(() => {
              void setMode(CYCLE[flips++ % CYCLE.length]!);
            }, s.flipMs);
          } else {
            clearInterval(flipper);
            await setMode('ok');
          }
        },
      },
    );
    clearInterval(flipper);
    sinks.otlp.respondWith();
    sinks.langsmith.respondWith();

    const steps = result.tracedSteps;
    const delivery = PLUGINS.map((plugin) => {
      const from = result.recovery[plugin]?.seq ?? steps;
      return {
        plugin,
        from,
        after: sinks.ledger.range(plugin, from, steps),
        all: sinks.ledger.range(plugin, 0, steps),
        stats: result.stats.plugins.find((p) => p.name === plugin)!,
      };
    });
    const growth = result.heap.final - result.heap.baseline;
    report(
      'flapping soak',
      `${count(steps)} traced steps over ${ms(result.workloadMs)}, ${flips} flips (${JSON.stringify(modes)}); identity held in ${result.identity.samples} samples; ` +
        `heap ${mib(growth)} after GC (max sampled ${result.heap.maxSampled.toFixed(1)} MiB); ` +
        delivery
          .map(
            (d) =>
              `${d.plugin}: ${d.all.once}/${steps} delivered (${d.all.duplicated} twice), ${d.after.once}/${steps - d.from} once after settling, dropped ${JSON.stringify(d.stats.dropped)}`,
          )
          .join('; '),
    );
    expect(result.timedOut).toBe(false);
    expect(result.identity.violations).toEqual([]);
    expect(flips).toBeGreaterThanOrEqual(CYCLE.length);
    for (const d of delivery) {
      expect(identityGap(d.stats), describeAccounts(d.stats)).toBe(0);
      expect(d.stats.queued, describeAccounts(d.stats)).toBe(0);
      expect(d.stats.received).toBe(steps);
      expect(d.all.duplicated, d.plugin).toBe(0);
      expect(sinks.ledger.total[d.plugin]).toBe(d.stats.exported);
      expect(steps - d.from, `${d.plugin} recovered too late to check`).toBeGreaterThan(0);
      expect(d.after, `${d.plugin}: ${sinks.ledger.problems(d.plugin, d.from, steps).join(' ')}`).toEqual({
        once: steps - d.from,
        missing: 0,
        duplicated: 0,
      });
    }
    expect(growth).toBeLessThan(PROFILE.outage.heapGrowthMiB);
  });
});
