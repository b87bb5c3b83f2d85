// Shutdown: with the backends up it delivers everything it holds and says so; with them down
// (port closed, or accepting and never answering) it still returns by its deadline, with counts
// that add up, and nothing is sent after it returned. Plugins run with their default timeouts
// (10 s per request), longer than the shutdown deadline.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTracer, type FlushReport, type PluginStats } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type LangSmithReceiver, startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';
import { describeAccounts, droppedTotal, identityGap } from './support/accounting.js';
import { exportingPlugins, pause } from './support/plugins.js';
import { PROFILE } from './support/profile.js';
import { count, ms, report } from './support/report.js';
import { closedPort, DeliveryLedger, PLUGINS, pluginOfSpan, seqOfRun, seqOfSpan } from './support/sinks.js';

let otlp: OtlpReceiver | undefined;
let langsmith: LangSmithReceiver | undefined;
afterEach(async () => {
  await Promise.allSettled([otlp?.close(), langsmith?.close()]);
  otlp = undefined;
  langsmith = undefined;
});

async function sinks(behaviour: 'ok' | 'blackhole', ledger?: DeliveryLedger) {
  otlp = await startOtlpReceiver({
    grpc: false,
    retain: false,
    respondWith: () => (behaviour === 'ok' ? { status: 'ok' } : { blackhole: true }),
    onData: ({ spans }) => {
      for (const span of spans) {
        const plugin = pluginOfSpan(span);
        if (plugin) ledger?.record(plugin, seqOfSpan(span, plugin));
      }
    },
  });
  langsmith = await startLangSmithReceiver({
    retain: false,
    respondWith: () => (behaviour === 'ok' ? { status: 'ok' } : { blackhole: true }),
    onRuns: (posts) => {
      for (const run of posts) ledger?.record('langsmith', seqOfRun(run));
    },
  });
  return { otlp: otlp.httpUrl, langsmith: langsmith.url };
}

/** `requests` chain → llm pairs, numbered 0…2·requests−1, started all at once in waves. */
async function burst(tracer: ReturnType<typeof createTracer>, requests: number): Promise<number> {
  let wrong = 0;
  for (let base = 0; base < requests; base += 500) {
    const wave = Array.from({ length: Math.min(500, requests - base) }, (_, j) => {
      const k = base + j;
      return tracer.chain({ name: 'request', metadata: { seq: 2 * k } }, () =>
        tracer.llm({ model: 'gpt-4o', provider: 'openai', metadata: { seq: 2 * k + 1 } }, async () => k),
      );
    });
    const values = await Promise.all(wave);
    wrong += values.filter((v, j) => v !== base + j).length;
  }
  return wrong;
}

const sumExported = (stats: PluginStats[]) => stats.reduce((n, p) => n + p.exported, 0);
const sumDropped = (stats: PluginStats[]) => stats.reduce((n, p) => n + droppedTotal(p), 0);
const timedOutNames = (r: FlushReport) =>
  Object.entries(r.plugins)
    .filter(([, p]) => p.timedOut)
    .map(([n]) => n);

describe('graceful shutdown', () => {
  it('delivers everything queued, exactly once, and reports it', async () => {
    const ledger = new DeliveryLedger();
    const endpoints = await sinks('ok', ledger);
    const memory = new MemoryPlugin();
    const steps = PROFILE.shutdownSteps;
    // Queues that hold the whole burst: this is about shutdown, not about the queue bound.
    const batch = { maxQueueSize: steps, scheduledDelayMillis: 20 };
    const tracer = createTracer({
      flushOnExit: false,
      plugins: [
        ...exportingPlugins(endpoints, {
          otel: { batch },
          phoenix: { batch },
          langfuse: { maxQueueSize: steps },
          langsmith: { maxQueueRuns: steps },
        }),
        memory,
      ],
    });
    // Nothing flushed before: everything is still queued (or being sent) when shutdown starts.
    expect(await burst(tracer, steps / 2)).toBe(0);
    const queuedBefore = tracer.stats().plugins.map((p) => `${p.name} ${p.queued}`);
    const started = Date.now();
    const closed = await tracer.shutdown();
    const took = Date.now() - started;
    const stats = tracer.stats().plugins;
    const exporting = stats.filter((p) => p.name !== memory.name);

    report(
      'graceful shutdown',
      `${count(steps)} steps × 4 backends delivered by shutdown() in ${ms(took)} (queued when it started: ${queuedBefore.join(', ')}); ` +
        `report ok ${closed.ok}, exported ${closed.exported}, dropped ${closed.dropped}; ` +
        PLUGINS.map((p) => `${p} ${ledger.range(p, 0, steps).once}/${steps} once`).join(', '),
    );
    expect(closed.ok).toBe(true);
    expect(closed.timedOut).toBe(false);
    expect(closed.exported).toBe(sumExported(stats));
    expect(closed.dropped).toBe(0);
    for (const p of exporting) {
      expect(p, describeAccounts(p)).toMatchObject({
        received: steps,
        exported: steps,
        queued: 0,
        dropped: {},
      });
    }
    for (const plugin of PLUGINS) {
      expect(ledger.range(plugin, 0, steps), ledger.problems(plugin, 0, steps).join(' ')).toEqual({
        once: steps,
        missing: 0,
        duplicated: 0,
      });
    }
    expect(memory.steps).toHaveLength(steps);
  });
});

describe('shutdown with the backends down', () => {
  for (const down of ['refusing', 'blackhole'] as const) {
    it(`${down}: returns by its deadline with counts that add up, and sends nothing afterwards`, async () => {
      const endpoints =
        down === 'refusing'
          ? {
              otlp: `http://127.0.0.1:${await closedPort()}`,
              langsmith: `http://127.0.0.1:${await closedPort()}`,
            }
          : await sinks('blackhole');
      const requestsSoFar = () => (otlp?.requests.length ?? 0) + (langsmith?.requests.length ?? 0);
      const tracer = createTracer({
        flushOnExit: false,
        onError: () => undefined,
        plugins: exportingPlugins(endpoints),
      });
      const steps = 2_000;
      expect(await burst(tracer, steps / 2)).toBe(0);
      await pause(100); // the first exports are under way
      const deadline = 2_000;
      const started = Date.now();
      const closed = await tracer.shutdown({ timeoutMs: deadline });
      const took = Date.now() - started;
      const atReturn = tracer.stats().plugins;
      const requestsAtReturn = requestsSoFar();
      await pause(2_000);
      const later = tracer.stats().plugins;

      report(
        `shutdown, backends ${down}`,
        `returned in ${ms(took)} (deadline ${deadline} ms): ok ${closed.ok}, timed out ${JSON.stringify(timedOutNames(closed))}, ` +
          `exported ${closed.exported}, dropped ${closed.dropped}; at return: ${atReturn.map(describeAccounts).join('; ')}; ` +
          `2 s later: ${later.map((p) => `${p.name} queued ${p.queued}`).join(', ')}, ` +
          (down === 'blackhole'
            ? `${requestsSoFar() - requestsAtReturn} requests sent after the return`
            : 'requests after the return not observable (nothing listens)'),
      );
      expect(took).toBeLessThan(deadline + 500);
      expect(closed.exported).toBe(0);
      // The report's totals are the counters', and the counters add up, at return and later.
      expect(closed.dropped).toBe(sumDropped(atReturn));
      for (const p of [...atReturn, ...later]) expect(identityGap(p), describeAccounts(p)).toBe(0);
      // A plugin that did not finish says so in the report.
      for (const p of atReturn) {
        if (p.queued > 0) expect(closed.plugins[p.name]?.ok, describeAccounts(p)).toBe(false);
      }
      if (atReturn.some((p) => p.queued > 0)) expect(closed.ok).toBe(false);
      expect(requestsSoFar()).toBe(requestsAtReturn);
    });
  }
});

const run = promisify(execFile);

// An app whose only remaining work is tracing: top-level `await tracer.shutdown()` while both
// backends have just answered 503 with Retry-After: 1. The process must stay alive for the retry,
// deliver, and exit normally (before the fix in plugin-host.ts, the LangSmith plugin's unref'd
// backoff timer let Node exit with code 13 and the runs lost).
const script = `
import { createTracer } from '@spanchain/core';
import { langsmith } from '@spanchain/langsmith';
import { otel } from '@spanchain/otel';
const tracer = createTracer({
  flushOnExit: false,
  onError: () => {},
  plugins: [
    otel({ endpoint: process.env.OTLP_URL, metrics: false }),
    langsmith({ endpoint: process.env.LANGSMITH_URL, apiKey: 'lsv2_pt_reliability' }),
  ],
});
for (let i = 0; i < 20; i++) await tracer.custom({ name: 'job', metadata: { seq: i } }, async () => i);
const report = await tracer.shutdown();
process.stdout.write(JSON.stringify({ report, stats: tracer.stats().plugins }));
`;

describe('shutdown in a process with nothing else to do', () => {
  it('stays alive for a Retry-After, delivers, and exits normally', async () => {
    const ledger = new DeliveryLedger();
    const endpoints = await sinks('ok', ledger);
    let firstOtlp = true;
    let firstLangSmith = true;
    otlp!.respondWith(() => {
      if (!firstOtlp) return { status: 'ok' };
      firstOtlp = false;
      return { status: 503, retryAfter: 1 };
    });
    langsmith!.respondWith(() => {
      if (!firstLangSmith) return { status: 'ok' };
      firstLangSmith = false;
      return { status: 503, retryAfter: 1 };
    });
    const started = Date.now();
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('.', import.meta.url).pathname,
      env: { ...process.env, OTLP_URL: endpoints.otlp, LANGSMITH_URL: endpoints.langsmith },
      timeout: 30_000,
    });
    const took = Date.now() - started;
    const { report: closed } = JSON.parse(stdout) as { report: FlushReport };
    report(
      'shutdown waits for a retry',
      `exit 0 after ${ms(took)}; report ok ${closed.ok}, exported ${closed.exported}, dropped ${closed.dropped}; ` +
        `otel ${ledger.range('otel', 0, 20).once}/20, langsmith ${ledger.range('langsmith', 0, 20).once}/20 at the sinks`,
    );
    expect(closed).toMatchObject({ ok: true, timedOut: false, exported: 40, dropped: 0 });
    expect(ledger.range('otel', 0, 20)).toEqual({ once: 20, missing: 0, duplicated: 0 });
    expect(ledger.range('langsmith', 0, 20)).toEqual({ once: 20, missing: 0, duplicated: 0 });
  });
});
