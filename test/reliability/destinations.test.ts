// Independent destinations: one backend that stops answering must not delay another. Steps are
// traced at a steady pace; each sink notes when each step arrives. Checked across plugins (the OTel
// plugin's collector never answers; Langfuse, Phoenix and LangSmith must deliver as fast as when it
// answers) and across destinations inside one plugin (one team's credentials, one LangSmith replica).
import { createTracer, type Tracer } from '@spanchain/core';
import { langsmith } from '@spanchain/langsmith';
import { otel } from '@spanchain/otel';
import { afterEach, describe, expect, it } from 'vitest';
import { type LangSmithReceiver, startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { startOtlpReceiver } from '../support/otlp-receiver.js';
import { describeAccounts } from './support/accounting.js';
import { exportingPlugins, KEYS, pause } from './support/plugins.js';
import { ms, percentile, report } from './support/report.js';
import { type PluginName, pluginOfSpan, seqOfRun, seqOfSpan } from './support/sinks.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

/** When each step (by seq) ended in the app, and when it arrived at each sink. */
class Arrivals {
  readonly ended = new Map<number, number>();
  readonly arrived = new Map<string, Map<number, number>>();
  note(where: string, seq: number | undefined): void {
    if (seq === undefined) return;
    const map = this.arrived.get(where) ?? new Map<number, number>();
    if (!map.has(seq)) map.set(seq, Date.now());
    this.arrived.set(where, map);
  }
  /** Delivery delays (ms) of the steps in [from, to) that arrived, and how many did not. */
  delays(where: string, from: number, to: number): { delays: number[]; missing: number } {
    const map = this.arrived.get(where) ?? new Map<number, number>();
    const delays: number[] = [];
    let missing = 0;
    for (let seq = from; seq < to; seq++) {
      const at = map.get(seq);
      if (at === undefined) missing++;
      else delays.push(at - this.ended.get(seq)!);
    }
    return { delays, missing };
  }
}

async function otlpSink(
  arrivals: Arrivals,
  label: (plugin: PluginName, headers: Record<string, string>) => string,
) {
  const receiver = await startOtlpReceiver({
    grpc: false,
    retain: false,
    onData: ({ spans }, request) => {
      for (const span of spans) {
        const plugin = pluginOfSpan(span);
        if (plugin) arrivals.note(label(plugin, request.headers), seqOfSpan(span, plugin));
      }
    },
  });
  closers.push(() => receiver.close());
  return receiver;
}

async function langsmithSink(
  arrivals: Arrivals,
  label: (request: { headers: Record<string, string> }, project: string) => string,
) {
  const receiver = await startLangSmithReceiver({
    retain: false,
    onRuns: (posts, _patches, request) => {
      for (const run of posts) arrivals.note(label(request, String(run.session_name)), seqOfRun(run));
    },
  });
  closers.push(() => receiver.close());
  return receiver;
}

/** `count` steps at `perSecond`, numbered from `from`; `options(seq)` adds per-step options. */
async function pace(
  tracer: Tracer,
  arrivals: Arrivals,
  from: number,
  count: number,
  perSecond: number,
  options: (seq: number) => Record<string, unknown> = () => ({}),
): Promise<void> {
  const start = Date.now();
  for (let i = 0; i < count; i++) {
    const seq = from + i;
    await tracer.custom({ name: 'step', metadata: { seq }, ...options(seq) }, async () => seq);
    arrivals.ended.set(seq, Date.now());
    const wait = start + ((i + 1) * 1000) / perSecond - Date.now();
    if (wait > 0) await pause(wait);
  }
}

const summary = (d: { delays: number[]; missing: number }, total: number) =>
  `${total - d.missing}/${total} in p50 ${ms(percentile(d.delays, 50))}, p95 ${ms(percentile(d.delays, 95))}`;

describe('independent destinations', () => {
  it('a backend that never answers does not delay the other plugins', async () => {
    const arrivals = new Arrivals();
    const dead = await otlpSink(arrivals, (plugin) => plugin);
    const healthy = await otlpSink(arrivals, (plugin) => plugin);
    const ls = await langsmithSink(arrivals, () => 'langsmith');
    const tracer = createTracer({
      flushOnExit: false,
      onError: () => undefined,
      plugins: exportingPlugins({ otlp: healthy.httpUrl, langsmith: ls.url }, {}).map((p) =>
        // The OTel plugin's collector is the one that will stop answering.
        p.name === 'otel'
          ? otel({ endpoint: dead.httpUrl, metrics: false, batch: { scheduledDelayMillis: 20 } })
          : p,
      ),
    });
    closers.push(() => tracer.shutdown({ timeoutMs: 1_000 }));
    const n = 300;
    // Phase 1: every backend answers. Phase 2: the OTel plugin's never does.
    await pace(tracer, arrivals, 0, n, 150);
    dead.respondWith(() => ({ blackhole: true }));
    await pace(tracer, arrivals, n, n, 150);
    await pause(500); // delivery as it happens, without flushing
    const lines: string[] = [];
    for (const plugin of ['langfuse', 'phoenix', 'langsmith'] as const) {
      const up = arrivals.delays(plugin, 0, n);
      const down = arrivals.delays(plugin, n, 2 * n);
      lines.push(`${plugin}: with it up ${summary(up, n)}, with it down ${summary(down, n)}`);
      expect(down.missing, plugin).toBe(0);
      expect(percentile(down.delays, 95), plugin).toBeLessThan(percentile(up.delays, 95) + 250);
    }
    const otelStats = tracer.stats().plugins.find((p) => p.name === 'otel')!;
    report(
      'independent destinations: plugins',
      `OTel collector blackholed: ${lines.join('; ')}; ${describeAccounts(otelStats)}`,
    );
    expect(arrivals.delays('otel', n, 2 * n).missing).toBe(n);
  });

  it('one team’s collector that never answers does not delay another team’s spans (light traffic)', async () => {
    const arrivals = new Arrivals();
    const sink = await otlpSink(arrivals, (_plugin, headers) => headers['x-team'] ?? '?');
    sink.respondWith((request) =>
      request.headers['x-team'] === 'red' ? { blackhole: true } : { status: 'ok' },
    );
    const tracer = createTracer({
      flushOnExit: false,
      onError: () => undefined,
      plugins: [
        otel({
          endpoint: sink.httpUrl,
          metrics: false,
          timeoutMillis: 5_000,
          headers: (step) => ({ 'x-team': String(step.identity?.team) }),
          batch: { scheduledDelayMillis: 20 },
        }),
      ],
    });
    closers.push(() => tracer.shutdown({ timeoutMs: 1_000 }));
    const n = 300;
    // Red's traffic stays well inside the queue bound: this is about the pipelines, not the queue.
    await pace(tracer, arrivals, 0, n, 150, (seq) => ({
      identity: { team: seq % 5 === 0 ? 'red' : 'blue' },
    }));
    await pause(500);
    const blueSeqs = Array.from({ length: n }, (_, i) => i).filter((i) => i % 5 !== 0);
    const blue = arrivals.delays('blue', 0, n);
    const blueMissing = blueSeqs.filter((seq) => !arrivals.arrived.get('blue')?.has(seq)).length;
    report(
      'independent destinations: teams (light)',
      `red blackholed; blue ${blueSeqs.length - blueMissing}/${blueSeqs.length} delivered, p95 ${ms(percentile(blue.delays, 95))}; ` +
        describeAccounts(tracer.stats().plugins[0]!),
    );
    expect(blueMissing).toBe(0);
    expect(percentile(blue.delays, 95)).toBeLessThan(500);
  });

  // The queue bound is per credential set: red's collector hangs with red's queue full, and blue's
  // spans still have room in blue's (one shared bound used to drop every one of them).
  it('one team’s collector that never answers does not cost another team its spans (heavy traffic)', async () => {
    const arrivals = new Arrivals();
    const sink = await otlpSink(arrivals, (_plugin, headers) => headers['x-team'] ?? '?');
    sink.respondWith((request) =>
      request.headers['x-team'] === 'red' ? { blackhole: true } : { status: 'ok' },
    );
    const tracer = createTracer({
      flushOnExit: false,
      onError: () => undefined,
      plugins: [
        otel({
          endpoint: sink.httpUrl,
          metrics: false,
          timeoutMillis: 5_000,
          headers: (step) => ({ 'x-team': String(step.identity?.team) }),
          batch: { scheduledDelayMillis: 20, maxQueueSize: 100, maxExportBatchSize: 50 },
        }),
      ],
    });
    closers.push(() => tracer.shutdown({ timeoutMs: 1_000 }));
    await pace(tracer, arrivals, 0, 400, 400, () => ({ identity: { team: 'red' } }));
    await pace(tracer, arrivals, 400, 100, 200, () => ({ identity: { team: 'blue' } }));
    await pause(500);
    expect(arrivals.delays('blue', 400, 500).missing).toBe(0);
  });

  // Request slots are per destination (with a higher total): a replica that never answers holds
  // only its own share, retries included, and the primary's runs arrive as fast as ever.
  it('a LangSmith replica that never answers does not delay the primary project', async () => {
    const arrivals = new Arrivals();
    const primary = await langsmithSink(arrivals, () => 'primary');
    const replica: LangSmithReceiver = await startLangSmithReceiver({
      respondWith: () => ({ blackhole: true }),
    });
    closers.push(() => replica.close());
    const tracer = createTracer({
      flushOnExit: false,
      onError: () => undefined,
      plugins: [
        langsmith({
          endpoint: primary.url,
          apiKey: KEYS.langsmith,
          flushIntervalMillis: 20,
          timeoutMillis: 3_000,
          replicas: [{ project: 'audit', endpoint: replica.url }],
        }),
      ],
    });
    closers.push(() => tracer.shutdown({ timeoutMs: 1_000 }));
    await pace(tracer, arrivals, 0, 300, 150);
    await pause(500);
    const d = arrivals.delays('primary', 0, 300);
    report(
      'independent destinations: LangSmith replica',
      `replica blackholed (${replica.requests.length} request(s) hanging there); primary ${summary(d, 300)}; ` +
        describeAccounts(tracer.stats().plugins[0]!),
    );
    expect(d.missing).toBe(0);
    expect(percentile(d.delays, 95)).toBeLessThan(500);
  });
});
