// How @spanchain/otel behaves when the OTLP receiver does not simply accept: retryable answers are
// retried (CONTRACTS §1: 429/502/503/504, honouring Retry-After), others are not, a silent backend is
// given up on after the timeout, and in every case the traced code and flush() are unaffected and
// tracer.stats() tells what happened.
import { createTracer, type InternalErrorReport, setErrorHandler, type Tracer } from '@spanchain/core';
import { type OtelPluginOptions, type OtlpProtocol, otel } from '@spanchain/otel';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useOtlpReceiver } from '../support/receiver-fixture.js';

const fixture = useOtlpReceiver();
const { tracers } = fixture;
let reports: InternalErrorReport[] = [];

beforeEach(() => {
  // Export failures go to the process-wide handler: collect them instead of printing.
  reports = [];
  setErrorHandler((report) => reports.push(report));
});

afterEach(() => {
  setErrorHandler();
});

function startTracer(options: OtelPluginOptions): Tracer {
  const protocol = options.protocol ?? 'http/protobuf';
  const tracer = createTracer({
    flushOnExit: false,
    plugins: [
      otel({
        endpoint: protocol === 'grpc' ? fixture.receiver.grpcUrl : fixture.receiver.httpUrl,
        batch: { scheduledDelayMillis: 10 },
        metrics: false,
        ...options,
      }),
    ],
  });
  tracers.push(tracer);
  return tracer;
}

/** Two steps; returns what the traced code returned. */
function pipeline(tracer: Tracer): Promise<number> {
  return tracer.chain('checkout', async () => {
    const model = await tracer.llm({ model: 'gpt-4o', provider: 'openai' }, async () => 'answer');
    return model.length * 7;
  });
}

const otelStats = (tracer: Tracer) => tracer.stats().plugins.find((p) => p.name === 'otel')!;
const traceRequests = () => fixture.receiver.requests.filter((r) => r.signal === 'traces');

describe('a retryable answer', () => {
  it.each(['http/protobuf', 'http/json'] as OtlpProtocol[])(
    '503 with Retry-After: 0 is retried and the spans delivered (%s)',
    async (protocol) => {
      let first = true;
      fixture.receiver.respondWith((request) => {
        if (request.signal !== 'traces' || !first) return { status: 'ok' };
        first = false;
        return { status: 503, retryAfter: 0, body: 'busy' };
      });
      const tracer = startTracer({ protocol });
      expect(await pipeline(tracer)).toBe(42);
      const started = Date.now();
      const report = await tracer.flush();
      expect(Date.now() - started).toBeLessThan(2000);
      expect(report.timedOut).toBe(false);
      await fixture.receiver.waitFor({ spans: 2 }, 3000);

      expect(traceRequests().map((r) => r.outcome?.kind)).toEqual(['rejected', 'accepted']);
      // The retry is the same request again.
      expect(traceRequests()[1]!.body.equals(traceRequests()[0]!.body)).toBe(true);
      expect(
        fixture.receiver
          .spans()
          .map((s) => s.name)
          .sort(),
      ).toEqual(['chat gpt-4o', 'checkout']);
      expect(otelStats(tracer)).toMatchObject({ exported: 2, queued: 0, failed: 0, dropped: {} });
      expect(reports).toEqual([]);
    },
  );

  // The SDK's gRPC transport never retries; the plugin retries the OTLP spec's retryable codes.
  it('UNAVAILABLE is retried over gRPC too', async () => {
    let first = true;
    fixture.receiver.respondWith((request) => {
      if (request.signal !== 'traces' || !first) return { status: 'ok' };
      first = false;
      return { status: 503 };
    });
    const tracer = startTracer({ protocol: 'grpc' });
    await pipeline(tracer);
    await tracer.flush();
    expect(traceRequests().map((r) => r.outcome?.kind)).toEqual(['rejected', 'accepted']);
    expect(otelStats(tracer)).toMatchObject({ exported: 2, failed: 0 });
  });
});

describe('a non-retryable answer', () => {
  it.each(['http/protobuf', 'grpc'] as OtlpProtocol[])(
    '400 is not retried, is counted as failed and dropped, and flush still resolves (%s)',
    async (protocol) => {
      fixture.receiver.respondWith(() => ({ status: 400, body: 'malformed' }));
      const tracer = startTracer({ protocol });
      expect(await pipeline(tracer)).toBe(42);
      const started = Date.now();
      const report = await tracer.flush();
      expect(Date.now() - started).toBeLessThan(2000);
      expect(report.timedOut).toBe(false);

      expect(traceRequests()).toHaveLength(1);
      expect(traceRequests()[0]!.outcome?.kind).toBe('rejected');
      expect(fixture.receiver.spans()).toEqual([]);
      expect(otelStats(tracer)).toMatchObject({
        received: 2,
        exported: 0,
        queued: 0,
        failed: 1,
        dropped: { 'export-failed': 2 },
      });
      expect(reports.map((r) => r.source)).toContain('plugin:otel.export');
      // Still not retried a little later.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(traceRequests()).toHaveLength(1);
      // The app keeps working, and later exports succeed once the backend accepts again.
      fixture.receiver.respondWith();
      expect(await pipeline(tracer)).toBe(42);
      await tracer.flush();
      await fixture.receiver.waitFor({ spans: 2 }, 3000);
      expect(otelStats(tracer)).toMatchObject({ exported: 2, failed: 1 });
    },
  );
});

describe('a backend that never answers', () => {
  it.each(['http/protobuf', 'grpc'] as OtlpProtocol[])(
    'is given up on after timeoutMillis: flush returns in bounded time and the failure is counted (%s)',
    async (protocol) => {
      fixture.receiver.respondWith(() => ({ blackhole: true }));
      const tracer = startTracer({ protocol, timeoutMillis: 300 });
      expect(await pipeline(tracer)).toBe(42);
      const started = Date.now();
      await tracer.flush();
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(2500);

      expect(traceRequests().length).toBeGreaterThanOrEqual(1);
      expect(traceRequests()[0]!.outcome?.kind).toBe('blackhole');
      expect(fixture.receiver.spans()).toEqual([]);
      expect(otelStats(tracer)).toMatchObject({
        exported: 0,
        queued: 0,
        failed: 1,
        dropped: { 'export-failed': 2 },
      });
      // Shutting down does not wait for the silent backend again.
      const shutdownStarted = Date.now();
      await tracer.shutdown();
      expect(Date.now() - shutdownStarted).toBeLessThan(1500);
    },
  );
});

describe('an OTLP partial success', () => {
  it.each(['http/protobuf', 'http/json', 'grpc'] as OtlpProtocol[])(
    'counts the rejected spans as dropped, not exported, and reports the backend’s reason (%s)',
    async (protocol) => {
      fixture.receiver.respondWith((request) =>
        request.signal === 'traces'
          ? { partialSuccess: { rejected: 1, message: 'span name too long' } }
          : { status: 'ok' },
      );
      const tracer = startTracer({ protocol });
      expect(await pipeline(tracer)).toBe(42);
      await tracer.flush();
      // Accepted, so not retried.
      expect(traceRequests()).toHaveLength(1);
      expect(otelStats(tracer)).toMatchObject({
        received: 2,
        exported: 1,
        queued: 0,
        failed: 0,
        dropped: { 'partial-success': 1 },
      });
      const report = reports.find((r) => r.source === 'plugin:otel.export');
      expect(report?.message).toContain('rejected 1 of 2 spans: span name too long');
    },
  );
});

describe('a request too large for the backend (413)', () => {
  it.each(['http/protobuf', 'http/json'] as OtlpProtocol[])(
    'is sent again in halves until the parts fit, and every span arrives once (%s)',
    async (protocol) => {
      const limit = protocol === 'http/json' ? 6_000 : 3_000;
      fixture.receiver.respondWith((request) =>
        request.signal === 'traces' && request.bytes.length > limit
          ? { status: 413, body: 'request entity too large' }
          : { status: 'ok' },
      );
      const tracer = startTracer({
        protocol,
        compression: 'none',
        batch: { scheduledDelayMillis: 60_000, maxExportBatchSize: 512 },
      });
      for (let i = 0; i < 16; i++)
        await tracer.custom({ name: `s${i}`, metadata: { filler: 'x'.repeat(400) } }, async () => i);
      await tracer.flush();
      const names = fixture.receiver
        .spans()
        .map((s) => s.name)
        .sort();
      expect(names).toEqual(Array.from({ length: 16 }, (_, i) => `s${i}`).sort());
      const outcomes = traceRequests().map((r) => r.outcome?.kind);
      expect(outcomes[0]).toBe('rejected');
      expect(outcomes.filter((o) => o === 'accepted').length).toBeGreaterThan(1);
      expect(otelStats(tracer)).toMatchObject({ exported: 16, queued: 0, failed: 0, dropped: {} });
      expect(reports).toEqual([]);
    },
  );

  it('drops a single span that is still too large, counted as too-large, and delivers the rest', async () => {
    fixture.receiver.respondWith((request) =>
      request.signal === 'traces' && request.bytes.length > 3_000
        ? { status: 413, body: 'request entity too large' }
        : { status: 'ok' },
    );
    const tracer = startTracer({ compression: 'none', batch: { scheduledDelayMillis: 60_000 } });
    for (let i = 0; i < 4; i++) await tracer.custom(`small${i}`, async () => i);
    await tracer.custom({ name: 'big', metadata: { filler: 'y'.repeat(5_000) } }, async () => 0);
    await tracer.flush();
    expect(
      fixture.receiver
        .spans()
        .map((s) => s.name)
        .sort(),
    ).toEqual(['small0', 'small1', 'small2', 'small3']);
    expect(otelStats(tracer)).toMatchObject({
      exported: 4,
      queued: 0,
      failed: 1,
      dropped: { 'too-large': 1 },
    });
    expect(reports.map((r) => r.source)).toContain('plugin:otel.export');
  });
});

describe('a collector that is away for a while', () => {
  const stepsIn = (tracer: Tracer, count: number, name = 'job') =>
    Promise.all(Array.from({ length: count }, (_, i) => tracer.custom(`${name}${i}`, async () => i)));

  it('gets the batch again once it is back: held meanwhile, counted as queued, delivered once', async () => {
    await fixture.receiver.refuseConnections();
    const tracer = startTracer({ timeoutMillis: 300 });
    await stepsIn(tracer, 6);
    // The first attempt fails (the SDK's own retries run out within 300 ms) and the batch is held.
    const until = Date.now() + 3_000;
    while (otelStats(tracer).failed === 0 && Date.now() < until) await sleep(20);
    expect(otelStats(tracer)).toMatchObject({ received: 6, exported: 0, queued: 6, dropped: {} });
    await fixture.receiver.acceptConnections();
    await fixture.receiver.waitFor({ spans: 6 }, 5_000);
    await settled(tracer);
    expect(otelStats(tracer)).toMatchObject({ exported: 6, queued: 0, dropped: {} });
    await sleep(200);
    expect(fixture.receiver.spans()).toHaveLength(6);
    expect(reports).toEqual([]);
  });

  it('sends held batches at once when another export gets through, not after their backoff', async () => {
    await fixture.receiver.refuseConnections();
    const tracer = startTracer({ timeoutMillis: 300 });
    await stepsIn(tracer, 3, 'early');
    // Two failed attempts: the next retry is 1.6–2.4 s away.
    const until = Date.now() + 5_000;
    while (otelStats(tracer).failed < 2 && Date.now() < until) await sleep(20);
    expect(otelStats(tracer)).toMatchObject({ failed: 2, queued: 3 });
    await fixture.receiver.acceptConnections();
    const back = Date.now();
    await stepsIn(tracer, 2, 'late');
    await fixture.receiver.waitFor({ spans: 5 }, 5_000);
    // The late batch went through within its 10 ms schedule, and the early one right after it.
    expect(Date.now() - back).toBeLessThan(1_200);
    await settled(tracer);
    expect(otelStats(tracer)).toMatchObject({ exported: 5, queued: 0, dropped: {} });
  });

  it('while spans are dropped for a full queue, tries a held batch early (once a second) to notice the backend is back', async () => {
    await fixture.receiver.refuseConnections();
    const tracer = startTracer({
      timeoutMillis: 200,
      batch: { scheduledDelayMillis: 10, maxQueueSize: 10, maxExportBatchSize: 10 },
    });
    await stepsIn(tracer, 10, 'early');
    // Three failed attempts: the next retry is 3.2–4.8 s away.
    const until = Date.now() + 8_000;
    while (otelStats(tracer).failed < 3 && Date.now() < until) await sleep(20);
    expect(otelStats(tracer)).toMatchObject({ failed: 3, queued: 10 });
    await fixture.receiver.acceptConnections();
    const back = Date.now();
    // Each step finds the pipeline full: dropped, and the first drop probes.
    while (fixture.receiver.spans().length < 10 && Date.now() - back < 6_000) {
      await stepsIn(tracer, 1, 'dropped');
      await sleep(50);
    }
    expect(fixture.receiver.spans()).toHaveLength(10);
    expect(Date.now() - back).toBeLessThan(2_500);
  });

  it('while the backend is away, sends one request at a time, not one per batch', async () => {
    fixture.receiver.respondWith((request) =>
      request.signal === 'traces' ? { blackhole: true } : { status: 'ok' },
    );
    const tracer = startTracer({
      timeoutMillis: 300,
      batch: { scheduledDelayMillis: 10, maxQueueSize: 1_000, maxExportBatchSize: 10 },
    });
    // Five batches at once: five requests in parallel while the backend is thought healthy.
    await stepsIn(tracer, 50);
    await sleep(3_000);
    const arrivals = traceRequests().map((r) => r.receivedAt);
    const first = arrivals[0]!;
    const wave = arrivals.filter((t) => t - first < 250);
    const later = arrivals.filter((t) => t - first >= 250);
    expect(wave.length).toBe(5);
    // After the first timeouts, the held batches come back one request at a time: each waits
    // for the one before it to time out (300 ms).
    expect(later.length).toBeGreaterThan(1);
    for (let i = 1; i < later.length; i++) expect(later[i]! - later[i - 1]!).toBeGreaterThanOrEqual(250);
    expect(otelStats(tracer)).toMatchObject({ received: 50, exported: 0, dropped: {} });
    // Shut down here, while this file's handler collects the timeouts that shutdown meets.
    await tracer.shutdown({ timeoutMs: 2_000 });
    expect(reports.map((r) => r.source)).toContain('plugin:otel.export');
  });

  it('counts held spans against the queue bound, so memory stays bounded', async () => {
    await fixture.receiver.refuseConnections();
    const tracer = startTracer({
      timeoutMillis: 300,
      batch: { scheduledDelayMillis: 10, maxQueueSize: 10, maxExportBatchSize: 10 },
    });
    await stepsIn(tracer, 10);
    const until = Date.now() + 3_000;
    while (otelStats(tracer).failed === 0 && Date.now() < until) await sleep(20);
    // The held batch fills the queue: the next span is dropped (and that drop tries the held
    // batch early, so the spans after it find room again).
    await stepsIn(tracer, 1, 'late');
    expect(otelStats(tracer)).toMatchObject({ received: 11, queued: 10, dropped: { 'queue-full': 1 } });
    await fixture.receiver.acceptConnections();
    await fixture.receiver.waitFor({ spans: 10 }, 5_000);
    await settled(tracer);
    expect(otelStats(tracer)).toMatchObject({ exported: 10, queued: 0, dropped: { 'queue-full': 1 } });
  });

  it('flush sends held batches at once, and a failure then is final', async () => {
    await fixture.receiver.refuseConnections();
    const tracer = startTracer({ timeoutMillis: 300 });
    await stepsIn(tracer, 3);
    const until = Date.now() + 3_000;
    while (otelStats(tracer).failed === 0 && Date.now() < until) await sleep(20);
    expect(otelStats(tracer).queued).toBe(3);
    const started = Date.now();
    await tracer.flush();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(otelStats(tracer)).toMatchObject({ exported: 0, queued: 0, dropped: { 'export-failed': 3 } });
    expect(reports.map((r) => r.source)).toContain('plugin:otel.export');
  });

  it('maxRetries: 0 drops a failed batch at once', async () => {
    await fixture.receiver.refuseConnections();
    const tracer = startTracer({ timeoutMillis: 300, maxRetries: 0 });
    await stepsIn(tracer, 3);
    const until = Date.now() + 3_000;
    while (otelStats(tracer).failed === 0 && Date.now() < until) await sleep(20);
    expect(otelStats(tracer)).toMatchObject({ exported: 0, queued: 0, dropped: { 'export-failed': 3 } });
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (bounded) until nothing is queued or in flight: the receiver stores before it answers. */
async function settled(tracer: Tracer): Promise<void> {
  const until = Date.now() + 3_000;
  while (otelStats(tracer).queued > 0 && Date.now() < until) await sleep(10);
}
