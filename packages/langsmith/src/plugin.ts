/**
 * The LangSmith plugin: steps become runs in LangSmith's native run API. `onStart`/`onEnd` only
 * link the step into its run tree and queue it; mapping, encoding and sending happen in the
 * transport's background loop, per destination (endpoint, key, workspace, project).
 */
import {
  applyRedaction,
  ErrorReporter,
  type HookOptions,
  isTraceSampled,
  type Plugin,
  type PluginContext,
  type PluginCounters,
  type RedactOptions,
  type RemoteParent,
  registerSecret,
  type Step,
} from '@spanchain/core';
import { parseHeaders, type RunLink, RunLinks } from './links.js';
import { type MapOptions, toRun } from './map.js';
import {
  type LangSmithPluginOptions,
  type PerStep,
  type ResolvedLangSmithOptions,
  resolveLangSmithOptions,
  trimUrl,
} from './options.js';
import type { Run, Target } from './run.js';
import { RunTransport, type TransportStats } from './transport.js';

/** What waits in the queue: the step and its place in the tree; mapped once, sent per target. */
interface Item {
  step: Step;
  link: RunLink;
  run?: Run;
}

const MAX_TARGET_CACHE = 1000;
/** Per-step values are resolved once per trace at most this often before the cache is reset. */
const TARGET_ERROR = 'target-error';

function resolve<T>(value: PerStep<T> | undefined, step: Step): T | undefined {
  return typeof value === 'function' ? (value as (s: Step) => T | undefined)(step) : value;
}

export interface LangSmithStats extends TransportStats {
  /** Steps left out by `samplingRate` (whole traces). */
  sampledOut: number;
}

/**
 * Sends every step to LangSmith as a run. Made by {@link langsmith}.
 */
export class LangSmithPlugin implements Plugin {
  readonly name: string;
  readonly settings: ResolvedLangSmithOptions;
  private readonly links = new RunLinks();
  private readonly transport: RunTransport<Item>;
  private readonly errors: ErrorReporter;
  private readonly mapOptions: MapOptions;
  private readonly redaction: RedactOptions | undefined;
  /** The same Target object for the same destination, so the transport keys it cheaply. */
  private readonly targets = new Map<string, Target>();
  private readonly staticTarget: Target | undefined;
  private readonly replicaTargets: Target[];
  private sampledOut = 0;
  private targetErrors = 0;

  constructor(
    options?: LangSmithPluginOptions,
    env: NodeJS.ProcessEnv = process.env,
    errors = new ErrorReporter(),
  ) {
    const settings = resolveLangSmithOptions(options, env);
    this.settings = settings;
    this.name = settings.name;
    this.errors = errors;
    this.redaction = settings.redact as RedactOptions | undefined;
    this.mapOptions = {
      hideInputs: settings.hideInputs,
      hideOutputs: settings.hideOutputs,
      ...(settings.limits && { limits: settings.limits }),
    };
    const perStep = [settings.apiKey, settings.endpoint, settings.project, settings.workspaceId].some(
      (v) => typeof v === 'function',
    );
    this.staticTarget = perStep
      ? undefined
      : this.target(
          settings.endpoint as string,
          settings.apiKey as string,
          settings.workspaceId as string | undefined,
          settings.project as string,
        );
    const primaryKey = typeof settings.apiKey === 'string' ? settings.apiKey : undefined;
    const primaryEndpoint = typeof settings.endpoint === 'string' ? settings.endpoint : undefined;
    this.replicaTargets = settings.replicas.map((r) =>
      this.target(
        r.endpoint ?? primaryEndpoint ?? '',
        r.apiKey ?? primaryKey ?? '',
        r.workspaceId ?? (typeof settings.workspaceId === 'string' ? settings.workspaceId : undefined),
        r.project,
        true,
      ),
    );
    const debug = settings.debug
      ? (message: string) => process.stderr.write(`[spanchain:${this.name}] ${message}\n`)
      : undefined;
    this.transport = new RunTransport<Item>({
      build: (item, target) => this.build(item, target),
      mode: settings.mode,
      compression: settings.compression,
      maxBatchRuns: settings.maxBatchRuns,
      maxBatchBytes: settings.maxBatchBytes,
      maxQueueRuns: settings.maxQueueRuns,
      maxBufferBytes: settings.maxBufferBytes,
      flushIntervalMillis: settings.flushIntervalMillis,
      timeoutMillis: settings.timeoutMillis,
      maxRetries: settings.maxRetries,
      maxConcurrentRequests: settings.maxConcurrentRequests,
      maxTotalConcurrentRequests: settings.maxTotalConcurrentRequests,
      onError: (source, message) => this.errors.warn(`plugin:${this.name}.${source}`, message),
      ...(debug && { debug }),
    });
    debug?.(
      `endpoint ${typeof settings.endpoint === 'string' ? settings.endpoint : '(per step)'}, project ${
        typeof settings.project === 'string' ? settings.project : '(per step)'
      }, ${settings.replicas.length} replica(s), mode ${settings.mode}, compression ${settings.compression}, sampling ${settings.samplingRate}`,
    );
  }

  onStart(step: Step): void {
    if (!this.keeps(step)) return;
    this.links.start(step);
  }

  onEnd(step: Step): void {
    if (!this.keeps(step)) {
      this.sampledOut++;
      return;
    }
    const link = this.links.end(step);
    if (link === undefined) return;
    const item: Item = { step, link };
    const primary = this.primaryTarget(step, link);
    if (primary !== undefined) this.transport.enqueue(primary, item);
    for (const replica of this.replicaTargets) this.transport.enqueue(replica, item);
  }

  /** `langsmith-trace` and `langsmith-*` baggage for the run of `step`. */
  inject(step: Step, headers: Record<string, string>): void {
    const project = typeof this.settings.project === 'string' ? this.settings.project : undefined;
    Object.assign(headers, this.links.headers(step, project === undefined ? {} : { project }));
  }

  /** Continues a LangSmith trace from `langsmith-trace` (and reads its baggage). */
  extract(get: (name: string) => string | undefined, current?: RemoteParent): RemoteParent | undefined {
    const parsed = parseHeaders(get);
    if (parsed === undefined) return undefined;
    const baggage = {
      ...(parsed.metadata && { metadata: parsed.metadata }),
      ...(parsed.tags && { tags: parsed.tags }),
      ...(parsed.project && { project: parsed.project }),
    };
    // With a traceparent of the same trace, the core nests the step under that span id: remember
    // the dotted order under it. A traceparent of another trace wins and the header is ignored.
    if (current !== undefined && current.traceId !== parsed.traceId) return undefined;
    this.links.remember(parsed.traceId, parsed.parentSpanId, parsed.dottedOrder, baggage);
    return { traceId: parsed.traceId, spanId: parsed.parentSpanId, traceFlags: 1 };
  }

  /** From now on, errors go to the tracer's reporter (its `onError`). */
  attach(context: PluginContext): void {
    this.errors.forwardTo(context.errors);
  }

  /**
   * Resolves once every run queued now is exported or dropped; rejects when some are still queued
   * or in flight at the deadline, so that the tracer's flush report does not call it done.
   */
  async flush(options?: HookOptions): Promise<void> {
    if (!(await this.transport.flush(options?.deadline))) throw this.unsettled();
  }

  async shutdown(options?: HookOptions): Promise<void> {
    if (!(await this.transport.shutdown(options?.deadline))) {
      throw new Error(
        'LangSmith shutdown reached its deadline: the runs it still held were dropped (counted as dropped.shutdown)',
      );
    }
  }

  private unsettled(): Error {
    const { queued, inFlight } = this.transport.stats();
    return new Error(
      `LangSmith flush reached its deadline with ${queued} runs queued and ${inFlight} requests in flight`,
    );
  }

  stats(): Partial<PluginCounters> & LangSmithStats {
    const stats = this.transport.stats();
    const dropped = { ...stats.dropped };
    if (this.sampledOut > 0) dropped['sampled-out'] = this.sampledOut;
    if (this.targetErrors > 0) dropped[TARGET_ERROR] = (dropped[TARGET_ERROR] ?? 0) + this.targetErrors;
    return { ...stats, dropped, sampledOut: this.sampledOut };
  }

  /** Per destination: queued, exported, dropped. */
  targetStats(): ReturnType<RunTransport<Item>['targetStats']> {
    return this.transport.targetStats();
  }

  // -------------------------------------------------------------------------------------------

  /** Sampling by trace id, so every run of a kept trace is kept (the core's ratio hash). */
  private keeps(step: Step): boolean {
    const rate = this.settings.samplingRate;
    return rate >= 1 || (rate > 0 && isTraceSampled(step.traceId, rate));
  }

  private target(
    endpoint: string,
    apiKey: string,
    workspaceId: string | undefined,
    project: string,
    replica = false,
  ): Target {
    const key = `${endpoint}\u0000${apiKey}\u0000${workspaceId ?? ''}\u0000${project}\u0000${replica}`;
    let target = this.targets.get(key);
    if (target === undefined) {
      if (this.targets.size >= MAX_TARGET_CACHE) this.targets.clear();
      target = {
        endpoint: trimUrl(endpoint),
        apiKey,
        project,
        ...(workspaceId !== undefined && { workspaceId }),
        ...(replica && { replica }),
      };
      this.targets.set(key, target);
    }
    return target;
  }

  private primaryTarget(step: Step, link: RunLink): Target | undefined {
    const s = this.settings;
    // A project named by an incoming header's baggage applies unless a function picks one.
    if (this.staticTarget !== undefined && link.project === undefined) return this.staticTarget;
    try {
      const apiKey = resolve(s.apiKey, step) ?? (typeof s.apiKey === 'string' ? s.apiKey : undefined);
      if (typeof apiKey !== 'string' || apiKey === '') throw new Error('apiKey() returned no key');
      if (typeof s.apiKey === 'function') registerSecret(apiKey, { transient: true });
      const endpoint = resolve(s.endpoint, step);
      const fromFunction = typeof s.project === 'function' ? s.project(step) : undefined;
      const project = fromFunction ?? link.project ?? (typeof s.project === 'string' ? s.project : undefined);
      const workspaceId = resolve(s.workspaceId, step);
      if (typeof endpoint !== 'string' || !/^https?:\/\//.test(endpoint))
        throw new Error('endpoint() returned no http(s) URL');
      if (typeof project !== 'string' || project === '')
        throw new Error('project() returned no project name');
      if (workspaceId !== undefined && typeof workspaceId !== 'string')
        throw new Error('workspaceId() returned a non-string');
      return this.target(endpoint, apiKey, workspaceId, project);
    } catch (error) {
      this.targetErrors++;
      this.errors.report(`plugin:${this.name}.target`, error, 'warning');
      return undefined;
    }
  }

  /** Maps the step once; each destination gets its own project on a shallow copy. */
  private build(item: Item, target: Target): Run {
    if (item.run === undefined) {
      const step = this.redaction ? applyRedaction(item.step, this.redaction) : item.step;
      item.run = toRun(step, item.link, this.mapOptions);
      if (this.settings.samplingRate < 1) {
        if (item.run.extra === undefined) item.run.extra = {};
        const extra = item.run.extra;
        extra.metadata = { ...extra.metadata, ls_tracing_sample_rate: this.settings.samplingRate };
      }
    }
    return { ...item.run, session_name: target.project };
  }
}

/**
 * Makes the LangSmith plugin.
 *
 * @example
 * const tracer = createTracer({ plugins: [langsmith({ project: 'support-bot' })] }); // key from LANGSMITH_API_KEY
 */
export function langsmith(
  options?: LangSmithPluginOptions,
  env: NodeJS.ProcessEnv = process.env,
): LangSmithPlugin {
  return new LangSmithPlugin(options, env);
}
