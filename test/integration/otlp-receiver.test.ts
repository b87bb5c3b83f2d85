// The test receiver decodes what the OpenTelemetry SDK's own exporters send (protobuf, JSON, gRPC),
// so later plugin tests can trust it as a stand-in for a collector or an OTLP backend.
import { Metadata } from '@grpc/grpc-js';
import { type Context, context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';

let receiver: OtlpReceiver;
const shutdowns: Array<() => Promise<void>> = [];

beforeEach(async () => {
  receiver = await startOtlpReceiver();
});

afterEach(async () => {
  // Providers first (they may still be exporting), then the receiver.
  await Promise.allSettled(shutdowns.splice(0).map((fn) => fn()));
  await receiver.close();
});

const resource = resourceFromAttributes({ 'service.name': 'otlp-receiver-test', 'deployment.id': 7 });

function tracerWith(exporter: SpanExporter) {
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  shutdowns.push(() => provider.shutdown());
  return { provider, tracer: provider.getTracer('receiver-test-scope', '1.2.3') };
}

/** A parent and a CLIENT child with one attribute of each primitive type, an event and an error status. */
function emitPair(tracer: ReturnType<BasicTracerProvider['getTracer']>): { parent: Span; child: Span } {
  const parent = tracer.startSpan('parent-op', { kind: SpanKind.INTERNAL });
  const ctx: Context = trace.setSpan(context.active(), parent);
  const child = tracer.startSpan(
    'child-op',
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'attr.string': 'hello',
        'attr.int': 42,
        'attr.double': 1.5,
        'attr.bool': true,
        'attr.strings': ['a', 'b'],
      },
    },
    ctx,
  );
  child.addEvent('child-event', { 'event.key': 'event-value', 'event.n': 3 });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  child.end();
  parent.end();
  return { parent, child };
}

function checkPair(parent: Span, child: Span, transport: 'http' | 'grpc') {
  const spans = receiver.spans();
  expect(spans).toHaveLength(2);
  const gotChild = spans.find((s) => s.name === 'child-op');
  const gotParent = spans.find((s) => s.name === 'parent-op');
  expect(gotChild).toBeDefined();
  expect(gotParent).toBeDefined();
  expect(gotParent!.traceId).toBe(parent.spanContext().traceId);
  expect(gotParent!.spanId).toBe(parent.spanContext().spanId);
  expect(gotParent!.parentSpanId).toBe('');
  expect(gotChild!.traceId).toBe(parent.spanContext().traceId);
  expect(gotChild!.spanId).toBe(child.spanContext().spanId);
  expect(gotChild!.parentSpanId).toBe(parent.spanContext().spanId);
  expect(gotChild!.traceId).toMatch(/^[0-9a-f]{32}$/);
  // JS SpanKind is 0-based; the wire enum is 1-based.
  expect(gotParent!.kind).toBe(1);
  expect(gotChild!.kind).toBe(3);
  expect(gotChild!.flags & 0xff).toBe(1); // sampled
  expect(gotChild!.attributes).toEqual({
    'attr.string': 'hello',
    'attr.int': 42,
    'attr.double': 1.5,
    'attr.bool': true,
    'attr.strings': ['a', 'b'],
  });
  expect(gotChild!.events).toHaveLength(1);
  expect(gotChild!.events[0]!.name).toBe('child-event');
  expect(gotChild!.events[0]!.attributes).toEqual({ 'event.key': 'event-value', 'event.n': 3 });
  expect(gotChild!.events[0]!.timeUnixNano).toMatch(/^\d{19}$/);
  expect(gotChild!.status).toEqual({ code: 2, message: 'boom' });
  expect(gotParent!.status.code).toBe(0);
  expect(BigInt(gotChild!.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(gotChild!.startTimeUnixNano));
  // Nanoseconds close to now: the decimal strings were not truncated through a double.
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  expect(nowNs - BigInt(gotChild!.startTimeUnixNano)).toBeLessThan(60_000_000_000n);
  expect(gotChild!.resource['service.name']).toBe('otlp-receiver-test');
  expect(gotChild!.resource['deployment.id']).toBe(7);
  expect(gotChild!.scope).toEqual({ name: 'receiver-test-scope', version: '1.2.3' });
  expect(gotChild!.transport).toBe(transport);
}

describe('OTLP receiver with the SDK trace exporters', () => {
  it('decodes OTLP/HTTP protobuf, with headers passed through', async () => {
    const { provider, tracer } = tracerWith(
      new ProtoTraceExporter({
        url: `${receiver.httpUrl}/v1/traces`,
        headers: { authorization: 'Bearer t' },
      }),
    );
    const { parent, child } = emitPair(tracer);
    await provider.forceFlush();
    await receiver.waitFor({ spans: 2 }, 3000);
    checkPair(parent, child, 'http');
    const req = receiver.requests[0]!;
    expect(req).toMatchObject({
      signal: 'traces',
      transport: 'http',
      path: '/v1/traces',
      contentType: 'application/x-protobuf',
      contentEncoding: '',
      outcome: { kind: 'accepted', status: 200 },
    });
    expect(req.headers.authorization).toBe('Bearer t');
    expect(req.bytes.length).toBeGreaterThan(0);
  });

  it('decodes OTLP/HTTP JSON and keeps the raw JSON (hex ids) in requests', async () => {
    const { provider, tracer } = tracerWith(
      new JsonTraceExporter({ url: `${receiver.httpUrl}/v1/traces`, headers: { authorization: 'Bearer t' } }),
    );
    const { parent, child } = emitPair(tracer);
    await provider.forceFlush();
    await receiver.waitFor({ spans: 2 }, 3000);
    checkPair(parent, child, 'http');
    const req = receiver.requests[0]!;
    expect(req.contentType).toBe('application/json');
    expect(req.headers.authorization).toBe('Bearer t');
    const raw = JSON.stringify(req.decoded);
    expect(raw).toContain(`"traceId":"${parent.spanContext().traceId}"`);
    expect(raw).toContain('"kind":3');
  });

  it('decodes gzip-compressed OTLP/HTTP', async () => {
    const { provider, tracer } = tracerWith(
      new ProtoTraceExporter({
        url: `${receiver.httpUrl}/v1/traces`,
        compression: 'gzip' as NonNullable<
          ConstructorParameters<typeof ProtoTraceExporter>[0]
        >['compression'],
      }),
    );
    const { parent, child } = emitPair(tracer);
    await provider.forceFlush();
    await receiver.waitFor({ spans: 2 }, 3000);
    checkPair(parent, child, 'http');
    const req = receiver.requests[0]!;
    expect(req.contentEncoding).toBe('gzip');
    expect(req.bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // the gzip magic number
    expect(req.body.equals(req.bytes)).toBe(false);
  });

  it('accepts a path prefix such as Langfuse /api/public/otel/v1/traces', async () => {
    const { provider, tracer } = tracerWith(
      new JsonTraceExporter({ url: `${receiver.httpUrl}/api/public/otel/v1/traces` }),
    );
    emitPair(tracer);
    await provider.forceFlush();
    await receiver.waitFor({ spans: 2 }, 3000);
    expect(receiver.requests[0]!.path).toBe('/api/public/otel/v1/traces');
  });

  it('decodes OTLP/gRPC, with metadata captured as headers', async () => {
    const metadata = new Metadata();
    metadata.set('authorization', 'Bearer t');
    metadata.set('x-project', 'p1');
    const { provider, tracer } = tracerWith(new GrpcTraceExporter({ url: receiver.grpcUrl, metadata }));
    const { parent, child } = emitPair(tracer);
    await provider.forceFlush();
    await receiver.waitFor({ spans: 2 }, 3000);
    checkPair(parent, child, 'grpc');
    const req = receiver.requests[0]!;
    expect(req.transport).toBe('grpc');
    expect(req.path).toBe('/opentelemetry.proto.collector.trace.v1.TraceService/Export');
    expect(req.headers.authorization).toBe('Bearer t');
    expect(req.headers['x-project']).toBe('p1');
  });
});

describe('OTLP receiver with the SDK metrics and logs exporters', () => {
  it('decodes a histogram with explicit bucket boundaries', async () => {
    const reader = new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({
        url: `${receiver.httpUrl}/v1/metrics`,
        temporalityPreference: AggregationTemporality.DELTA,
      }),
      // Long interval: the export under test is the one forceFlush triggers.
      exportIntervalMillis: 60_000,
    });
    const provider = new MeterProvider({ resource, readers: [reader] });
    shutdowns.push(() => provider.shutdown());
    const histogram = provider.getMeter('receiver-test-meter', '0.1.0').createHistogram('test.duration', {
      unit: 's',
      description: 'a test histogram',
      advice: { explicitBucketBoundaries: [0.1, 1, 10] },
    });
    histogram.record(0.05, { 'op.name': 'chat' });
    histogram.record(0.5, { 'op.name': 'chat' });
    histogram.record(50, { 'op.name': 'chat' });
    await provider.forceFlush();
    await receiver.waitFor((r) => r.metrics().some((m) => m.name === 'test.duration'), 3000);
    const metric = receiver.metrics().find((m) => m.name === 'test.duration')!;
    expect(metric).toMatchObject({
      unit: 's',
      description: 'a test histogram',
      type: 'histogram',
      temporality: 1, // DELTA
      scope: { name: 'receiver-test-meter', version: '0.1.0' },
    });
    expect(metric.resource['service.name']).toBe('otlp-receiver-test');
    expect(metric.dataPoints).toHaveLength(1);
    const point = metric.dataPoints[0]!;
    expect(point.attributes).toEqual({ 'op.name': 'chat' });
    expect(point.count).toBe(3);
    expect(point.sum).toBeCloseTo(50.55);
    expect(point.explicitBounds).toEqual([0.1, 1, 10]);
    expect(point.bucketCounts).toEqual([1, 1, 0, 1]);
    expect(point.min).toBe(0.05);
    expect(point.max).toBe(50);
  });

  it('decodes a log record with an event name, a structured body and trace context', async () => {
    const provider = new LoggerProvider({
      resource,
      // sdk-logs 0.223 takes an options object here, not the exporter itself.
      processors: [
        new SimpleLogRecordProcessor({
          exporter: new OTLPLogExporter({ url: `${receiver.httpUrl}/v1/logs` }),
        }),
      ],
    });
    shutdowns.push(() => provider.shutdown());
    const { tracer } = tracerWith(new JsonTraceExporter({ url: `${receiver.httpUrl}/v1/traces` }));
    const span = tracer.startSpan('with-log');
    provider.getLogger('receiver-test-logger', '2.0.0').emit({
      eventName: 'test.event',
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: { text: 'hi', n: 2, tags: ['x'] },
      attributes: { 'log.attr': 'v' },
      context: trace.setSpan(context.active(), span),
    });
    span.end();
    await provider.forceFlush();
    await receiver.waitFor({ logs: 1 }, 3000);
    const [log] = receiver.logs();
    expect(log).toMatchObject({
      eventName: 'test.event',
      severityNumber: 13,
      severityText: 'WARN',
      body: { text: 'hi', n: 2, tags: ['x'] },
      attributes: { 'log.attr': 'v' },
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
      scope: { name: 'receiver-test-logger', version: '2.0.0' },
    });
    expect(log!.resource['service.name']).toBe('otlp-receiver-test');
  });
});

describe('scripted responses', () => {
  it('503 with Retry-After makes the SDK exporter retry, and the span arrives once accepted', async () => {
    let calls = 0;
    // Retry-After: 0 is far shorter than the SDK's own ~1 s first backoff, so a quick retry shows
    // that the header was honoured.
    receiver.respondWith(() => (++calls === 1 ? { status: 503, retryAfter: 0 } : { status: 'ok' }));
    const { provider, tracer } = tracerWith(new ProtoTraceExporter({ url: `${receiver.httpUrl}/v1/traces` }));
    tracer.startSpan('retried').end();
    await provider.forceFlush();
    await receiver.waitFor({ spans: 1 }, 4000);
    expect(receiver.requests.length).toBeGreaterThanOrEqual(2);
    expect(receiver.requests[0]!.outcome).toEqual({ kind: 'rejected', status: 503 });
    expect(receiver.requests[1]!.outcome).toEqual({ kind: 'accepted', status: 200 });
    expect(receiver.requests[1]!.receivedAt - receiver.requests[0]!.receivedAt).toBeLessThan(700);
    // The rejected attempt's span is not counted: exactly one copy arrived.
    expect(receiver.spans().map((s) => s.name)).toEqual(['retried']);
  });

  it('a 400 is not retried', async () => {
    receiver.respondWith(() => ({ status: 400, body: 'bad request' }));
    const { provider, tracer } = tracerWith(new ProtoTraceExporter({ url: `${receiver.httpUrl}/v1/traces` }));
    tracer.startSpan('rejected').end();
    // The failed export may surface here; what matters is how many attempts the receiver saw.
    await provider.forceFlush().catch(() => undefined);
    await receiver.waitFor({ requests: 1 }, 3000);
    // Longer than the SDK's first retry backoff (1 s ± 20 %), so a retry would have shown up.
    await new Promise((r) => setTimeout(r, 1300));
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.outcome).toEqual({ kind: 'rejected', status: 400 });
    expect(receiver.spans()).toEqual([]);
  });

  it('partial success is accepted and answered as an Export*ServiceResponse', async () => {
    receiver.respondWith(() => ({ partialSuccess: { rejected: 1, message: 'one dropped' } }));
    const res = await postJson('/v1/traces', minimalTrace('ABCDEF0123456789ABCDEF0123456789'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: 'one dropped' } });
    // Upper-case hex as sent stays in the raw request; the normalised view is lowercase.
    expect(JSON.stringify(receiver.requests[0]!.decoded)).toContain('ABCDEF0123456789ABCDEF0123456789');
    expect(receiver.spans()[0]!.traceId).toBe('abcdef0123456789abcdef0123456789');
    expect(receiver.spans()[0]!.attributes).toEqual({ big: 9007199254740993n, bytes: Buffer.from('hi') });
  });

  it('delay, reset and blackhole behave as a slow, broken or silent backend', async () => {
    receiver.respondWith(() => ({ delayMs: 200 }));
    const started = Date.now();
    const delayed = await postJson('/v1/traces', minimalTrace('0'.repeat(31) + '1'));
    expect(delayed.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);

    receiver.respondWith(() => ({ reset: true }));
    await expect(postJson('/v1/traces', minimalTrace('0'.repeat(31) + '2'))).rejects.toThrow();

    receiver.respondWith(() => ({ blackhole: true }));
    await expect(
      postJson('/v1/traces', minimalTrace('0'.repeat(31) + '3'), AbortSignal.timeout(300)),
    ).rejects.toThrow();
    expect(receiver.requests.map((r) => r.outcome?.kind)).toEqual(['accepted', 'reset', 'blackhole']);
    expect(receiver.spans()).toHaveLength(1);
  });

  it('a scripted HTTP status becomes the matching gRPC status on gRPC', async () => {
    receiver.respondWith(() => ({ status: 503 }));
    const { provider, tracer } = tracerWith(new GrpcTraceExporter({ url: receiver.grpcUrl }));
    tracer.startSpan('unavailable').end();
    await provider.forceFlush().catch(() => undefined);
    await receiver.waitFor((r) => r.requests.some((q) => q.outcome !== undefined), 3000);
    expect(receiver.requests[0]!.outcome).toEqual({ kind: 'rejected', status: 503, grpcCode: 14 });
    expect(receiver.spans()).toEqual([]);
  });

  it('waitFor rejects with a readable message on timeout, naming requests to wrong paths', async () => {
    await fetch(`${receiver.httpUrl}/v1/trace`, { method: 'POST', body: '{}' });
    await expect(receiver.waitFor({ spans: 1 }, 50)).rejects.toThrow(
      /timed out after 50 ms.*≥1 spans.*0 span.*non-OTLP paths: POST \/v1\/trace$/,
    );
  });
});

function minimalTrace(traceId: string) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [] },
        scopeSpans: [
          {
            scope: { name: 'hand-made' },
            spans: [
              {
                traceId,
                spanId: '0123456789ABCDEF',
                name: 'json-span',
                kind: 1,
                startTimeUnixNano: '1700000000000000000',
                endTimeUnixNano: '1700000000000000001',
                attributes: [
                  { key: 'big', value: { intValue: '9007199254740993' } },
                  { key: 'bytes', value: { bytesValue: Buffer.from('hi').toString('base64') } },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
}

function postJson(path: string, body: unknown, signal?: AbortSignal) {
  return fetch(`${receiver.httpUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal && { signal }),
  });
}
