/**
 * The OpenTelemetry SDK's own exporters, built from resolved settings: OTLP over HTTP
 * (protobuf or JSON) or gRPC for traces, metrics and logs, or the console and in-memory
 * exporters. Nothing here encodes OTLP by hand.
 */
import { Metadata } from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import {
  AggregationTemporalityPreference,
  OTLPMetricExporter as JsonMetricExporter,
} from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
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
import { encodeTraceRequest } from './otlp-proto.js';

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

/** The span exporter for one set of headers (the plugin keeps one per credential set). */
export function createSpanExporter(
  options: ResolvedOtelOptions,
  headers: Record<string, string> | undefined,
): SpanExporter {
  const { exporter } = options;
  if (typeof exporter === 'object') return exporter;
  if (exporter === 'console') return new ConsoleSpanExporter();
  if (exporter === 'memory') return new InMemorySpanExporter();
  const config = transport(options, 'traces', headers);
  switch (options.protocol) {
    case 'grpc':
      return new GrpcRetry(new SliceEncodedTraceExporter('grpc', config), options.timeoutMillis);
    case 'http/json':
      return new JsonTraceExporter(config);
    default:
      return new SliceEncodedTraceExporter('http', config);
  }
}

/** A request already encoded, and how many spans it holds (for the SDK's exporter metrics). */
interface EncodedSpans {
  bytes: Uint8Array;
  count: number;
}

/** The SDK's export path with the encoding done beforehand: bytes pass through. */
const ENCODED: ISerializer<EncodedSpans, IExportTraceServiceResponse> = {
  serializeRequest: (request) => request.bytes,
  deserializeResponse: (data) => ProtobufTraceSerializer.deserializeResponse(data),
};
const ENCODED_METRICS = { name: 'span' as const, countItems: (request: EncodedSpans) => request.count };

/**
 * OTLP/protobuf over HTTP or gRPC: the SDK's transport (retries, compression, agents, timeouts,
 * partial success) with spanchain's encoder (`otlp-proto.ts`), which encodes a batch in slices
 * instead of blocking the event loop for all of it.
 */
class SliceEncodedTraceExporter implements SpanExporter {
  private readonly base: OTLPExporterBase<EncodedSpans>;

  constructor(transport: 'http' | 'grpc', config: TransportConfig) {
    const delegate =
      transport === 'grpc'
        ? createOtlpGrpcExportDelegate(
            convertLegacyOtlpGrpcOptions(config, 'TRACES'),
            ENCODED,
            'otlp_grpc_span_exporter',
            ENCODED_METRICS,
            undefined,
            'TraceExportService',
            '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
          )
        : createOtlpHttpExportDelegate(
            convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', {
              'Content-Type': 'application/x-protobuf',
            }),
            ENCODED,
            'otlp_http_span_exporter',
            ENCODED_METRICS,
            undefined,
          );
    this.base = new OTLPExporterBase(delegate);
  }

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    encodeTraceRequest(spans).then(
      (bytes) => this.base.export({ bytes, count: spans.length }, done),
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
