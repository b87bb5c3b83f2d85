// A loopback OTLP receiver for tests: it accepts OTLP/HTTP (protobuf or JSON, optionally gzip) and
// OTLP/gRPC exports the way a collector or backend would, decodes them with the OTLP v1.11.0 .proto
// files in test/fixtures/otlp/proto, and exposes one normalised view whatever the transport was.
//
// Normalised values (the same for every transport and encoding):
// - ids (traceId, spanId, parentSpanId, link and log ids) are lowercase hex; '' when absent.
// - int64/fixed64 timestamps (`*UnixNano`) are decimal strings, because the OTLP/JSON encoding uses
//   decimal strings too and a JS number cannot hold nanoseconds since 1970 exactly.
// - AnyValue is unwrapped: string, boolean, int (a number when it is a safe integer, else a bigint),
//   double (number), array → array, kvlist → plain object, bytes → Buffer; an empty AnyValue → undefined.
// - enums (span kind, status code, severity, temporality) stay the integers sent on the wire.
// Only data from requests the receiver accepted (answered 2xx, including partial success) shows up in
// spans()/metrics()/logs(); every request, accepted or not, is in `requests`.
// For long runs (test/reliability), `retain: false` keeps nothing but request metadata and hands the
// data of each accepted request to `onData`; `refuseConnections()`/`acceptConnections()` take the
// port down and bring it back (a closed port: ECONNREFUSED), beside the scripted answers below.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export const OTLP_PROTO_DIR = fileURLToPath(new URL('../fixtures/otlp/proto/', import.meta.url));

export type Signal = 'traces' | 'metrics' | 'logs';
export type Transport = 'http' | 'grpc';

/** What the receiver did with a request. `status` is the HTTP status (for gRPC: the HTTP equivalent). */
export type Outcome =
  | { kind: 'accepted'; status: number }
  | { kind: 'partial'; status: number; rejected: number }
  | { kind: 'rejected'; status: number; grpcCode?: number }
  | { kind: 'invalid'; status: number; reason: string }
  | { kind: 'reset' }
  | { kind: 'blackhole' };

export interface ReceivedRequest {
  signal: Signal;
  transport: Transport;
  /** HTTP path, or the gRPC method path (`/opentelemetry.proto.collector.trace.v1.TraceService/Export`). */
  path: string;
  /** Lowercased header names; for gRPC the call metadata (binary values as base64). */
  headers: Record<string, string>;
  /** Media type without parameters ('application/x-protobuf', 'application/json'; 'application/grpc'). */
  contentType: string;
  /** Content-Encoding ('' when none). For gRPC the grpc-encoding metadata, if the server saw it. */
  contentEncoding: string;
  /** The body exactly as received (still compressed when it was sent compressed). */
  bytes: Buffer;
  /** The body after decompression. */
  body: Buffer;
  /**
   * The request as decoded, before normalisation: for JSON the parsed JSON exactly as sent (ids in the
   * case the client used); for protobuf protobufjs `toObject` output (ids as Buffers, int64 as strings).
   */
  decoded: unknown;
  /** Set once the receiver has answered (or decided not to). */
  outcome?: Outcome;
  receivedAt: number;
}

/**
 * Scripted answers (`receiver.respondWith(fn)`), for reliability tests:
 * - `{ status: 'ok' }` — accept the data, 200 with an empty Export*ServiceResponse (the default).
 * - `{ status: 503, retryAfter: 2, body: 'busy' }` — answer that HTTP status; a 2xx counts as accepted.
 *   `retryAfter` becomes a Retry-After header, `body` a text/plain body. On gRPC the status is mapped to
 *   the gRPC code the OTLP spec pairs with it (or `grpcCode`); Retry-After has no gRPC equivalent here.
 * - `{ partialSuccess: { rejected: 2, message: 'x' } }` — accept, but answer 200 with partial_success.
 * - `{ delayMs: 300, then?: … }` — wait, then apply `then` (default ok). The data is accepted when the
 *   answer is sent, even if the client gave up meanwhile (a real backend would have processed it too).
 * - `{ reset: true }` — destroy the connection without answering (HTTP). gRPC cannot drop one call's
 *   stream through grpc-js's public API, so there it ends the call with UNAVAILABLE instead.
 * - `{ blackhole: true }` — never answer; the client's timeout fires. close() ends such requests.
 * - `{ hugeBody: 16 * 2 ** 20, status?: 200 }` — answer that status (default 200; a 2xx accepts the
 *   data) with a valid Export*ServiceResponse padded to about `hugeBody` bytes (an unknown field in
 *   protobuf, an unknown key in JSON), written in chunks.
 */
export type Behaviour =
  | { status: 'ok' }
  | { status: number; retryAfter?: string | number; body?: string; grpcCode?: number }
  | { partialSuccess: { rejected: number; message: string } }
  | { delayMs: number; then?: Behaviour }
  | { reset: true }
  | { blackhole: true }
  | { hugeBody: number; status?: number };

export type Responder = (request: ReceivedRequest) => Behaviour;

export interface OtlpResource {
  [key: string]: unknown;
}

export interface OtlpScope {
  name: string;
  version: string;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  /** Wire value: 1 INTERNAL, 2 SERVER, 3 CLIENT, 4 PRODUCER, 5 CONSUMER (JS SpanKind + 1). */
  kind: number;
  flags: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, unknown>;
  droppedAttributesCount: number;
  events: Array<{ name: string; timeUnixNano: string; attributes: Record<string, unknown> }>;
  links: Array<{
    traceId: string;
    spanId: string;
    traceState: string;
    flags: number;
    attributes: Record<string, unknown>;
  }>;
  /** code: 0 UNSET, 1 OK, 2 ERROR. */
  status: { code: number; message: string };
  resource: OtlpResource;
  scope: OtlpScope;
  transport: Transport;
}

export type MetricType = 'histogram' | 'sum' | 'gauge' | 'exponentialHistogram' | 'summary';

export interface OtlpDataPoint {
  attributes: Record<string, unknown>;
  startTimeUnixNano: string;
  timeUnixNano: string;
  /** Histogram-like points. */
  count?: number;
  sum?: number;
  min?: number;
  max?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
  /** Gauge/sum points (asInt or asDouble). */
  value?: number | bigint;
}

export interface OtlpMetric {
  name: string;
  unit: string;
  description: string;
  type: MetricType;
  /** aggregationTemporality: 1 DELTA, 2 CUMULATIVE; 0 for gauges and summaries. */
  temporality: number;
  isMonotonic?: boolean;
  dataPoints: OtlpDataPoint[];
  resource: OtlpResource;
  scope: OtlpScope;
  transport: Transport;
}

export interface OtlpLogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: unknown;
  attributes: Record<string, unknown>;
  traceId: string;
  spanId: string;
  flags: number;
  eventName: string;
  resource: OtlpResource;
  scope: OtlpScope;
  transport: Transport;
}

/** What one accepted request carried, normalised (what `onData` receives). */
export interface AcceptedData {
  spans: OtlpSpan[];
  metrics: OtlpMetric[];
  logs: OtlpLogRecord[];
}

export type WaitCondition =
  | ((receiver: OtlpReceiver) => boolean)
  | { spans?: number; metrics?: number; logs?: number; requests?: number };

export interface OtlpReceiver {
  /** e.g. http://127.0.0.1:41234 — append /v1/traces etc. */
  readonly httpUrl: string;
  /** e.g. http://127.0.0.1:41235 — the `url` for the OTel gRPC exporters ('' when gRPC is off). */
  readonly grpcUrl: string;
  /** Every request received, in arrival order. */
  readonly requests: ReceivedRequest[];
  spans(): OtlpSpan[];
  metrics(): OtlpMetric[];
  logs(): OtlpLogRecord[];
  /** Script the answers; call without an argument to go back to always-ok. */
  respondWith(fn?: Responder): void;
  /** Resolves once the condition holds; rejects after timeoutMs (default 5000) with what was received. */
  waitFor(condition: WaitCondition, timeoutMs?: number): Promise<void>;
  /** Forgets received requests and data (keeps the responder). */
  clear(): void;
  /** Spans, metrics and log records accepted so far (also counted with `retain: false`). */
  counts(): { spans: number; metrics: number; logs: number };
  /** HTTP connections accepted since the start, and those open now. */
  connections(): { accepted: number; open: number };
  /**
   * Takes the ports down: listeners closed and open connections destroyed, so clients get
   * ECONNREFUSED (gRPC: UNAVAILABLE) until `acceptConnections()` listens on the same ports again.
   */
  refuseConnections(): Promise<void>;
  acceptConnections(): Promise<void>;
  /** Stops both servers, ends open connections and pending calls, rejects pending waitFor calls. */
  close(): Promise<void>;
}

export interface OtlpReceiverOptions {
  /** Also start the gRPC server (default true). */
  grpc?: boolean;
  respondWith?: Responder;
  /** Largest accepted body, compressed or not (default 64 MiB, the OTLP spec's recommended limit). */
  maxBodyBytes?: number;
  /**
   * Keep bodies and decoded data (default true). With false, a request keeps its metadata only
   * (`bytes`, `body` and `decoded` are emptied once it is answered) and spans()/metrics()/logs() stay
   * empty: the data goes to `onData`, and `counts()`/`waitFor` still count it.
   */
  retain?: boolean;
  /** Called with the normalised data of every accepted request, as it is accepted. */
  onData?: (data: AcceptedData, request: ReceivedRequest) => void;
}

// ---------------------------------------------------------------------------------------------
// Protobuf schema (loaded once from the fixture .proto files)

interface SignalSchema {
  request: protobuf.Type;
  response: protobuf.Type;
  rejectedField: 'rejectedSpans' | 'rejectedDataPoints' | 'rejectedLogRecords';
  grpcPath: string;
}

let schemaCache: Record<Signal, SignalSchema> | undefined;

export function otlpSchema(): Record<Signal, SignalSchema> {
  if (schemaCache) return schemaCache;
  const root = new protobuf.Root();
  // The .proto files import each other by paths relative to the proto root.
  root.resolvePath = (_origin, target) => path.join(OTLP_PROTO_DIR, target);
  const pkg = (signal: string) => `opentelemetry.proto.collector.${signal}.v1`;
  root.loadSync([
    'opentelemetry/proto/collector/trace/v1/trace_service.proto',
    'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
    'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  ]);
  const make = (proto: string, name: string, rejectedField: SignalSchema['rejectedField']): SignalSchema => ({
    request: root.lookupType(`${pkg(proto)}.Export${name}ServiceRequest`),
    response: root.lookupType(`${pkg(proto)}.Export${name}ServiceResponse`),
    rejectedField,
    grpcPath: `/${pkg(proto)}.${name}Service/Export`,
  });
  schemaCache = {
    traces: make('trace', 'Trace', 'rejectedSpans'),
    metrics: make('metrics', 'Metrics', 'rejectedDataPoints'),
    logs: make('logs', 'Logs', 'rejectedLogRecords'),
  };
  return schemaCache;
}

/** Decodes a protobuf Export*ServiceRequest to a plain object (ids as Buffers, int64 as strings). */
export function decodeOtlpProtobuf(signal: Signal, body: Uint8Array): unknown {
  const type = otlpSchema()[signal].request;
  return type.toObject(type.decode(body), { longs: String, enums: Number });
}

// ---------------------------------------------------------------------------------------------
// Normalisation (shared by protobuf-decoded objects and parsed OTLP/JSON)

type Obj = Record<string, unknown>;

const asObj = (v: unknown): Obj => (v !== null && typeof v === 'object' ? (v as Obj) : {});
const asArr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const asStr = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Protobuf ids arrive as bytes, OTLP/JSON ids as hex strings (any case). */
function hexId(v: unknown): string {
  if (typeof v === 'string') return v.toLowerCase();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return '';
}

/** int64/fixed64 as a decimal string; JSON may carry numbers or strings. */
function int64String(v: unknown): string {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number') return String(Math.trunc(v));
  if (typeof v === 'bigint') return v.toString();
  return '0';
}

function int64Value(v: unknown): number | bigint {
  const big = BigInt(int64String(v));
  const n = Number(big);
  return Number.isSafeInteger(n) ? n : big;
}

/** Counts (fixed64) as numbers: a test never sees 2^53 data points. */
const count = (v: unknown): number => Number(int64String(v));

/** Doubles: JSON may use strings for NaN/Infinity. */
const double = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

function bytesValue(v: unknown): Buffer {
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (typeof v === 'string') return Buffer.from(v, 'base64'); // OTLP/JSON: bytes are base64
  return Buffer.alloc(0);
}

export function unwrapAnyValue(value: unknown): unknown {
  const v = asObj(value);
  if ('stringValue' in v) return asStr(v.stringValue);
  if ('boolValue' in v) return v.boolValue === true;
  if ('intValue' in v) return int64Value(v.intValue);
  if ('doubleValue' in v) return double(v.doubleValue);
  if ('arrayValue' in v) return asArr(asObj(v.arrayValue).values).map(unwrapAnyValue);
  if ('kvlistValue' in v) return keyValues(asObj(v.kvlistValue).values);
  if ('bytesValue' in v) return bytesValue(v.bytesValue);
  return undefined;
}

function keyValues(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of asArr(list)) {
    const { key, value } = asObj(kv);
    out[asStr(key)] = unwrapAnyValue(value);
  }
  return out;
}

function scopeOf(v: unknown): OtlpScope {
  const s = asObj(v);
  return { name: asStr(s.name), version: asStr(s.version) };
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);

function normaliseSpans(decoded: unknown, transport: Transport): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  for (const rs of asArr(asObj(decoded).resourceSpans)) {
    const resource = keyValues(asObj(asObj(rs).resource).attributes);
    for (const ss of asArr(asObj(rs).scopeSpans)) {
      const scope = scopeOf(asObj(ss).scope);
      for (const raw of asArr(asObj(ss).spans)) {
        const s = asObj(raw);
        const status = asObj(s.status);
        out.push({
          traceId: hexId(s.traceId),
          spanId: hexId(s.spanId),
          parentSpanId: hexId(s.parentSpanId),
          traceState: asStr(s.traceState),
          name: asStr(s.name),
          // Kept as sent: a JSON client that wrongly sends enum names shows up as a non-number.
          kind: (s.kind ?? 0) as number,
          flags: num(s.flags),
          startTimeUnixNano: int64String(s.startTimeUnixNano),
          endTimeUnixNano: int64String(s.endTimeUnixNano),
          attributes: keyValues(s.attributes),
          droppedAttributesCount: num(s.droppedAttributesCount),
          events: asArr(s.events).map((e) => ({
            name: asStr(asObj(e).name),
            timeUnixNano: int64String(asObj(e).timeUnixNano),
            attributes: keyValues(asObj(e).attributes),
          })),
          links: asArr(s.links).map((l) => ({
            traceId: hexId(asObj(l).traceId),
            spanId: hexId(asObj(l).spanId),
            traceState: asStr(asObj(l).traceState),
            flags: num(asObj(l).flags),
            attributes: keyValues(asObj(l).attributes),
          })),
          status: { code: (status.code ?? 0) as number, message: asStr(status.message) },
          resource,
          scope,
          transport,
        });
      }
    }
  }
  return out;
}

function dataPoint(raw: unknown, histogram: boolean): OtlpDataPoint {
  const p = asObj(raw);
  const point: OtlpDataPoint = {
    attributes: keyValues(p.attributes),
    startTimeUnixNano: int64String(p.startTimeUnixNano),
    timeUnixNano: int64String(p.timeUnixNano),
  };
  if (histogram) {
    point.count = count(p.count);
    if (p.sum !== undefined) point.sum = double(p.sum);
    if (p.min !== undefined) point.min = double(p.min);
    if (p.max !== undefined) point.max = double(p.max);
    point.bucketCounts = asArr(p.bucketCounts).map(count);
    point.explicitBounds = asArr(p.explicitBounds).map(double);
  } else if (p.asDouble !== undefined) {
    point.value = double(p.asDouble);
  } else if (p.asInt !== undefined) {
    point.value = int64Value(p.asInt);
  }
  return point;
}

function normaliseMetrics(decoded: unknown, transport: Transport): OtlpMetric[] {
  const out: OtlpMetric[] = [];
  const types: MetricType[] = ['histogram', 'sum', 'gauge', 'exponentialHistogram', 'summary'];
  for (const rm of asArr(asObj(decoded).resourceMetrics)) {
    const resource = keyValues(asObj(asObj(rm).resource).attributes);
    for (const sm of asArr(asObj(rm).scopeMetrics)) {
      const scope = scopeOf(asObj(sm).scope);
      for (const raw of asArr(asObj(sm).metrics)) {
        const m = asObj(raw);
        const type = types.find((t) => m[t] !== undefined);
        if (!type) continue;
        const data = asObj(m[type]);
        const metric: OtlpMetric = {
          name: asStr(m.name),
          unit: asStr(m.unit),
          description: asStr(m.description),
          type,
          temporality: num(data.aggregationTemporality),
          dataPoints: asArr(data.dataPoints).map((p) => dataPoint(p, type !== 'sum' && type !== 'gauge')),
          resource,
          scope,
          transport,
        };
        if (type === 'sum') metric.isMonotonic = data.isMonotonic === true;
        out.push(metric);
      }
    }
  }
  return out;
}

function normaliseLogs(decoded: unknown, transport: Transport): OtlpLogRecord[] {
  const out: OtlpLogRecord[] = [];
  for (const rl of asArr(asObj(decoded).resourceLogs)) {
    const resource = keyValues(asObj(asObj(rl).resource).attributes);
    for (const sl of asArr(asObj(rl).scopeLogs)) {
      const scope = scopeOf(asObj(sl).scope);
      for (const raw of asArr(asObj(sl).logRecords)) {
        const l = asObj(raw);
        out.push({
          timeUnixNano: int64String(l.timeUnixNano),
          observedTimeUnixNano: int64String(l.observedTimeUnixNano),
          severityNumber: (l.severityNumber ?? 0) as number,
          severityText: asStr(l.severityText),
          body: unwrapAnyValue(l.body),
          attributes: keyValues(l.attributes),
          traceId: hexId(l.traceId),
          spanId: hexId(l.spanId),
          flags: num(l.flags),
          eventName: asStr(l.eventName),
          resource,
          scope,
          transport,
        });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Responses

function encodeResponse(
  signal: Signal,
  json: boolean,
  partial?: { rejected: number; message: string },
): Buffer {
  const schema = otlpSchema()[signal];
  if (json) {
    // proto3 JSON writes int64 as a decimal string.
    const body = partial
      ? {
          partialSuccess: { [schema.rejectedField]: String(partial.rejected), errorMessage: partial.message },
        }
      : {};
    return Buffer.from(JSON.stringify(body));
  }
  const value = partial
    ? { partialSuccess: { [schema.rejectedField]: partial.rejected, errorMessage: partial.message } }
    : {};
  return Buffer.from(schema.response.encode(schema.response.fromObject(value)).finish());
}

const PADDING_CHUNK = Buffer.alloc(64 * 1024, 0x61);

/**
 * An empty Export*ServiceResponse followed by about `size` bytes of padding that decoders skip: in
 * protobuf an unknown length-delimited field (number 1000), in JSON an unknown key. Returned as
 * chunks that share one buffer, so a huge answer costs the receiver almost no memory.
 */
function paddedResponse(json: boolean, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  let left = Math.max(0, size);
  const fill = () => {
    while (left > 0) {
      const n = Math.min(left, PADDING_CHUNK.length);
      chunks.push(n === PADDING_CHUNK.length ? PADDING_CHUNK : PADDING_CHUNK.subarray(0, n));
      left -= n;
    }
  };
  if (json) {
    chunks.push(Buffer.from('{"padding":"'));
    fill();
    chunks.push(Buffer.from('"}'));
    return chunks;
  }
  // Tag of field 1000, wire type 2, then the length as a varint.
  const head: number[] = [];
  for (let v = (1000 << 3) | 2; ; v >>>= 7) {
    if (v < 0x80) {
      head.push(v);
      break;
    }
    head.push((v & 0x7f) | 0x80);
  }
  for (let v = left; ; v = Math.floor(v / 128)) {
    if (v < 0x80) {
      head.push(v);
      break;
    }
    head.push((v % 128) | 0x80);
  }
  chunks.push(Buffer.from(head));
  fill();
  return chunks;
}

// The OTLP spec pairs HTTP statuses with these gRPC codes (specification.md, "Failures").
function grpcCodeFor(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return grpc.status.INVALID_ARGUMENT;
    case 401:
      return grpc.status.UNAUTHENTICATED;
    case 403:
      return grpc.status.PERMISSION_DENIED;
    case 404:
      return grpc.status.UNIMPLEMENTED;
    case 413:
    case 429:
      return grpc.status.RESOURCE_EXHAUSTED;
    case 500:
      return grpc.status.INTERNAL;
    case 502:
    case 503:
      return grpc.status.UNAVAILABLE;
    case 504:
      return grpc.status.DEADLINE_EXCEEDED;
    default:
      return grpc.status.UNKNOWN;
  }
}

function signalForPath(pathname: string): Signal | undefined {
  // Any prefix is fine: Langfuse serves /api/public/otel/v1/traces, Phoenix /v1/traces.
  const match = /\/v1\/(traces|metrics|logs)\/?$/.exec(pathname);
  return match?.[1] as Signal | undefined;
}

function flatHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The receiver

const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
const ok: Responder = () => ({ status: 'ok' });

interface Waiter {
  check: () => boolean;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  lastError?: unknown;
}

/** Answers for one request: what a behaviour can do, independent of the transport. */
interface Reply {
  accept(partial?: { rejected: number; message: string }): void;
  reject(status: number, retryAfter?: string | number, body?: string, grpcCode?: number): void;
  reset(): void;
  /** Answers `status` with a response padded to about `size` bytes. */
  huge(status: number, size: number): void;
}

const EMPTY = Buffer.alloc(0);

export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const retain = options.retain !== false;
  let responder: Responder = options.respondWith ?? ok;
  let requests: ReceivedRequest[] = [];
  let spans: OtlpSpan[] = [];
  let metrics: OtlpMetric[] = [];
  let logs: OtlpLogRecord[] = [];
  const tally = { spans: 0, metrics: 0, logs: 0 };
  const waiters = new Set<Waiter>();
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let closed = false;
  // Requests to paths that are not OTLP endpoints: not in `requests`, but named in waitFor's timeout
  // message, since a wrong URL is the usual reason for "nothing arrived".
  const strayPaths = new Set<string>();

  otlpSchema(); // load the .proto files now, so a broken fixture fails at start, not mid-test

  const notify = () => {
    for (const w of waiters) {
      let done = false;
      try {
        done = w.check();
      } catch (error) {
        w.lastError = error;
      }
      if (done) {
        waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  };

  const store = (req: ReceivedRequest) => {
    const data: AcceptedData = { spans: [], metrics: [], logs: [] };
    if (req.signal === 'traces') data.spans = normaliseSpans(req.decoded, req.transport);
    else if (req.signal === 'metrics') data.metrics = normaliseMetrics(req.decoded, req.transport);
    else data.logs = normaliseLogs(req.decoded, req.transport);
    tally.spans += data.spans.length;
    tally.metrics += data.metrics.length;
    tally.logs += data.logs.length;
    if (retain) {
      if (data.spans.length) spans = spans.concat(data.spans);
      if (data.metrics.length) metrics = metrics.concat(data.metrics);
      if (data.logs.length) logs = logs.concat(data.logs);
    }
    options.onData?.(data, req);
  };

  /** With `retain: false`, a request answered keeps its metadata only. */
  const release = (req: ReceivedRequest) => {
    if (retain) return;
    req.bytes = EMPTY;
    req.body = EMPTY;
    req.decoded = undefined;
  };

  const record = (req: ReceivedRequest) => {
    requests.push(req);
    notify();
  };

  const apply = (req: ReceivedRequest, behaviour: Behaviour, reply: Reply): void => {
    if (closed) return;
    if ('delayMs' in behaviour) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        apply(req, behaviour.then ?? { status: 'ok' }, reply);
      }, behaviour.delayMs);
      timers.add(timer);
      return;
    }
    if ('reset' in behaviour) {
      req.outcome = { kind: 'reset' };
      reply.reset();
    } else if ('blackhole' in behaviour) {
      req.outcome = { kind: 'blackhole' };
    } else if ('hugeBody' in behaviour) {
      const status = behaviour.status ?? 200;
      if (status >= 200 && status < 300) {
        req.outcome = { kind: 'accepted', status };
        store(req);
      } else {
        req.outcome = { kind: 'rejected', status };
      }
      reply.huge(status, behaviour.hugeBody);
    } else if ('partialSuccess' in behaviour) {
      req.outcome = { kind: 'partial', status: 200, rejected: behaviour.partialSuccess.rejected };
      store(req);
      reply.accept(behaviour.partialSuccess);
    } else if (behaviour.status === 'ok' || (behaviour.status >= 200 && behaviour.status < 300)) {
      req.outcome = { kind: 'accepted', status: behaviour.status === 'ok' ? 200 : behaviour.status };
      store(req);
      reply.accept();
    } else {
      const grpcCode =
        req.transport === 'grpc' ? (behaviour.grpcCode ?? grpcCodeFor(behaviour.status)) : undefined;
      req.outcome = {
        kind: 'rejected',
        status: behaviour.status,
        ...(grpcCode !== undefined && { grpcCode }),
      };
      reply.reject(behaviour.status, behaviour.retryAfter, behaviour.body, grpcCode);
    }
    release(req);
    notify();
  };

  const dispatch = (req: ReceivedRequest, reply: Reply) => {
    let behaviour: Behaviour;
    try {
      behaviour = responder(req);
    } catch (error) {
      behaviour = { status: 500, body: `respondWith threw: ${String(error)}` };
    }
    apply(req, behaviour, reply);
  };

  // --- HTTP -----------------------------------------------------------------------------------

  const handleHttp = async (httpReq: IncomingMessage, res: ServerResponse) => {
    const pathname = new URL(httpReq.url ?? '/', 'http://receiver').pathname;
    const signal = signalForPath(pathname);
    if (httpReq.method !== 'POST' || !signal) {
      strayPaths.add(`${httpReq.method} ${pathname}`);
      res.writeHead(httpReq.method === 'POST' ? 404 : 405).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    for await (const chunk of httpReq) {
      size += (chunk as Buffer).length;
      if (size > maxBody) tooLarge = true;
      else chunks.push(chunk as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    const headers = flatHeaders(httpReq.headers);
    const contentType = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const contentEncoding = (headers['content-encoding'] ?? '').trim().toLowerCase();
    const req: ReceivedRequest = {
      signal,
      transport: 'http',
      path: pathname,
      headers,
      contentType,
      contentEncoding,
      bytes,
      body: bytes,
      decoded: undefined,
      receivedAt: Date.now(),
    };
    const json = contentType === 'application/json';
    const invalid = (status: number, reason: string) => {
      req.outcome = { kind: 'invalid', status, reason };
      release(req);
      record(req);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(reason);
    };
    if (tooLarge) return invalid(413, `body larger than ${maxBody} bytes`);
    if (!json && contentType !== 'application/x-protobuf') {
      return invalid(415, `unsupported content-type '${contentType}'`);
    }
    try {
      if (contentEncoding === 'gzip') req.body = gunzipSync(bytes, { maxOutputLength: maxBody });
      else if (contentEncoding !== '' && contentEncoding !== 'identity') {
        return invalid(415, `unsupported content-encoding '${contentEncoding}'`);
      }
      req.decoded = json ? JSON.parse(req.body.toString('utf8')) : decodeOtlpProtobuf(signal, req.body);
    } catch (error) {
      return invalid(400, `cannot decode body: ${error instanceof Error ? error.message : String(error)}`);
    }
    record(req);
    dispatch(req, {
      accept(partial) {
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': contentType }).end(encodeResponse(signal, json, partial));
      },
      reject(status, retryAfter, body) {
        if (res.destroyed) return;
        const h: Record<string, string> = { 'content-type': 'text/plain' };
        if (retryAfter !== undefined) h['retry-after'] = String(retryAfter);
        res.writeHead(status, h).end(body ?? '');
      },
      reset() {
        httpReq.socket.destroy();
      },
      huge(status, size) {
        if (res.destroyed) return;
        const chunks = paddedResponse(json, size);
        res.writeHead(status, { 'content-type': contentType });
        // Written as the client reads, so a client that gives up early stops the writing.
        let i = 0;
        const write = () => {
          while (i < chunks.length && !res.destroyed) {
            if (!res.write(chunks[i++]!)) {
              res.once('drain', write);
              return;
            }
          }
          if (!res.destroyed) res.end();
        };
        write();
      },
    });
  };

  let accepted = 0;
  const httpServer: Server = createServer((httpReq, res) => {
    handleHttp(httpReq, res).catch((error: unknown) => {
      // Client went away mid-body, or a bug here: answer if still possible, never crash the test run.
      if (!res.headersSent && !res.destroyed) res.writeHead(500).end(String(error));
    });
  });
  httpServer.on('connection', (socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  httpServer.on('clientError', (_err, socket) => socket.destroy());
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const httpAddress = httpServer.address();
  if (httpAddress === null || typeof httpAddress === 'string') throw new Error('unexpected HTTP address');
  const httpPort = httpAddress.port;
  const httpUrl = `http://127.0.0.1:${httpPort}`;

  // --- gRPC -----------------------------------------------------------------------------------

  let grpcServer: grpc.Server | undefined;
  let grpcUrl = '';
  let grpcPort = 0;
  if (options.grpc !== false) {
    grpcServer = new grpc.Server();
    const identity = (b: Buffer) => b;
    for (const signal of ['traces', 'metrics', 'logs'] as const) {
      const grpcPath = otlpSchema()[signal].grpcPath;
      // Raw Buffers in and out: decoding is the same protobufjs path as for HTTP.
      const definition: grpc.ServiceDefinition = {
        Export: {
          path: grpcPath,
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      };
      const handler: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(call.metadata.getMap())) {
          headers[k.toLowerCase()] = typeof v === 'string' ? v : Buffer.from(v).toString('base64');
        }
        const body = call.request;
        const req: ReceivedRequest = {
          signal,
          transport: 'grpc',
          path: grpcPath,
          headers,
          contentType: headers['content-type'] ?? 'application/grpc',
          contentEncoding: headers['grpc-encoding'] ?? '',
          bytes: body,
          body,
          decoded: undefined,
          receivedAt: Date.now(),
        };
        try {
          req.decoded = decodeOtlpProtobuf(signal, body);
        } catch (error) {
          const reason = `cannot decode message: ${error instanceof Error ? error.message : String(error)}`;
          req.outcome = { kind: 'invalid', status: 400, reason };
          release(req);
          record(req);
          callback({ code: grpc.status.INVALID_ARGUMENT, details: reason });
          return;
        }
        record(req);
        dispatch(req, {
          accept(partial) {
            callback(null, encodeResponse(signal, false, partial));
          },
          reject(status, _retryAfter, body, grpcCode) {
            callback({ code: grpcCode ?? grpcCodeFor(status), details: body ?? `HTTP ${status}` });
          },
          reset() {
            callback({ code: grpc.status.UNAVAILABLE, details: 'connection reset (simulated)' });
          },
          huge(status, size) {
            if (status >= 200 && status < 300) callback(null, Buffer.concat(paddedResponse(false, size)));
            else callback({ code: grpcCodeFor(status), details: 'x'.repeat(Math.min(size, 2 ** 20)) });
          },
        });
      };
      grpcServer.addService(definition, { Export: handler });
    }
    grpcPort = await new Promise<number>((resolve, reject) => {
      grpcServer!.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
    grpcUrl = `http://127.0.0.1:${grpcPort}`;
  }
  let refusing = false;

  // --- API ------------------------------------------------------------------------------------

  const counts = () =>
    `${requests.length} request(s) [${requests
      .map((r) => `${r.transport} ${r.signal} → ${r.outcome ? r.outcome.kind : 'pending'}`)
      .join('; ')}], ${tally.spans} span(s), ${tally.metrics} metric(s), ${tally.logs} log record(s)${
      strayPaths.size ? `; requests to non-OTLP paths: ${[...strayPaths].join(', ')}` : ''
    }`;

  const receiver: OtlpReceiver = {
    httpUrl,
    grpcUrl,
    get requests() {
      return requests;
    },
    spans: () => spans.slice(),
    metrics: () => metrics.slice(),
    logs: () => logs.slice(),
    respondWith(fn) {
      responder = fn ?? ok;
    },
    waitFor(condition, timeoutMs = 5000) {
      const describe =
        typeof condition === 'function'
          ? 'the predicate to hold'
          : Object.entries(condition)
              .map(([k, n]) => `≥${n} ${k}`)
              .join(', ');
      const check =
        typeof condition === 'function'
          ? () => condition(receiver)
          : () =>
              (condition.spans === undefined || tally.spans >= condition.spans) &&
              (condition.metrics === undefined || tally.metrics >= condition.metrics) &&
              (condition.logs === undefined || tally.logs >= condition.logs) &&
              (condition.requests === undefined || requests.length >= condition.requests);
      return new Promise<void>((resolve, reject) => {
        if (closed) return reject(new Error('waitFor: the receiver is closed'));
        const waiter: Waiter = {
          check,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            const last =
              waiter.lastError === undefined ? '' : `; last predicate error: ${String(waiter.lastError)}`;
            reject(
              new Error(
                `waitFor timed out after ${timeoutMs} ms waiting for ${describe}; got ${counts()}${last}`,
              ),
            );
          }, timeoutMs),
        };
        waiters.add(waiter);
        notify();
      });
    },
    clear() {
      strayPaths.clear();
      requests = [];
      spans = [];
      metrics = [];
      logs = [];
      tally.spans = 0;
      tally.metrics = 0;
      tally.logs = 0;
    },
    counts: () => ({ ...tally }),
    connections: () => ({ accepted, open: sockets.size }),
    async refuseConnections() {
      if (closed || refusing) return;
      refusing = true;
      const stopped = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      for (const s of sockets) s.destroy();
      httpServer.closeAllConnections();
      await stopped;
      if (grpcServer) {
        grpcServer.unbind(`127.0.0.1:${grpcPort}`);
        grpcServer.drain(`127.0.0.1:${grpcPort}`, 0);
      }
    },
    async acceptConnections() {
      if (closed || !refusing) return;
      httpServer.listen(httpPort, '127.0.0.1');
      await once(httpServer, 'listening');
      if (grpcServer) {
        const server = grpcServer;
        await new Promise<void>((resolve, reject) => {
          server.bindAsync(`127.0.0.1:${grpcPort}`, grpc.ServerCredentials.createInsecure(), (err) =>
            err ? reject(err) : resolve(),
          );
        });
      }
      refusing = false;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.reject(new Error('waitFor: the receiver was closed'));
      }
      waiters.clear();
      const httpClosed = refusing
        ? Promise.resolve()
        : new Promise<void>((resolve) => httpServer.close(() => resolve()));
      for (const s of sockets) s.destroy();
      httpServer.closeAllConnections();
      grpcServer?.forceShutdown();
      await httpClosed;
    },
  };
  return receiver;
}
