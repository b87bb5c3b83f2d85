// Backends that accept connections and never answer: every request runs into its deadline. The
// traced code must not notice, flush() must come back by its deadline with a report that tells
// the truth, memory must stay bounded, the clients must not retry in a storm, and the accounting
// identity must hold in every stats() sample.
import { createTracer, type Tracer } from '@spanchain/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LangSmithReceiver, startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';
import { describeAccounts, droppedTotal, identityGap } from './support/accounting.js';
import { heapMiB } from './support/heap.js';
import { exportingPlugins, pause } from './support/plugins.js';
import { PROFILE } from './support/profile.js';
import { count, mib, ms, report } from './support/report.js';

const TIMEOUT_MS = 1_000;
let otlp: OtlpReceiver;
let langsmith: LangSmithReceiver;

beforeAll(async () => {
  otlp = await startOtlpReceiver({ grpc: false, retain: false, respondWith: () => ({ blackhole: true }) });
  langsmith = await startLangSmithReceiver({ retain: false, respondWith: () => ({ blackhole: true }) });
});
afterAll(async () => {
  await Promise.allSettled([otlp?.close(), langsmith?.close()]);
});

const requestCount = () => otlp.requests.length + langsmith.requests.length;

describe('a blackhole sink', () => {
  it('every request ends at its deadline; flush and shutdown keep theirs; the app never waits', async () => {
    const timeouts = { timeoutMillis: TIMEOUT_MS };
    const tracer: Tracer = createTracer({
      flushOnExit: false,
      onError: () => undefined, // export failures are expected here; stats() counts them
      plugins: exportingPlugins(
        { otlp: otlp.httpUrl, langsmith: langsmith.url },
        { otel: timeouts, langfuse: timeouts, phoenix: timeouts, langsmith: timeouts },
      ),
    });
    const baseline = await heapMiB();
    let gaps = 0;
    let samples = 0;
    const sampler = setInterval(() => {
      samples++;
      for (const p of tracer.stats().plugins) if (identityGap(p) !== 0) gaps++;
    }, 20);

    // The workload: every call returns its own value, at once.
    const steps = PROFILE.blackholeSteps;
    const started = Date.now();
    let slowest = 0;
    let wrong = 0;
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      const value = await tracer.llm(
        { model: 'gpt-4o', provider: 'openai', metadata: { i } },
        async () => i * 3,
      );
      slowest = Math.max(slowest, performance.now() - t);
      if (value !== i * 3) wrong++;
      if (i % 250 === 249) await pause(10);
    }
    const workloadMs = Date.now() - started;
    const heapGrowth = (await heapMiB()) - baseline;

    const flushStarted = Date.now();
    const flushed = await tracer.flush({ timeoutMs: 1_500 });
    const flushMs = Date.now() - flushStarted;
    const afterFlush = tracer.stats().plugins;

    const shutdownStarted = Date.now();
    const closed = await tracer.shutdown({ timeoutMs: 2_000 });
    const shutdownMs = Date.now() - shutdownStarted;
    clearInterval(sampler);
    const requestsAtShutdown = requestCount();
    const elapsedS = (Date.now() - started) / 1000;
    await pause(1_500);
    const final = tracer.stats().plugins;

    report(
      'blackhole',
      `${count(steps)} steps in ${ms(workloadMs)} (slowest call ${ms(slowest)}), heap ${mib(heapGrowth)}; ` +
        `flush ${ms(flushMs)} (deadline 1500 ms, ok ${flushed.ok}, timed out: ${Object.entries(
          flushed.plugins,
        )
          .filter(([, p]) => p.timedOut)
          .map(([n]) => n)
          .join(', ')}), shutdown ${ms(shutdownMs)} (deadline 2000 ms); ` +
        `${requestsAtShutdown} requests in ${elapsedS.toFixed(1)} s, none after shutdown: ${requestCount() === requestsAtShutdown}; ` +
        `identity held in ${samples} samples; ${final.map(describeAccounts).join('; ')}`,
    );

    expect(wrong).toBe(0);
    expect(gaps).toBe(0);
    expect(flushMs).toBeLessThan(1_500 + 500);
    expect(shutdownMs).toBeLessThan(2_000 + 500);
    // A truthful report: exported is what the sink accepted (nothing), dropped is what the
    // plugins counted, and a plugin that says it flushed holds nothing any more.
    expect(flushed.exported).toBe(0);
    for (const [name, outcome] of Object.entries(flushed.plugins)) {
      const p = afterFlush.find((s) => s.name === name)!;
      if (outcome.ok) expect(p.queued, describeAccounts(p)).toBe(0);
    }
    // And a report that says everything is fine leaves nothing behind.
    if (afterFlush.some((p) => p.queued > 0)) expect(flushed.ok).toBe(false);
    expect(closed.exported).toBe(0);
    expect(closed.dropped).toBe(final.reduce((n, p) => n + droppedTotal(p), 0));
    for (const p of final) {
      expect(identityGap(p), describeAccounts(p)).toBe(0);
      expect(p.received).toBe(steps);
      expect(p.queued, describeAccounts(p)).toBe(0);
      expect(p.exported).toBe(0);
    }
    // No retry storm: each plugin waits out its deadline before it tries again.
    expect(requestsAtShutdown / elapsedS / 4).toBeLessThan(10);
    // And nothing is sent once shutdown has returned.
    expect(requestCount()).toBe(requestsAtShutdown);
    expect(heapGrowth).toBeLessThan(50);
  });
});
