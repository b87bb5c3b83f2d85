/**
 * The OpenTelemetry SDK's own exporters, built from resolved settings: OTLP over HTTP
 * (protobuf or JSON) or gRPC for traces, metrics and logs, or the console and in-memory
 * exporters. Span requests in OTLP/protobuf are encoded by `otlp-proto.ts`; the rest is the SDK's.
 */
import { Metadata } from '@grpc/grpc-js';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import {
  AggregationTemporalityPreference,
  OTLPMetricExporter as JsonMetricExporter,
} from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { CompressionAlgorithm, OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';
import {
  convertLegacyOtlpGrpcOptions,
  createOtlpGrpcExportDelegate,
} from '@opentelemetry/otlp-grpc-exporter-base';
import {
  type IExportTraceServiceResponse,
  type ISerializer,
  JsonTraceSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import {
  ConsoleSpanExporter,
  InMemorySpanExporter,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { type OtlpProtocol, type ResolvedOtelOptions, signalUrl } from './options.js';
import { encodeTraceRequestReusable } from './otlp-proto.js';

type Signal = 'traces' | 'metrics' | 'logs';

interface TransportConfig {
  url: string;
  timeoutMillis: number;
  compression: CompressionAlgorithm;
  headers?: Record<string, string>;
  metadata?: Metadata;
}

function transport(
  options: ResolvedOtelOptions,
  signal: Signal,
  headers: Record<string, string> | undefined,
): TransportConfig {
  const protocol: OtlpProtocol = options.protocol;
  // A full traces URL from the environment is used as given; other signals use the base.
  const url =
    signal === 'traces' && options.tracesUrl !== undefined
      ? options.tracesUrl
      : signalUrl(options.endpoint, protocol, signal);
  const compression = options.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE;
  if (protocol === 'grpc') {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(headers ?? {})) metadata.set(key.toLowerCase(), value);
    return { url, timeoutMillis: options.timeoutMillis, compression, metadata };
  }
  return { url, timeoutMillis: options.timeoutMillis, compression, headers: headers ?? {} };
}

/**
 * One keep-alive HTTP agent per protocol for every span exporter of a plugin. The SDK makes an
 * agent per exporter and never closes it (its HTTP transport's `shutdown()` does nothing), and the
 * plugin makes an exporter per credential set, anew each time an evicted set comes back: with many
 * teams that left thousands of idle sockets open until the exports met `ECONNRESET`. The first
 * exporter's agent (built by the SDK from its options and `OTEL_EXPORTER_OTLP_*` certificate
 * variables, the same for every exporter of the plugin) is shared, and destroyed with the plugin.
 */
export class SharedAgents {
  private readonly agents = new Map<string, Promise<AgentLike>>();

  /** `factory`'s agent for each protocol, made once. */
  share(factory: AgentFactory): AgentFactory {
    return (protocol) => {
      let agent = this.agents.get(protocol);
      if (agent === undefined) {
        agent = Promise.resolve(factory(protocol));
        this.agents.set(protocol, agent);
      }
      return agent;
    };
  }

  /** Closes every socket; later exports (there should be none) get new agents. */
  async destroy(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    for (const agent of agents) (await agent.catch(() => undefined))?.destroy();
  }
}

type AgentLike = { destroy(): void };
type AgentFactory = (protocol: string) => AgentLike | Promise<AgentLike>;

/** The span exporter for one set of headers (the plugin keeps one per credential set). */
export function createSpanExporter(
  options: ResolvedOtelOptions,
  headers: Record<string, string> | undefined,
  agents?: SharedAgents,
): SpanExporter {
  const { exporter } = options;
  if (typeof exporter === 'object') return exporter;
  if (exporter === 'console') return new ConsoleSpanExporter();
  if (exporter === 'memory') return new InMemorySpanExporter();
  const config = transport(options, 'traces', headers);
  switch (options.protocol) {
    case 'grpc':
      return new GrpcRetry(new TraceExporter('grpc', config, PROTOBUF), options.timeoutMillis);
    case 'http/json':
      return new TraceExporter('http', config, JSON_SPANS, agents);
    default:
      return new TraceExporter('http', config, PROTOBUF, agents);
  }
}

/** Spans a backend refused in an OTLP partial success (the export itself succeeded). */
export interface PartialSuccess {
  rejected: number;
  message: string;
}

/** An export's result, with the partial success the backend answered, if any. */
export type DeliveryResult = ExportResult & { partialSuccess?: PartialSuccess };

/** A request ready for the SDK's transport, and how many spans it holds (for its exporter metrics). */
interface Prepared<T> {
  request: T;
  count: number;
}

/** A request body, and what hands its buffer back for reuse once the request was answered. */
interface Body<T> {
  request: T;
  release?: () => void;
}

/** How spans become a request body: the encoding, its content type and the response's decoding. */
interface Encoding<T> {
  contentType: string;
  prepare(spans: ReadableSpan[]): Promise<Body<T>>;
  serializer: ISerializer<T, IExportTraceServiceResponse>;
}

/** OTLP/protobuf by spanchain's encoder (`otlp-proto.ts`), in slices that yield to the event loop. */
const PROTOBUF: Encoding<Uint8Array> = {
  contentType: 'application/x-protobuf',
  prepare: async (spans) => {
    const { bytes, release } = await encodeTraceRequestReusable(spans);
    return { request: bytes, release };
  },
  serializer: {
    serializeRequest: (bytes) => bytes,
    deserializeResponse: (data) => ProtobufTraceSerializer.deserializeResponse(data),
  },
};

/** OTLP/JSON by the SDK's serializer. */
const JSON_SPANS: Encoding<ReadableSpan[]> = {
  contentType: 'application/json',
  prepare: async (spans) => ({ request: spans }),
  serializer: JsonTraceSerializer,
};

/**
 * OTLP over HTTP or gRPC: the SDK's transport (retries, compression, timeouts) with an encoding
 * chosen here. Unlike the SDK's own exporters it reports what an OTLP partial success rejected
 * (the SDK only logs it) and shares its HTTP agent (see `SharedAgents`).
 */
class TraceExporter<T> implements SpanExporter {
  private readonly base: OTLPExporterBase<Prepared<T>>;
  /** The partial success of the response being handled; read by the export it belongs to. */
  private partial: PartialSuccess | undefined;

  constructor(
    transport: 'http' | 'grpc',
    config: TransportConfig,
    private readonly encoding: Encoding<T>,
    agents?: SharedAgents,
  ) {
    const serializer: ISerializer<Prepared<T>, IExportTraceServiceResponse> = {
      serializeRequest: (prepared) => encoding.serializer.serializeRequest(prepared.request),
      deserializeResponse: (data) => {
        const response = encoding.serializer.deserializeResponse(data);
        this.partial = partialSuccessOf(response);
        return response;
      },
    };
    const metrics = { name: 'span' as const, countItems: (prepared: Prepared<T>) => prepared.count };
    let delegate: ReturnType<typeof createOtlpHttpExportDelegate<Prepared<T>, IExportTraceServiceResponse>>;
    if (transport === 'grpc') {
      delegate = createOtlpGrpcExportDelegate(
        convertLegacyOtlpGrpcOptions(config, 'TRACES'),
        serializer,
        'otlp_grpc_span_exporter',
        metrics,
        undefined,
        'TraceExportService',
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      );
    } else {
      const http = convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', {
        'Content-Type': encoding.contentType,
      });
      if (agents) http.agentFactory = agents.share(http.agentFactory) as typeof http.agentFactory;
      delegate = createOtlpHttpExportDelegate(
        http,
        serializer,
        'otlp_http_span_exporter',
        metrics,
        undefined,
      );
    }
    this.base = new OTLPExporterBase(delegate);
  }

  export(spans: ReadableSpan[], done: (result: DeliveryResult) => void): void {
    this.encoding.prepare(spans).then(
      ({ request, release }) =>
        this.base.export({ request, count: spans.length }, (result) => {
          // The SDK decodes the response and calls back in the same turn: this is its answer.
          const partialSuccess = this.partial;
          this.partial = undefined;
          // Answered: the body was sent whole, so its buffer may serve the next batch. After a
          // failure (a timeout may leave writes queued on a socket) it is left to the collector.
          if (result.code === ExportResultCode.SUCCESS) release?.();
          done(partialSuccess ? { ...result, partialSuccess } : result);
        }),
      (error: unknown) =>
        done({
          code: ExportResultCode.FAILED,
          error: error instanceof Error ? error : new Error(String(error)),
        }),
    );
  }

  shutdown(): Promise<void> {
    return this.base.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.base.forceFlush();
  }
}

/** Network errors worth another try later: the backend may be back by then. */
const TRANSIENT_NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Whether an export failed for a passing reason, after the exporter's own retries: no connection,
 * a request timeout, an HTTP 408, 429 or 5xx, or a gRPC status the OTLP specification calls
 * retryable. A 4xx answer or a malformed request is final.
 */
export function isTransient(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'number') {
    // gRPC status codes are below 100, HTTP statuses from 100.
    if (code < 100) return RETRYABLE_GRPC.has(code);
    return code === 408 || code === 429 || (code >= 500 && code !== 501);
  }
  if (typeof code === 'string') return TRANSIENT_NETWORK.has(code);
  // What the SDK's HTTP transport says when its own retries ran out or a request timed out.
  return message === 'Request timed out' || message === 'Export failed with retryable status';
}

/** The rejected spans of a response's `partialSuccess` (a JSON answer carries int64 as a string). */
function partialSuccessOf(response: IExportTraceServiceResponse | undefined): PartialSuccess | undefined {
  const partial = response?.partialSuccess;
  if (partial === undefined || partial === null) return undefined;
  const rejected = Number(partial.rejectedSpans ?? 0);
  if (!Number.isFinite(rejected) || rejected <= 0) return undefined;
  return { rejected, message: typeof partial.errorMessage === 'string' ? partial.errorMessage : '' };
}

const TEMPORALITY = {
  cumulative: AggregationTemporalityPreference.CUMULATIVE,
  delta: AggregationTemporalityPreference.DELTA,
  lowmemory: AggregationTemporalityPreference.LOWMEMORY,
} as const;

/** The OTLP metric exporter, with the configured temporality. */
export function createMetricExporter(
  options: ResolvedOtelOptions,
  headers: Record<string, string> | undefined,
  temporality: keyof typeof TEMPORALITY,
): PushMetricExporter {
  const config = {
    ...transport(options, 'metrics', headers),
    temporalityPreference: TEMPORALITY[temporality],
  };
  switch (options.protocol) {
    case 'grpc':
      return new GrpcMetricExporter(config);
    case 'http/json':
      return new JsonMetricExporter(config);
    default:
      return new ProtoMetricExporter(config);
  }
}

/** The OTLP log record exporter. */
export function createLogExporter(
  options: ResolvedOtelOptions,
  headers: Record<string, string> | undefined,
): LogRecordExporter {
  const config = transport(options, 'logs', headers);
  switch (options.protocol) {
    case 'grpc':
      return new GrpcLogExporter(config);
    case 'http/json':
      return new JsonLogExporter(config);
    default:
      return new ProtoLogExporter(config);
  }
}

/** gRPC status codes the OTLP specification says to retry (RESOURCE_EXHAUSTED only with RetryInfo). */
const RETRYABLE_GRPC = new Set([1, 4, 10, 11, 14, 15]); // CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS
const RETRY = { attempts: 5, initialMs: 1_000, maxMs: 5_000, multiplier: 1.5 };

/**
 * Retries a gRPC export as the OTLP specification asks. The SDK's HTTP exporters retry 429/503
 * themselves, but its gRPC transport (0.223) reports every status as a final failure, so
 * UNAVAILABLE would lose a batch that HTTP would have delivered. Same policy as the HTTP side:
 * up to 5 attempts, exponential backoff with jitter from 1 s, at most 5 s apart, and all of it
 * within `timeoutMillis` of the first attempt.
 */
export class GrpcRetry implements SpanExporter {
  private closed = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly timeoutMillis: number,
  ) {}

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    const deadline = Date.now() + this.timeoutMillis;
    const attempt = (n: number, delayMs: number) => {
      this.inner.export(spans, (result) => {
        const code = (result.error as { code?: unknown } | undefined)?.code;
        const wait = delayMs * (0.8 + Math.random() * 0.4);
        const retry =
          result.code === ExportResultCode.FAILED &&
          Date.now() + wait < deadline &&
          typeof code === 'number' &&
          RETRYABLE_GRPC.has(code) &&
          n < RETRY.attempts &&
          !this.closed;
        if (!retry) {
          done(result);
          return;
        }
        setTimeout(() => attempt(n + 1, Math.min(delayMs * RETRY.multiplier, RETRY.maxMs)), wait).unref();
      });
    };
    attempt(1, RETRY.initialMs);
  }

  shutdown(): Promise<void> {
    this.closed = true;
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
