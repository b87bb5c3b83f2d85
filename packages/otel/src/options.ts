/**
 * The plugin's options and environment, parsed once when the plugin is made. Explicit options
 * win over the environment; bad values fail here with one clear message, and header values
 * (credentials) never appear in it.
 */
import type { TracerProvider } from '@opentelemetry/api';
import type { LoggerProvider } from '@opentelemetry/api-logs';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  envBoolean,
  envError,
  envInteger,
  envString,
  parseOptions,
  RedactOptionsSchema,
  type SerializeLimits,
  SerializeLimitsSchema,
  type Step,
} from '@spanchain/core';
import { z } from 'zod';
import {
  baseEndpoint,
  CONTENT_MODES,
  type ContentMode,
  contentMode,
  envContent,
  envExporter,
  envProtocol,
  envSamplingRate,
  envUrl,
  type OtlpProtocol,
  PROTOCOLS,
  parseKeyValueList,
  parseResourceAttributes,
  registerHeaderSecrets,
} from './env.js';
import type { StepMapper } from './map.js';

export {
  baseEndpoint,
  CONTENT_MODES,
  type ContentMode,
  CREDENTIAL_HEADER,
  type OtlpProtocol,
  PROTOCOLS,
  parseKeyValueList,
  registerHeaderSecrets,
  signalUrl,
} from './env.js';

export type HeadersInput = Record<string, string> | ((step: Step) => Record<string, string> | undefined);

/** Resource attributes of one step, on top of the plugin's (see the `stepResource` option). */
export type StepResource = (step: Step) => Record<string, string | number | boolean> | undefined;

const fn = (what: string) =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', `expected ${what}`);
const objectWith = (what: string, method: string) =>
  z.custom<object>(
    (v) =>
      typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)[method] === 'function',
    `expected ${what}`,
  );

const positiveInt = (max: number) => z.number().int().positive().max(max);

const HeaderRecord = z.record(z.string().min(1), z.string());

const BatchSchema = z
  .object({
    /** Spans held before new ones are dropped (counted as `queue-full`). Env `OTEL_BSP_MAX_QUEUE_SIZE`. Default 2048. */
    maxQueueSize: positiveInt(1_000_000).optional(),
    /** Spans per export request. Env `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`. Default 512. */
    maxExportBatchSize: positiveInt(1_000_000).optional(),
    /** Delay between exports, ms. Env `OTEL_BSP_SCHEDULE_DELAY`. Default 5000 (1000 with `immediate`… see README). */
    scheduledDelayMillis: z.number().int().min(0).max(3_600_000).optional(),
    /** Deadline of one export, ms. Env `OTEL_BSP_EXPORT_TIMEOUT`. Default 30000. */
    exportTimeoutMillis: positiveInt(3_600_000).optional(),
  })
  .strict();

export const OtelPluginOptionsSchema = z
  .object({
    /** Plugin name in `tracer.stats()`. Default `otel`. */
    name: z.string().min(1).max(100).optional(),
    /**
     * Where spans go: `otlp` (default), `console`, `memory` (kept in `plugin.memory` for tests),
     * or any OpenTelemetry `SpanExporter`. Env `OTEL_EXPORTER` (`otlp_http`, `otlp_grpc`, `console`).
     */
    exporter: z
      .union([z.enum(['otlp', 'console', 'memory']), objectWith('a SpanExporter', 'export')])
      .optional(),
    /** OTLP encoding. Env `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, `OTEL_EXPORTER_OTLP_PROTOCOL`. Default `http/protobuf`. */
    protocol: z.enum(PROTOCOLS).optional(),
    /**
     * OTLP endpoint: a base URL (`http://collector:4318`, each signal's path is added) or the full
     * traces URL. Env `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_ENDPOINT`.
     * Default `http://localhost:4318` (4317 for gRPC).
     */
    endpoint: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
    /**
     * Request headers (credentials). A function of the step gives per-team or per-request
     * headers: steps are then exported in separate batches per header set, never mixed.
     * Env `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_HEADERS` (`k=v,k2=v2`).
     */
    headers: z.union([HeaderRecord, fn('a function (step) => headers')]).optional(),
    /** Env `OTEL_EXPORTER_OTLP_COMPRESSION`. Default `none`. */
    compression: z.enum(['gzip', 'none']).optional(),
    /** Deadline of one request, ms. Env `OTEL_EXPORTER_OTLP_TIMEOUT`. Default 10000. */
    timeoutMillis: positiveInt(600_000).optional(),
    /**
     * Times a batch that failed for a passing reason (no connection, a timeout, 429 or 5xx after
     * the exporter's own retries) is sent again later, with backoff (1 s, 2 s, 4 s … up to 30 s).
     * 0 turns it off. Default 5.
     */
    maxRetries: z.number().int().min(0).max(20).optional(),
    /** Batching (the SDK's `BatchSpanProcessor`), or `false` to export each span at once (serverless). */
    batch: z.union([BatchSchema, z.literal(false)]).optional(),
    /** Send spans to these processors (yours, e.g. with your own exporter) instead of building an exporter. */
    spanProcessors: z.array(objectWith('a SpanProcessor', 'onEnd')).optional(),
    /**
     * Emit spans through the app's own `TracerProvider` (its processors, exporters, sampler and
     * resource) instead of a private one. Never the global provider unless you pass it.
     */
    tracerProvider: objectWith('a TracerProvider', 'getTracer').optional(),
    /** Different header sets kept at once (one exporter each); the least recently used is closed. Default 32. */
    maxCredentialSets: positiveInt(10_000).optional(),
    /** Service name on the resource. Env `OTEL_SERVICE_NAME`; else the tracer's `serviceName`. */
    serviceName: z.string().min(1).max(256).optional(),
    /** Extra resource attributes. Env `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`). */
    resourceAttributes: z
      .record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()]))
      .optional(),
    /**
     * Content capture: `true` (= `span_and_event`), `false` (= `none`), or a mode. Off by default,
     * as the GenAI conventions require. Env `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`.
     */
    captureContent: z.union([z.boolean(), z.enum(CONTENT_MODES)]).optional(),
    /**
     * `nested` (default): each LLM call is its own span. `parent`: its request and response
     * attributes go on the parent span instead (several calls under one parent overwrite each other).
     */
    llmSpans: z.enum(['nested', 'parent']).optional(),
    /** Budgets for each serialised content attribute. */
    limits: SerializeLimitsSchema.optional(),
    /** Redaction for this backend only, on top of the tracer's (see `redact()` in @spanchain/core). */
    redact: RedactOptionsSchema.optional(),
    /**
     * GenAI metrics (token usage, operation duration, streaming chunk timings, cost): `true`
     * (default with an OTLP exporter), `false`, or options. Needs an OTLP exporter or a `meterProvider`.
     */
    metrics: z
      .union([
        z.boolean(),
        z
          .object({
            /** Env `OTEL_METRIC_EXPORT_INTERVAL`. Default 60000. */
            exportIntervalMillis: positiveInt(86_400_000).optional(),
            /** Env `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`. Default `cumulative`. */
            temporality: z.enum(['cumulative', 'delta', 'lowmemory']).optional(),
            /** Record into the app's `MeterProvider` instead of a private one. */
            meterProvider: objectWith('a MeterProvider', 'getMeter').optional(),
          })
          .strict(),
      ])
      .optional(),
    /** One OTel log record per step (and the GenAI content events): `true`, `false` (default), or options. */
    logs: z
      .union([
        z.boolean(),
        z
          .object({
            /** Emit into the app's `LoggerProvider` instead of a private one. */
            loggerProvider: objectWith('a LoggerProvider', 'getLogger').optional(),
          })
          .strict(),
      ])
      .optional(),
    /**
     * Share of traces exported, 0 to 1, decided per trace id (a kept trace is whole; the same
     * hash as the core's `sample()`). Metrics still count every step. Env `OTEL_TRACES_SAMPLER`
     * (`traceidratio`, `parentbased_traceidratio`, `always_on`, `always_off`) with
     * `OTEL_TRACES_SAMPLER_ARG`. Default 1.
     */
    samplingRate: z.number().min(0).max(1).optional(),
    /** Print what the plugin does (config, exports, failures) to stderr, credentials masked. Env `OTEL_DEBUG`. */
    debug: z.boolean().optional(),
    /**
     * For plugin authors: map steps with this function instead of the GenAI conventions (see
     * `StepMapper`); the Langfuse and Phoenix plugins are this plugin with their own mapper.
     */
    mapper: fn('a function (step, options) => span data').optional(),
    /**
     * For plugin authors: resource attributes that depend on the step (Phoenix's per-request
     * project), added to the plugin's own. Steps with different values are exported under
     * different resources; return the same object for the same values (it is keyed by identity
     * first). `undefined` adds nothing. Not with `tracerProvider`, whose resource is the app's.
     */
    stepResource: fn('a function (step) => resource attributes').optional(),
    /** For plugin authors: the instrumentation scope of the spans. Default `@spanchain/otel` and its version. */
    scope: z
      .object({ name: z.string().min(1), version: z.string().optional() })
      .strict()
      .optional(),
  })
  .strict();

export type OtelPluginOptions = Omit<
  z.input<typeof OtelPluginOptionsSchema>,
  | 'exporter'
  | 'headers'
  | 'spanProcessors'
  | 'tracerProvider'
  | 'metrics'
  | 'logs'
  | 'mapper'
  | 'stepResource'
> & {
  mapper?: StepMapper;
  stepResource?: StepResource;
  exporter?: 'otlp' | 'console' | 'memory' | SpanExporter;
  headers?: HeadersInput;
  spanProcessors?: SpanProcessor[];
  tracerProvider?: TracerProvider;
  metrics?:
    | boolean
    | {
        exportIntervalMillis?: number;
        temporality?: 'cumulative' | 'delta' | 'lowmemory';
        meterProvider?: MeterProvider;
      };
  logs?: boolean | { loggerProvider?: LoggerProvider };
};

export interface BatchSettings {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
}

export interface ResolvedOtelOptions {
  name: string;
  exporter: 'otlp' | 'console' | 'memory' | SpanExporter;
  protocol: OtlpProtocol;
  /** Base URL without a signal path, e.g. `http://localhost:4318`. */
  endpoint: string;
  /** A full traces URL from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used as given. */
  tracesUrl: string | undefined;
  headers: HeadersInput | undefined;
  /**
   * Headers of the metrics and logs exporters: the `headers` object, or with a headers function
   * (which is per step, and metrics aggregate steps) the environment's general OTLP headers.
   */
  signalHeaders: Record<string, string> | undefined;
  compression: 'gzip' | 'none';
  timeoutMillis: number;
  maxRetries: number;
  batch: BatchSettings | false;
  spanProcessors: SpanProcessor[] | undefined;
  tracerProvider: TracerProvider | undefined;
  maxCredentialSets: number;
  serviceName: string | undefined;
  resourceAttributes: Record<string, string | number | boolean>;
  content: ContentMode;
  llmSpans: 'nested' | 'parent';
  limits: Partial<SerializeLimits> | undefined;
  redact: z.output<typeof RedactOptionsSchema> | undefined;
  metrics:
    | false
    | {
        exportIntervalMillis: number;
        temporality: 'cumulative' | 'delta' | 'lowmemory';
        meterProvider: MeterProvider | undefined;
      };
  logs: false | { loggerProvider: LoggerProvider | undefined };
  samplingRate: number;
  debug: boolean;
  mapper: StepMapper | undefined;
  stepResource: StepResource | undefined;
  scope: { name: string; version?: string } | undefined;
}

/**
 * Parses options and environment into settings. Throws `SpanchainError('INVALID_OPTIONS')` on
 * bad input. Header values are registered as secrets, so they are scrubbed from any error text.
 */
export function resolveOtelOptions(
  input: unknown,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOtelOptions {
  const options = parseOptions(
    OtelPluginOptionsSchema,
    input ?? {},
    '@spanchain/otel options',
  ) as OtelPluginOptions;

  const fromEnv = envExporter(env);
  const exporter = options.exporter ?? fromEnv?.exporter ?? 'otlp';
  const protocol = options.protocol ?? fromEnv?.protocol ?? envProtocol(env) ?? 'http/protobuf';

  const tracesUrl =
    options.endpoint === undefined ? envUrl(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') : undefined;
  const endpointRaw =
    options.endpoint ??
    envUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ??
    envUrl(env, 'OTEL_ENDPOINT') ??
    tracesUrl;
  const endpoint = baseEndpoint(
    endpointRaw ?? (protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318'),
  );

  let headers: HeadersInput | undefined = options.headers;
  if (headers === undefined) {
    for (const name of ['OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_HEADERS']) {
      const raw = envString(name, env);
      if (raw !== undefined) {
        headers = parseKeyValueList(name, raw);
        break;
      }
    }
  }
  if (headers !== undefined && typeof headers !== 'function') registerHeaderSecrets(headers);
  let signalHeaders = typeof headers === 'function' ? undefined : headers;
  if (typeof headers === 'function') {
    for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_HEADERS']) {
      const raw = envString(name, env);
      if (raw !== undefined) {
        signalHeaders = parseKeyValueList(name, raw);
        registerHeaderSecrets(signalHeaders);
        break;
      }
    }
  }

  const compressionRaw =
    envString('OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', env) ??
    envString('OTEL_EXPORTER_OTLP_COMPRESSION', env);
  if (compressionRaw !== undefined && compressionRaw !== 'gzip' && compressionRaw !== 'none') {
    throw envError(
      'OTEL_EXPORTER_OTLP_COMPRESSION',
      'gzip or none',
      JSON.stringify(compressionRaw.slice(0, 40)),
    );
  }

  const batch: BatchSettings | false =
    options.batch === false
      ? false
      : {
          maxQueueSize:
            options.batch?.maxQueueSize ?? envInteger('OTEL_BSP_MAX_QUEUE_SIZE', 1, 1_000_000, env) ?? 2048,
          maxExportBatchSize:
            options.batch?.maxExportBatchSize ??
            envInteger('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 1, 1_000_000, env) ??
            512,
          scheduledDelayMillis:
            options.batch?.scheduledDelayMillis ??
            envInteger('OTEL_BSP_SCHEDULE_DELAY', 0, 3_600_000, env) ??
            5000,
          exportTimeoutMillis:
            options.batch?.exportTimeoutMillis ??
            envInteger('OTEL_BSP_EXPORT_TIMEOUT', 1, 3_600_000, env) ??
            30_000,
        };
  if (batch && batch.maxExportBatchSize > batch.maxQueueSize) batch.maxExportBatchSize = batch.maxQueueSize;

  const resourceEnv = envString('OTEL_RESOURCE_ATTRIBUTES', env);
  const resourceAttributes = {
    ...(resourceEnv ? parseResourceAttributes(resourceEnv) : {}),
    ...options.resourceAttributes,
  };

  const canExportSignals = exporter === 'otlp';
  const metricsOption = options.metrics ?? canExportSignals;
  const metricsObject = typeof metricsOption === 'object' ? metricsOption : {};
  const temporalityEnv = envString('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', env)?.toLowerCase();
  if (temporalityEnv !== undefined && !['cumulative', 'delta', 'lowmemory'].includes(temporalityEnv)) {
    throw envError(
      'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
      'cumulative, delta or lowmemory',
      JSON.stringify(temporalityEnv.slice(0, 40)),
    );
  }
  const metrics =
    metricsOption === false || (!canExportSignals && metricsObject.meterProvider === undefined)
      ? false
      : {
          exportIntervalMillis:
            metricsObject.exportIntervalMillis ??
            envInteger('OTEL_METRIC_EXPORT_INTERVAL', 1, 86_400_000, env) ??
            60_000,
          temporality:
            metricsObject.temporality ??
            (temporalityEnv as 'cumulative' | 'delta' | 'lowmemory' | undefined) ??
            'cumulative',
          meterProvider: metricsObject.meterProvider,
        };

  const logsOption = options.logs ?? false;
  const logsObject = typeof logsOption === 'object' ? logsOption : {};
  const logs =
    logsOption === false || (!canExportSignals && logsObject.loggerProvider === undefined)
      ? false
      : { loggerProvider: logsObject.loggerProvider };

  return {
    name: options.name ?? 'otel',
    exporter,
    protocol,
    endpoint,
    tracesUrl,
    headers,
    signalHeaders,
    compression: options.compression ?? (compressionRaw as 'gzip' | 'none' | undefined) ?? 'none',
    timeoutMillis:
      options.timeoutMillis ?? envInteger('OTEL_EXPORTER_OTLP_TIMEOUT', 1, 600_000, env) ?? 10_000,
    maxRetries: options.maxRetries ?? 5,
    batch,
    spanProcessors: options.spanProcessors,
    tracerProvider: options.tracerProvider,
    maxCredentialSets: options.maxCredentialSets ?? 32,
    serviceName: options.serviceName ?? envString('OTEL_SERVICE_NAME', env),
    resourceAttributes,
    content: contentMode(options.captureContent) ?? envContent(env) ?? 'none',
    llmSpans: options.llmSpans ?? 'nested',
    limits: options.limits,
    redact: options.redact,
    metrics,
    logs,
    samplingRate: options.samplingRate ?? envSamplingRate(env) ?? 1,
    debug: options.debug ?? envBoolean('OTEL_DEBUG', env) ?? false,
    mapper: options.mapper,
    stepResource: options.stepResource,
    scope: options.scope,
  };
}
