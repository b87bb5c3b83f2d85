/**
 * GenAI client metrics from ended steps: token usage, operation duration, streaming latency and
 * cost, with the instruments, units and bucket boundaries of the GenAI semantic conventions
 * (v1.41.0, `model/gen-ai/metrics.yaml` and `docs/gen-ai/gen-ai-metrics.md`).
 *
 * With its own provider, the values are aggregated in place (`aggregates.ts`) and collected by the
 * SDK's reader: the SDK's instruments hash each attribute set on every record, which cost more than
 * the rest of a traced step. With the app's provider, the SDK's instruments are used.
 */
import type { Attributes, Meter, MeterProvider as MeterProviderApi } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import type { ModelFields, Step } from '@spanchain/core';
import { AggregatesProducer, type Descriptor, FastCounter, FastHistogram } from './aggregates.js';
import { errorTypeOf } from './map.js';
import {
  GEN_AI_DURATION_BUCKETS,
  GEN_AI_TOKEN_BUCKETS,
  instrumentDescriptors,
  METRIC_OPERATION_BY_KIND,
  TOKEN_TYPE,
} from './metric-names.js';
import { SEMCONV, SPANCHAIN } from './names.js';
import { positive, type SignalResult, SignalSink } from './signal.js';

export {
  GEN_AI_DURATION_BUCKETS,
  GEN_AI_TOKEN_BUCKETS,
  METRIC_NAMES,
  METRIC_OPERATION_BY_KIND,
  TOKEN_TYPE,
} from './metric-names.js';

/** Instrument scope of everything this package records. */
export const SCOPE_NAME = '@spanchain/otel';

/** `error.type` when a failed step carries no usable type. */
export const ERROR_TYPE_OTHER = '_OTHER';

/** Attribute sets kept for reuse; past this, attributes are built per call and not kept. */
const ATTRIBUTE_CACHE_LIMIT = 1000;
const DEFAULT_INTERVAL_MS = 60_000;

interface CommonOptions {
  /**
   * `gen_ai.operation.name` of a step, so that metrics agree with the span mapping (e.g.
   * `text_completion` for some llm steps). Returning undefined falls back to
   * `METRIC_OPERATION_BY_KIND`; a kind without an operation is recorded as `spanchain.step.duration`.
   */
  operationName?: (step: Step) => string | undefined;
  /** Told about each failure inside `record()` (which itself never throws). */
  onError?: (error: unknown) => void;
  /** Version of the instrumentation scope. */
  scopeVersion?: string;
}

/** Own a MeterProvider that pushes to `exporter` on a period. */
export interface GenAiMetricsExporterOptions extends CommonOptions {
  resource: Resource;
  exporter: PushMetricExporter;
  /** Default 60000. */
  exportIntervalMillis?: number;
  /** Default 30000, never more than the interval. */
  exportTimeoutMillis?: number;
  /** Default `cumulative`; `delta` (also for the exporter's `lowmemory`) starts points over at each export. */
  temporality?: 'cumulative' | 'delta';
}

/** What recording needs from a histogram or a counter, whoever aggregates. */
interface HistogramLike {
  record(value: number, attributes: Attributes): void;
}
interface CounterLike {
  add(value: number, attributes: Attributes): void;
}

/** Record into the app's MeterProvider (never shut down from here). */
export interface GenAiMetricsProviderOptions extends CommonOptions {
  meterProvider: MeterProviderApi;
}

export type GenAiMetricsOptions = GenAiMetricsExporterOptions | GenAiMetricsProviderOptions;

export interface GenAiMetricsStats {
  /** Steps recorded without an error. */
  recorded: number;
  /** Steps whose recording failed (and was swallowed). */
  failures: number;
  /** Attribute sets currently cached. */
  cachedAttributeSets: number;
}

/** Attribute sets of one (operation, provider, models, server, error type, kind) combination. */
interface AttributeEntry {
  /** With `error.type` when the step failed: the duration histograms. */
  duration: Attributes;
  /** Without `error.type`: streaming histograms and cost. */
  base: Attributes;
  input?: Attributes;
  output?: Attributes;
}

/** What a step kind's last metric attributes were made of, and the sets made from them. */
interface KindMemo {
  operation: string | undefined;
  provider: string | undefined;
  requestModel: string | undefined;
  responseModel: string | undefined;
  serverAddress: string | undefined;
  serverPort: number | undefined;
  errorType: string | undefined;
  entry: AttributeEntry;
}
const MAX_MEMO_KINDS = 64;

const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ 'otel.metric.overflow': true });
const OVERFLOW: AttributeEntry = {
  duration: OVERFLOW_ATTRIBUTES,
  base: OVERFLOW_ATTRIBUTES,
  input: OVERFLOW_ATTRIBUTES,
  output: OVERFLOW_ATTRIBUTES,
};

/** The private provider and the in-place aggregations its reader collects. */
function ownedProvider(options: GenAiMetricsExporterOptions) {
  const descriptors = instrumentDescriptors();
  const tokenUsage = new FastHistogram(descriptors.tokenUsage, GEN_AI_TOKEN_BUCKETS);
  const operationDuration = new FastHistogram(descriptors.operationDuration, GEN_AI_DURATION_BUCKETS);
  const timeToFirstChunk = new FastHistogram(descriptors.timeToFirstChunk, GEN_AI_DURATION_BUCKETS);
  const timePerOutputChunk = new FastHistogram(descriptors.timePerOutputChunk, GEN_AI_DURATION_BUCKETS);
  const stepDuration = new FastHistogram(descriptors.stepDuration, GEN_AI_DURATION_BUCKETS);
  const cost = new FastCounter(descriptors.cost);
  const temporality =
    options.temporality === 'delta' ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
  const producer = new AggregatesProducer({ name: SCOPE_NAME, version: options.scopeVersion }, temporality, [
    tokenUsage,
    operationDuration,
    timeToFirstChunk,
    timePerOutputChunk,
    stepDuration,
    cost,
  ]);
  const interval = positive(options.exportIntervalMillis) ?? DEFAULT_INTERVAL_MS;
  // The reader throws when the timeout exceeds the interval: clamp instead.
  const timeout = Math.min(positive(options.exportTimeoutMillis) ?? 30_000, interval);
  const reader = new PeriodicExportingMetricReader({
    exporter: options.exporter,
    exportIntervalMillis: interval,
    exportTimeoutMillis: timeout,
    metricProducers: [producer],
  });
  const provider = new MeterProvider({ resource: options.resource, readers: [reader] });
  return {
    provider,
    tokenUsage,
    operationDuration,
    timeToFirstChunk,
    timePerOutputChunk,
    stepDuration,
    cost,
  };
}

/**
 * Records GenAI client metrics for ended steps. Give it an exporter (it then owns a MeterProvider
 * with a PeriodicExportingMetricReader, never the global one) or the app's MeterProvider.
 *
 * Attributes are low-cardinality only: `gen_ai.operation.name`, `gen_ai.provider.name` (omitted
 * when the step names no provider), `gen_ai.request.model`, `gen_ai.response.model`,
 * `server.address`, `server.port`, `error.type`, and `spanchain.step.kind` on
 * `spanchain.step.duration`. Never user, session, trace or span ids, nor step names.
 *
 * A step that ran with retries or fallbacks (`step.attempts`) records nothing itself: each of its
 * attempts is a step of the same kind that records the actual call, so nothing is counted twice.
 *
 * @example
 * const metrics = new GenAiMetrics({ resource, exporter: new OTLPMetricExporter() });
 * const plugin = { name: 'metrics', onEnd: (step) => metrics.record(step), shutdown: () => metrics.shutdown() };
 */
export class GenAiMetrics extends SignalSink {
  private readonly tokenUsage: HistogramLike;
  private readonly operationDuration: HistogramLike;
  private readonly timeToFirstChunk: HistogramLike;
  private readonly timePerOutputChunk: HistogramLike;
  private readonly cost: CounterLike;
  private readonly stepDuration: HistogramLike;
  private readonly operationName: ((step: Step) => string | undefined) | undefined;
  private readonly cache = new Map<string, AttributeEntry>();
  /** The last combination seen per step kind (kinds are the app's strings: bounded). */
  private readonly lastByKind = new Map<string, KindMemo>();
  private recordedCount = 0;

  constructor(options: GenAiMetricsOptions) {
    const owned = 'meterProvider' in options ? undefined : ownedProvider(options);
    super(
      owned?.provider ?? (options as GenAiMetricsProviderOptions).meterProvider,
      owned?.provider,
      options.onError,
    );
    this.operationName = options.operationName;
    const descriptors = instrumentDescriptors();
    if (owned === undefined) {
      const meter: Meter = (options as GenAiMetricsProviderOptions).meterProvider.getMeter(
        SCOPE_NAME,
        options.scopeVersion,
      );
      const histogram = (d: Descriptor, bounds: readonly number[]) =>
        meter.createHistogram(d.name, {
          description: d.description,
          unit: d.unit,
          valueType: d.valueType,
          advice: { explicitBucketBoundaries: [...bounds] },
        });
      this.tokenUsage = histogram(descriptors.tokenUsage, GEN_AI_TOKEN_BUCKETS);
      this.operationDuration = histogram(descriptors.operationDuration, GEN_AI_DURATION_BUCKETS);
      this.timeToFirstChunk = histogram(descriptors.timeToFirstChunk, GEN_AI_DURATION_BUCKETS);
      this.timePerOutputChunk = histogram(descriptors.timePerOutputChunk, GEN_AI_DURATION_BUCKETS);
      this.stepDuration = histogram(descriptors.stepDuration, GEN_AI_DURATION_BUCKETS);
      const { name, ...rest } = descriptors.cost;
      this.cost = meter.createCounter(name, rest);
    } else {
      const { tokenUsage, operationDuration, timeToFirstChunk, timePerOutputChunk, stepDuration, cost } =
        owned;
      this.tokenUsage = tokenUsage;
      this.operationDuration = operationDuration;
      this.timeToFirstChunk = timeToFirstChunk;
      this.timePerOutputChunk = timePerOutputChunk;
      this.stepDuration = stepDuration;
      this.cost = cost;
    }
  }

  /** Records the metrics of one ended step. Cheap; never throws. */
  record(step: Step): void {
    if (this.closed) return;
    try {
      this.recordStep(step);
      this.recordedCount++;
    } catch (error) {
      this.failed(error);
    }
  }

  stats(): GenAiMetricsStats {
    return {
      recorded: this.recordedCount,
      failures: this.failures,
      cachedAttributeSets: this.cache.size,
    };
  }

  /**
   * Stops recording and shuts the owned provider down (exporting what is left). The app's
   * provider is only flushed: its lifecycle is the app's.
   */
  override shutdown(options: { timeoutMillis?: number } = {}): Promise<SignalResult> {
    this.cache.clear();
    this.lastByKind.clear();
    return super.shutdown(options);
  }

  private recordStep(step: Step): void {
    // A retry/fallback container: its attempts are the calls.
    if (step.attempts !== undefined) return;
    const end = step.endTime;
    if (typeof end !== 'number') return;
    const kind = step.kind;
    const operation = this.operationName?.(step) ?? METRIC_OPERATION_BY_KIND[kind];
    const attributes = this.attributesFor(step, operation);

    const durationS = (end - step.startTime) / 1000;
    if (durationS >= 0 && Number.isFinite(durationS)) {
      (operation === undefined ? this.stepDuration : this.operationDuration).record(
        durationS,
        attributes.duration,
      );
    }

    if (kind === 'llm' || kind === 'embedding') {
      const usage = step.usage;
      if (usage) {
        const input = usage.inputTokens;
        if (isCount(input)) {
          attributes.input ??= freeze({ ...attributes.base, [TOKEN_TYPE.attribute]: TOKEN_TYPE.input });
          this.tokenUsage.record(Math.round(input), attributes.input);
        }
        const output = usage.outputTokens;
        if (isCount(output)) {
          attributes.output ??= freeze({ ...attributes.base, [TOKEN_TYPE.attribute]: TOKEN_TYPE.output });
          this.tokenUsage.record(Math.round(output), attributes.output);
        }
      }
      const cost = step.cost;
      if (cost && (cost.currency === 'USD' || cost.currency === 'usd') && isCount(cost.total)) {
        this.cost.add(cost.total, attributes.base);
      }
    }

    if (kind === 'llm') {
      const stream = step.stream;
      const firstChunk = stream?.firstChunkTime;
      let ttfcMs = step.timeToFirstTokenMs;
      if (!isCount(ttfcMs) && typeof firstChunk === 'number') ttfcMs = firstChunk - step.startTime;
      if (isCount(ttfcMs)) this.timeToFirstChunk.record(ttfcMs / 1000, attributes.base);
      // The conventions want one measurement per chunk after the first (time since the previous
      // chunk). The step keeps only the chunk count and the first chunk's time, so this records
      // the mean gap once per call: (end − first chunk) / (chunks − 1). The end of the step is
      // taken as the last chunk's arrival (the stream ends when the consumer finishes reading).
      if (stream && typeof firstChunk === 'number' && stream.chunks >= 2) {
        const perChunkS = (end - firstChunk) / (stream.chunks - 1) / 1000;
        if (isCount(perChunkS)) this.timePerOutputChunk.record(perChunkS, attributes.base);
      }
    }
  }

  /** The attribute sets of a step, from the cache when its combination was seen before. */
  private attributesFor(step: Step, operation: string | undefined): AttributeEntry {
    const kind = step.kind;
    const model: ModelFields | undefined =
      kind === 'llm' || kind === 'embedding' || kind === 'rerank' ? step : undefined;
    const provider = text(model?.provider);
    const requestModel = text(model?.model);
    const responseModel = text(model?.responseModel);
    const serverAddress = text(model?.serverAddress);
    const serverPort = serverAddress !== undefined ? port(model?.serverPort) : undefined;
    const errorType = step.status === 'error' ? errorTypeOf(step) : undefined;

    // Steps of one kind nearly always repeat the last combination: compared field by field (the
    // same strings, mostly the same objects), that skips building and hashing the key.
    const last = this.lastByKind.get(kind);
    if (
      last !== undefined &&
      last.operation === operation &&
      last.provider === provider &&
      last.requestModel === requestModel &&
      last.responseModel === responseModel &&
      last.serverAddress === serverAddress &&
      last.serverPort === serverPort &&
      last.errorType === errorType
    ) {
      return last.entry;
    }
    const entry = this.entryFor(
      kind,
      operation,
      provider,
      requestModel,
      responseModel,
      serverAddress,
      serverPort,
      errorType,
    );
    if (entry !== OVERFLOW && (this.lastByKind.size < MAX_MEMO_KINDS || this.lastByKind.has(kind))) {
      this.lastByKind.set(kind, {
        operation,
        provider,
        requestModel,
        responseModel,
        serverAddress,
        serverPort,
        errorType,
        entry,
      });
    }
    return entry;
  }

  private entryFor(
    kind: string,
    operation: string | undefined,
    provider: string | undefined,
    requestModel: string | undefined,
    responseModel: string | undefined,
    serverAddress: string | undefined,
    serverPort: number | undefined,
    errorType: string | undefined,
  ): AttributeEntry {
    const key = `${kind}\u001f${operation ?? ''}\u001f${provider ?? ''}\u001f${requestModel ?? ''}\u001f${
      responseModel ?? ''
    }\u001f${serverAddress ?? ''}\u001f${serverPort ?? ''}\u001f${errorType ?? ''}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    // Past the limit, new combinations share one overflow set, as the SDK's cardinality limit
    // does: points are keyed by the identity of these objects, so they must stay bounded.
    if (this.cache.size >= ATTRIBUTE_CACHE_LIMIT) return OVERFLOW;

    const base: Attributes = {};
    if (operation !== undefined) base[SEMCONV.operationName] = operation;
    else base[SPANCHAIN.stepKind] = kind;
    if (provider !== undefined) base[SEMCONV.providerName] = provider;
    if (requestModel !== undefined) base[SEMCONV.requestModel] = requestModel;
    if (responseModel !== undefined) base[SEMCONV.responseModel] = responseModel;
    if (serverAddress !== undefined) base[SEMCONV.serverAddress] = serverAddress;
    if (serverPort !== undefined) base[SEMCONV.serverPort] = serverPort;
    freeze(base);
    const duration = errorType === undefined ? base : freeze({ ...base, [SEMCONV.errorType]: errorType });
    const entry: AttributeEntry = { duration, base };
    this.cache.set(key, entry);
    return entry;
  }
}

/** A factory for those who prefer one. */
export function createGenAiMetrics(options: GenAiMetricsOptions): GenAiMetrics {
  return new GenAiMetrics(options);
}

function freeze<T extends object>(value: T): T {
  return Object.freeze(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function port(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 65536
    ? value
    : undefined;
}

/** A finite, non-negative number (what histograms and counters accept). */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
