// A plugin that throws from every hook, one whose hooks reject, and one whose hooks never settle,
// installed beside the OTel plugin (loopback sink) and a MemoryPlugin. The app must get its results,
// the healthy plugins everything, flush() and shutdown() must keep their deadlines and name the
// culprit, stats(), inject() and extract() must keep working, and every failure must be counted
// and reported, never thrown. (A hook that blocks synchronously cannot be guarded: the plugin
// contract says onStart/onEnd only enqueue.)
import { createTracer, type InternalErrorReport, type Plugin } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { otel } from '@spanchain/otel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';
import { describeAccounts, identityGap } from './support/accounting.js';
import { ms, report } from './support/report.js';

let otlp: OtlpReceiver;
beforeAll(async () => {
  otlp = await startOtlpReceiver({ grpc: false });
});
afterAll(async () => {
  await otlp?.close();
});

const boom = (hook: string) => () => {
  throw new Error(`thrower.${hook} failed`);
};
const thrower: Plugin = {
  name: 'thrower',
  attach: boom('attach'),
  onStart: boom('onStart'),
  onEnd: boom('onEnd'),
  flush: boom('flush'),
  shutdown: boom('shutdown'),
  stats: boom('stats'),
  inject: boom('inject'),
  extract: boom('extract'),
};
const reject = (hook: string) => () => Promise.reject(new Error(`rejecter.${hook} failed`));
const rejecter: Plugin = {
  name: 'rejecter',
  onEnd: reject('onEnd') as unknown as Plugin['onEnd'],
  flush: reject('flush'),
  shutdown: reject('shutdown'),
};
const never = () => new Promise<never>(() => undefined);
const hanger: Plugin = {
  name: 'hanger',
  onEnd: never as unknown as Plugin['onEnd'],
  flush: never,
  shutdown: never,
};

describe('plugins that throw, reject or hang', () => {
  it('change nothing for the app or the other plugins; deadlines hold; failures are counted', async () => {
    const memory = new MemoryPlugin();
    const errors: InternalErrorReport[] = [];
    const tracer = createTracer({
      flushOnExit: false,
      onError: (r) => errors.push(r),
      plugins: [
        thrower,
        rejecter,
        hanger,
        otel({ endpoint: otlp.httpUrl, metrics: false, batch: { scheduledDelayMillis: 20 } }),
        memory,
      ],
    });
    const steps = 600; // and two more below
    let wrong = 0;
    for (let i = 0; i < steps / 2; i++) {
      const value = await tracer.chain({ name: 'request', metadata: { i } }, () =>
        tracer.tool({ name: 'tool', toolName: 't' }, async () => i),
      );
      if (value !== i) wrong++;
    }
    const headers = tracer.custom('inject', () => tracer.inject<Record<string, string>>({}));
    const continued = tracer.continueFrom(
      { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      () => tracer.custom('continued', () => tracer.activeStep()?.traceId),
    );
    let stats: ReturnType<typeof tracer.stats> | undefined;
    let statsError: unknown;
    try {
      stats = tracer.stats();
    } catch (error) {
      statsError = error;
    }

    const flushStarted = Date.now();
    const flushed = await tracer.flush({ timeoutMs: 1_000 });
    const flushMs = Date.now() - flushStarted;
    const shutdownStarted = Date.now();
    const closed = await tracer.shutdown({ timeoutMs: 1_500 });
    const shutdownMs = Date.now() - shutdownStarted;
    const final = tracer.stats().plugins;
    const otelStats = final.find((p) => p.name === 'otel')!;
    const sources = [...new Set(errors.map((e) => e.source))].sort();

    report(
      'plugin faults',
      `${steps + 2} steps, ${wrong} wrong results; flush ${ms(flushMs)} (deadline 1000 ms): ${JSON.stringify(flushed.plugins)}; ` +
        `shutdown ${ms(shutdownMs)} (deadline 1500 ms); hook errors ${final.map((p) => `${p.name} ${p.hookErrors}`).join(', ')}; ` +
        `memory ${memory.steps.length}, OTLP sink ${otlp.spans().length}; reported from ${sources.join(', ')}`,
    );
    expect(wrong).toBe(0);
    expect(statsError).toBeUndefined();
    expect(stats?.plugins.map((p) => p.name)).toEqual(['thrower', 'rejecter', 'hanger', 'otel', memory.name]);
    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect(continued).toBe('0af7651916cd43dd8448eb211c80319c');
    // Deadlines, and a report that names the plugin that did not finish.
    expect(flushMs).toBeLessThan(1_000 + 400);
    expect(flushed.timedOut).toBe(true);
    expect(flushed.plugins).toMatchObject({
      hanger: { ok: false, timedOut: true },
      thrower: { ok: false, timedOut: false },
      rejecter: { ok: false, timedOut: false },
      otel: { ok: true },
      [memory.name]: { ok: true },
    });
    expect(shutdownMs).toBeLessThan(1_500 + 400);
    expect(closed.plugins.hanger).toMatchObject({ ok: false, timedOut: true });
    // The healthy plugins got everything.
    expect(memory.steps).toHaveLength(steps + 2);
    expect(otlp.spans()).toHaveLength(steps + 2);
    expect(otelStats).toMatchObject({ received: steps + 2, exported: steps + 2, hookErrors: 0 });
    expect(identityGap(otelStats), describeAccounts(otelStats)).toBe(0);
    // The faulty ones are counted and reported.
    const hookErrors = Object.fromEntries(final.map((p) => [p.name, p.hookErrors]));
    expect(hookErrors.thrower).toBeGreaterThanOrEqual(2 * (steps + 2));
    expect(hookErrors.rejecter).toBeGreaterThanOrEqual(steps + 2);
    expect(hookErrors.otel).toBe(0);
    expect(sources).toEqual(
      expect.arrayContaining([
        'plugin:thrower.onEnd',
        'plugin:thrower.stats',
        'plugin:rejecter.onEnd',
        'plugin:hanger.flush',
      ]),
    );
  });
});
