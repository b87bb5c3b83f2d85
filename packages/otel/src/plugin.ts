/**
 * The OpenTelemetry plugin: each finished step becomes a span (GenAI conventions) handed to the
 * SDK's own processors and exporters, plus GenAI metrics and optional log records.
 *
 * `onEnd` only wraps the step in a lazy `ReadableSpan` and queues it; mapping, serialising and
 * sending happen when the batch processor exports, off the traced code's path.
 */
import { type Attributes, type Tracer as OtelTracer, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { InMemorySpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  applyRedaction,
  ErrorReporter,
  type HookOptions,
  isTraceSampled,
  type Plugin,
  type PluginContext,
  type PluginCounters,
  type Step,
  type StepOf,
  scrubSecrets,
} from '@spanchain/core';
import { MAX_PLUGIN_EXPORTS, Slots } from './counting-exporter.js';
import { createLogExporter, createMetricExporter, createSpanExporter, SharedAgents } from './exporters.js';
import { StepLogs } from './logs.js';
import { errorTypeOf, llmAttributes, type MapOptions, mapStep, operationOf, type StepMapper } from './map.js';
import { GenAiMetrics } from './metrics.js';
import { SEMCONV } from './names.js';
import {
  type OtelPluginOptions,
  type ResolvedOtelOptions,
  registerHeaderSecrets,
  resolveOtelOptions,
} from './options.js';
import { createPipeline, ExportCounters, PipelineCache, RecentSet, stableKey } from './routing.js';
import { mapSafely, StepSpan, toHrTime } from './step-span.js';
import { VERSION } from './version.js';

const DEFAULT_SCOPE: InstrumentationScope = { name: '@spanchain/otel', version: VERSION };
const MAX_RESOURCES = 64;
const MAX_FOLDED = 10_000;

export class OtelPlugin implements Plugin {
  readonly name: string;
  /** The settings in force (credentials are only ever printed masked). */
  readonly settings: ResolvedOtelOptions;
  /** With `exporter: 'memory'`: the exporter holding the exported spans. */
  readonly memory: InMemorySpanExporter | undefined;

  private readonly counters = new ExportCounters();
  /** The HTTP agents every span exporter of this plugin shares; closed at shutdown. */
  private readonly agents = new SharedAgents();
  /** Export slots shared by every pipeline of this plugin. */
  private readonly exportSlots = new Slots(MAX_PLUGIN_EXPORTS);
  private readonly errors = new ErrorReporter();
  private readonly mapOptions: MapOptions;
  private readonly mapper: StepMapper;
  private readonly scope: InstrumentationScope;
  private readonly pipelines: PipelineCache | undefined;
  private readonly userProcessors: SpanProcessor[] | undefined;
  private readonly appTracer: OtelTracer | undefined;
  private readonly headerKeys = new WeakMap<object, string>();
  /** Header sets by key, for pipelines created from a headers function. */
  private readonly headersByKey = new Map<string, Record<string, string>>();
  private readonly resources = new Map<string, Resource>();
  /** Keys of `stepResource` results, by identity. */
  private readonly resourceKeys = new WeakMap<object, string>();
  private readonly folded = new Map<string, StepOf<'llm'>>();
  private readonly endedParents: RecentSet | undefined;
  private metricsRecorder: GenAiMetrics | undefined;
  private logSink: StepLogs | undefined;
  private signalsStarted = false;
  private closed = false;

  constructor(options?: OtelPluginOptions, env: NodeJS.ProcessEnv = process.env) {
    const settings = resolveOtelOptions(options, env);
    this.settings = settings;
    this.name = settings.name;
    this.mapper = settings.mapper ?? mapStep;
    this.scope = settings.scope ?? DEFAULT_SCOPE;
    this.mapOptions = {
      captureContent: settings.content === 'span' || settings.content === 'span_and_event',
      limits: settings.limits,
    };
    this.endedParents = settings.llmSpans === 'parent' ? new RecentSet(MAX_FOLDED) : undefined;
    if (settings.tracerProvider) {
      this.appTracer = settings.tracerProvider.getTracer(this.scope.name, this.scope.version);
    } else if (settings.spanProcessors) {
      this.userProcessors = settings.spanProcessors;
    } else {
      const staticHeaders = typeof settings.headers === 'function' ? undefined : settings.headers;
      let memory: InMemorySpanExporter | undefined;
      this.pipelines = new PipelineCache(
        settings.maxCredentialSets,
        (key) => {
          const headers = key === '' ? staticHeaders : this.headersByKey.get(key);
          const exporter = createSpanExporter(settings, headers, this.agents);
          if (settings.exporter === 'memory') memory = exporter as InMemorySpanExporter;
          this.debug(`new span pipeline ${this.describeTarget(headers)}`);
          return createPipeline(exporter, settings.batch, {
            counters: this.counters,
            shared: this.exportSlots,
            observe: (count, ok, error) => {
              if (ok) this.debug(`exported ${count} spans`);
              else this.exportFailed(count, error);
            },
            timeoutMillis:
              (settings.batch === false ? settings.timeoutMillis : settings.batch.exportTimeoutMillis) +
              1_000,
            maxRetries: settings.maxRetries,
          });
        },
        (key) => this.headersByKey.delete(key),
      );
      if (typeof settings.headers !== 'function') {
        this.pipelines.get('');
        this.memory = memory;
      }
    }
    this.debug(
      `configured ${this.describeTarget(typeof settings.headers === 'function' ? undefined : settings.headers)}`,
    );
  }

  private describeTarget(headers: Record<string, string> | undefined): string {
    const s = this.settings;
    const target =
      typeof s.exporter === 'object'
        ? 'a custom exporter'
        : s.exporter === 'otlp'
          ? `otlp ${s.protocol} ${s.tracesUrl ?? s.endpoint}`
          : s.exporter;
    // Header names only: their values are credentials.
    const names = headers ? Object.keys(headers).join(', ') : '';
    return `${target}${names ? ` headers [${names}]` : ''} content=${s.content} llmSpans=${s.llmSpans}`;
  }

  private debug(message: string): void {
    if (this.settings.debug) process.stderr.write(`[spanchain:${this.name}] ${scrubSecrets(message)}\n`);
  }

  /** A step the mapper could not map: it is exported with a minimal mapping instead. */
  private readonly mapError = (error: unknown): void => {
    this.errors.report(`plugin:${this.name}.map`, error);
  };

  private exportFailed(count: number, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.debug(`export of ${count} spans failed: ${message}`);
    this.errors.report(`plugin:${this.name}.export`, error);
  }

  /** The step's own resource attributes (`stepResource`), or undefined; a throwing function adds none. */
  private stepResource(step: Step): Record<string, string | number | boolean> | undefined {
    const fn = this.settings.stepResource;
    if (fn === undefined) return undefined;
    try {
      const extra = fn(step);
      return extra !== null && typeof extra === 'object' ? extra : undefined;
    } catch (error) {
      this.errors.report(`plugin:${this.name}.stepResource`, error);
      return undefined;
    }
  }

  private resourceFor(step: Step): Resource {
    const serviceName = this.settings.serviceName ?? step.serviceName;
    const extra = this.stepResource(step);
    let key = serviceName;
    if (extra !== undefined) {
      let extraKey = this.resourceKeys.get(extra);
      if (extraKey === undefined) {
        extraKey = stableKey(extra);
        this.resourceKeys.set(extra, extraKey);
      }
      key = `${serviceName}\u0002${extraKey}`;
    }
    let resource = this.resources.get(key);
    if (resource === undefined) {
      if (this.resources.size >= MAX_RESOURCES) this.resources.clear();
      resource = resourceFromAttributes({
        'telemetry.sdk.name': 'spanchain',
        'telemetry.sdk.language': 'nodejs',
        'telemetry.sdk.version': VERSION,
        ...this.settings.resourceAttributes,
        ...extra,
        'service.name': serviceName,
      });
      this.resources.set(key, resource);
    }
    return resource;
  }

  /** The pipeline key of a step: '' for static headers, else the key of its header set. */
  private pipelineKey(step: Step): string | undefined {
    const { headers } = this.settings;
    if (typeof headers !== 'function') return '';
    let result: Record<string, string> | undefined;
    try {
      result = headers(step);
    } catch (error) {
      this.counters.drop('headers-error');
      this.errors.report(`plugin:${this.name}.headers`, error);
      return undefined;
    }
    if (result === undefined || result === null) return '';
    let key = this.headerKeys.get(result);
    if (key === undefined) {
      key = stableKey(result);
      this.headerKeys.set(result, key);
    }
    // Also for a header object seen before: its pipeline may have been evicted since, and with it
    // this entry; a pipeline made without it would send the team's spans with no credentials.
    if (!this.headersByKey.has(key)) {
      registerHeaderSecrets(result, true);
      this.headersByKey.set(key, { ...result });
    }
    return key;
  }

  onEnd(original: Step): void {
    if (this.closed) {
      this.counters.drop('shut-down');
      return;
    }
    const step = this.settings.redact ? applyRedaction(original, this.settings.redact) : original;
    this.startSignals(step);
    this.metricsRecorder?.record(step);
    // Sampling thins traces (spans and their logs); metrics above still count every step.
    const rate = this.settings.samplingRate;
    if (rate < 1 && (rate <= 0 || !isTraceSampled(step.traceId, rate))) {
      this.counters.drop('sampled-out');
      return;
    }
    this.emitLog(step);

    if (this.endedParents) {
      // `llmSpans: 'parent'`: an LLM call whose parent step is still running gives its
      // attributes to that parent instead of becoming a span.
      // Only a step can take the call's attributes: not an app span, not a remote parent.
      if (step.kind === 'llm' && step.parentSpanId !== undefined && step.parentStepId === step.parentSpanId) {
        if (!this.endedParents.has(step.parentSpanId)) {
          if (this.folded.size >= MAX_FOLDED) {
            const oldest = this.folded.keys().next().value;
            if (oldest !== undefined) this.folded.delete(oldest);
          }
          this.folded.set(step.parentSpanId, step);
          return;
        }
      }
      this.endedParents.add(step.spanId);
    }
    const llm = this.folded.size > 0 ? this.takeFolded(step.spanId) : undefined;
    const extra = llm ? (): Attributes => llmAttributes(llm, this.mapOptions) : undefined;

    if (this.appTracer) {
      this.emitThroughApp(step, extra?.());
      return;
    }
    const span = new StepSpan(
      step,
      this.resourceFor(step),
      this.scope,
      this.mapOptions,
      extra,
      this.mapper,
      this.mapError,
    );
    if (this.userProcessors) {
      for (const processor of this.userProcessors) {
        try {
          processor.onEnd(span);
        } catch (error) {
          this.errors.report(`plugin:${this.name}.processor`, error);
        }
      }
      return;
    }
    const key = this.pipelineKey(step);
    if (key === undefined || this.pipelines === undefined) return;
    const pipeline = this.pipelines.get(key);
    const limit = this.settings.batch === false ? Number.POSITIVE_INFINITY : this.settings.batch.maxQueueSize;
    // The spans this credential set holds that no request has taken (queued, or waiting for a
    // retry): a team whose collector hangs fills its own share. Requests in flight are bounded by
    // the export slots. (The SDK's batch processor bounds its own queue and would drop silently.)
    if (pipeline.holding >= limit) {
      this.counters.drop('queue-full');
      pipeline.probe();
      return;
    }
    pipeline.onEnd(span);
  }

  private takeFolded(spanId: string): StepOf<'llm'> | undefined {
    const llm = this.folded.get(spanId);
    if (llm !== undefined) this.folded.delete(spanId);
    return llm;
  }

  /**
   * Through the app's provider: a real SDK span, started and ended with the step's times. Its
   * span context is then given the step's ids, so that the app's spans made inside the step
   * (whose parent is the step's id) stay its children in the exported data.
   */
  private emitThroughApp(step: Step, extra: Attributes | undefined): void {
    const tracer = this.appTracer as OtelTracer;
    const data = mapSafely(this.mapper, step, this.mapOptions, this.mapError);
    const parent =
      step.parentSpanId === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, {
            traceId: step.traceId,
            spanId: step.parentSpanId,
            traceFlags: step.traceFlags | 1,
            isRemote: step.parentIsRemote,
          });
    const span = tracer.startSpan(
      data.name,
      { kind: data.kind, startTime: toHrTime(step.startTime), attributes: { ...extra, ...data.attributes } },
      parent,
    );
    if (!span.isRecording()) {
      this.counters.drop('app-sampler');
      return;
    }
    const context = span.spanContext() as { traceId: string; spanId: string };
    context.traceId = step.traceId;
    context.spanId = step.spanId;
    for (const event of data.events) span.addEvent(event.name, event.attributes, toHrTime(event.time));
    span.setStatus(data.status);
    span.end(toHrTime(step.endTime ?? step.startTime));
    this.counters.exported++;
  }

  /** Metrics and logs start with the first step, whose service name their resource takes. */
  private startSignals(step: Step): void {
    if (this.signalsStarted) return;
    this.signalsStarted = true;
    const s = this.settings;
    const resource = this.resourceFor(step);
    const headers = s.signalHeaders;
    const onError = (error: unknown) => this.errors.report(`plugin:${this.name}.signals`, error);
    try {
      if (s.metrics) {
        this.metricsRecorder = s.metrics.meterProvider
          ? new GenAiMetrics({
              meterProvider: s.metrics.meterProvider,
              operationName: operationOf,
              onError,
              scopeVersion: VERSION,
            })
          : new GenAiMetrics({
              operationName: operationOf,
              onError,
              scopeVersion: VERSION,
              resource,
              exporter: createMetricExporter(s, headers, s.metrics.temporality),
              exportIntervalMillis: s.metrics.exportIntervalMillis,
              temporality: s.metrics.temporality === 'cumulative' ? 'cumulative' : 'delta',
            });
      }
      if (s.logs) {
        this.logSink = s.logs.loggerProvider
          ? new StepLogs({
              loggerProvider: s.logs.loggerProvider,
              operationName: operationOf,
              onError,
              scopeVersion: VERSION,
            })
          : new StepLogs({
              operationName: operationOf,
              onError,
              scopeVersion: VERSION,
              resource,
              exporter: createLogExporter(s, headers),
            });
      }
    } catch (error) {
      this.errors.report(`plugin:${this.name}.signals`, error);
    }
  }

  private emitLog(step: Step): void {
    if (this.logSink === undefined) return;
    const events = this.settings.content === 'event' || this.settings.content === 'span_and_event';
    let contentAttributes: Attributes | undefined;
    if (events && step.kind === 'llm') {
      // The details event carries the inference span's attributes, operation and error included.
      contentAttributes = {
        [SEMCONV.operationName]: operationOf(step),
        ...llmAttributes(step, { ...this.mapOptions, captureContent: true, structuredContent: true }),
      };
      if (step.status === 'error') contentAttributes[SEMCONV.errorType] = errorTypeOf(step);
    }
    this.logSink.emit(step, contentAttributes ? { contentAttributes } : undefined);
  }

  private async flushAppProvider(): Promise<void> {
    const provider = this.settings.tracerProvider as { forceFlush?: () => Promise<void> } | undefined;
    if (typeof provider?.forceFlush === 'function') await provider.forceFlush();
  }

  stats(): Partial<PluginCounters> {
    const c = this.counters;
    return {
      exported: c.exported,
      queued: Math.max(0, c.queued + c.inFlight),
      dropped: { ...c.dropped },
      failed: c.failedRequests,
    };
  }

  async flush(_options?: HookOptions): Promise<void> {
    const work: Promise<unknown>[] = [];
    if (this.pipelines) work.push(this.pipelines.forceFlush());
    if (this.userProcessors) for (const p of this.userProcessors) work.push(p.forceFlush());
    work.push(this.flushAppProvider());
    if (this.metricsRecorder) work.push(this.metricsRecorder.forceFlush());
    if (this.logSink) work.push(this.logSink.forceFlush());
    // A failed export is already counted and reported; flush itself resolves.
    await Promise.all(work.map((p) => p.catch(() => undefined)));
  }

  /** From now on, errors go to the tracer's reporter (its `onError`). */
  attach(context: PluginContext): void {
    this.errors.forwardTo(context.errors);
  }

  async shutdown(_options?: HookOptions): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const work: Promise<unknown>[] = [];
    if (this.pipelines) work.push(this.pipelines.shutdown());
    // Processors given to the plugin are the plugin's to close; the app's provider is not.
    if (this.userProcessors) for (const p of this.userProcessors) work.push(p.shutdown());
    work.push(this.flushAppProvider());
    if (this.metricsRecorder) work.push(this.metricsRecorder.shutdown());
    if (this.logSink) work.push(this.logSink.shutdown());
    await Promise.all(work.map((p) => p.catch(() => undefined)));
    await this.agents.destroy();
  }
}

/**
 * Makes the OpenTelemetry plugin.
 *
 * @example
 * const tracer = createTracer({ plugins: [otel({ endpoint: 'http://collector:4318' })] });
 */
export function otel(options?: OtelPluginOptions): OtelPlugin {
  return new OtelPlugin(options);
}
