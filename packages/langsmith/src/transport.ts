/**
 * Background delivery of runs to LangSmith's ingestion API.
 *
 * Life of an item: `enqueue` puts it on its target's queue (O(1), nothing else). A drain, started
 * by the flush timer, by a full queue or by `flush()`, turns queued items into runs (`build`) and
 * encoded parts a few at a time, yielding to the event loop between slices, and seals them into
 * batches of at most `maxBatchRuns` runs and `maxBatchBytes` bytes; a batch holds runs of one
 * target only. Sealed bodies (gzipped off the main thread) wait for a request slot (slots.ts: at
 * most `maxConcurrentRequests` per target and `maxTotalConcurrentRequests` in all, so a target that
 * never answers cannot hold up the others), and go back to waiting after a retryable failure; a
 * batch refused as too large (413) is split in two and each half sent on its own (split.ts).
 * Memory is bounded twice: by a count of queued items (`maxQueueRuns`, new items dropped beyond it)
 * and by the bytes of encoded bodies held (`maxBufferBytes`, the oldest waiting batch dropped).
 *
 * Every item ends up exactly once as exported or dropped (by reason), so
 * `enqueued = exported + queued + Σ dropped` at all times.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { constants, gunzip as gunzipCallback, gzip as gzipCallback } from 'node:zlib';
import { type PluginCounters, scrubSecrets } from '@spanchain/core';
import { nodeFetch } from './http.js';
import {
  batchBody,
  bodyOverhead,
  type EncodedRun,
  type EncodingMode,
  encodeRun,
  multipartBody,
  pathFor,
} from './multipart.js';
import type { Run, Target, TargetKey } from './run.js';
import { type Lane, RequestSlots } from './slots.js';
import { halve, runOffsets } from './split.js';
import { VERSION } from './version.js';

const gzip = promisify(gzipCallback);
const gunzip = promisify(gunzipCallback);
// Run JSON is repetitive (ids, keys, runtime info): the fastest level already shrinks a batch
// about 8×, at a third of the default level's CPU.
const GZIP_OPTIONS = { level: constants.Z_BEST_SPEED };

export type TransportMode = EncodingMode;
export type TransportCompression = 'gzip' | 'none';

/** What the transport needs from a fetch response (the global `Response` fits). */
export interface FetchResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** What the transport passes to fetch (the global `fetch` fits). */
export interface FetchRequest {
  method: 'POST';
  headers: Record<string, string>;
  body: Uint8Array;
  signal: AbortSignal;
}

export type FetchFunction = (url: string, init: FetchRequest) => Promise<FetchResponse>;

export interface RunTransportOptions<T> {
  /** Makes the run for an item; called in the background, never inside `enqueue`. May throw. */
  build: (item: T, target: Target) => Run;
  /** `multipart` (`POST /runs/multipart`, default) or `batch` (`POST /runs/batch`, JSON). */
  mode?: TransportMode;
  /**
   * Whole-request compression of multipart bodies (default `gzip`). LangSmith documents request
   * compression for `/runs/multipart` only, so `batch` bodies are always sent uncompressed.
   */
  compression?: TransportCompression;
  /** Runs per request (default 100, LangSmith's `size_limit`). */
  maxBatchRuns?: number;
  /** Uncompressed bytes per request (default 20 MiB; the server takes up to 24 MiB). */
  maxBatchBytes?: number;
  /** Items queued but not yet encoded, across all targets (default 10 000); beyond it new items are dropped (`queue-full`). */
  maxQueueRuns?: number;
  /**
   * Bytes of encoded bodies held while waiting, retrying or in flight (default 64 MiB); beyond it
   * the oldest waiting batch is dropped (`memory-budget`). Bodies in flight are not dropped, so
   * the bound can be passed by at most `maxTotalConcurrentRequests` bodies for a moment.
   */
  maxBufferBytes?: number;
  /** How long an item may wait before a partial batch is sent (default 1000 ms). */
  flushIntervalMillis?: number;
  /** Per request, response included (default 10 000 ms). */
  timeoutMillis?: number;
  /**
   * Retries after a 408/425/429/5xx, a network error or a timeout (default 3). A batch refused
   * with 413 is halved instead; its halves inherit the retries it had left.
   */
  maxRetries?: number;
  /** First backoff delay (default 500 ms); doubles per retry, with jitter. */
  retryBaseMillis?: number;
  /** Largest backoff delay, and cap on Retry-After (default 30 000 ms). */
  retryMaxMillis?: number;
  /** Requests in flight at once to one target (default 2). */
  maxConcurrentRequests?: number;
  /**
   * Requests in flight at once over all targets (default 8, or `maxConcurrentRequests` if larger;
   * never less than it). Targets whose last request timed out share at most half of these.
   */
  maxTotalConcurrentRequests?: number;
  /** Defaults to a keep-alive `node:http` client ({@link nodeFetch}); the global `fetch` also fits. */
  fetch?: FetchFunction;
  /** Problems worth a human's attention (scrubbed of credentials; rate-limited per target and reason). */
  onError?: (source: string, message: string) => void;
  /** One line per request and per retry (scrubbed of credentials). */
  debug?: (message: string) => void;
  userAgent?: string;
}

export const TRANSPORT_DEFAULTS = {
  mode: 'multipart',
  compression: 'gzip',
  maxBatchRuns: 100,
  maxBatchBytes: 20 * 1024 * 1024,
  maxQueueRuns: 10_000,
  maxBufferBytes: 64 * 1024 * 1024,
  flushIntervalMillis: 1000,
  timeoutMillis: 10_000,
  maxRetries: 3,
  retryBaseMillis: 500,
  retryMaxMillis: 30_000,
  maxConcurrentRequests: 2,
  maxTotalConcurrentRequests: 8,
  userAgent: `spanchain-langsmith/${VERSION}`,
} as const;

/** Default time `flush()` and `shutdown()` wait when given no deadline. */
export const DEFAULT_FLUSH_TIMEOUT_MILLIS = 30_000;
/** Of a shutdown's deadline, the time kept for aborting requests and dropping what is left. */
const STOP_RESERVE_MILLIS = 250;

/** Drop reasons the transport uses (HTTP failures add `http-<status>`). */
export type DropReason =
  | 'queue-full'
  | 'memory-budget'
  | 'build-error'
  | 'encode-error'
  | 'run-too-large'
  | 'invalid-target'
  | 'shutdown'
  | 'timeout'
  | 'network'
  | `http-${number}`;

export interface TransportStats extends PluginCounters {
  /** The replicas' runs (`target.replica`), counted apart from the totals above. */
  replicas: PluginCounters;
  /** Bytes of encoded bodies held now (waiting, retrying, in flight or being assembled). */
  bufferedBytes: number;
  /** Requests in flight now. */
  inFlight: number;
}

export interface TargetStats extends PluginCounters {
  endpoint: string;
  project: string;
  workspaceId?: string;
  /** First 12 hex digits of the API key's SHA-256: tells keys apart without revealing them. */
  keyId: string;
}

type Counters = { exported: number; queued: number; failed: number; dropped: Record<string, number> };

/** A target's queue and counters; its request-slot lane (`queue`, `active`, `slow`, `pausedUntil`) too. */
interface TargetState<T> extends Lane<Batch<T>> {
  key: TargetKey;
  target: Target;
  /** The endpoint as given (target.endpoint is trimmed), for the fast path in `stateFor`. */
  rawEndpoint: string;
  keyId: string;
  url: string;
  /** `url` without credentials, for messages. */
  shownUrl: string;
  /** Items not yet built. */
  items: T[];
  /** Runs built for the batch being filled. */
  open: EncodedRun[];
  openBytes: number;
  /** Batches of this target waiting or in flight. */
  batches: number;
  counters: Counters;
}

interface Batch<T> {
  seq: number;
  state: TargetState<T>;
  runs: number;
  body: Buffer;
  rawBytes: number;
  /** Where each run starts in the uncompressed body (see split.ts), to halve it after a 413. */
  offsets: number[];
  contentType: string;
  gzipped: boolean;
  attempts: number;
  notBefore: number;
}

type Outcome =
  | { ok: true; status: number }
  | { ok: false; reason: DropReason; retryable: boolean; retryAfterMillis?: number; detail: string };

interface SettleWaiter<T> {
  pending: Set<Batch<T>>;
  resolve: () => void;
}

// Encoding work per event-loop turn: whichever limit comes first.
const SLICE_RUNS = 32;
const SLICE_MILLIS = 8;
// Targets whose per-target counters are kept once idle (the totals are always complete).
const MAX_IDLE_TARGETS = 1000;
const MAX_REPORTED = 1000;
const MESSAGE_MAX = 200;
const RETRYABLE_4XX = new Set([408, 425, 429]);

const keyIds = new Map<string, string>();

/** The first 12 hex digits of sha256(apiKey), memoised (bounded). */
function keyIdOf(apiKey: string): string {
  let id = keyIds.get(apiKey);
  if (id === undefined) {
    if (keyIds.size >= 1024) keyIds.clear();
    id = createHash('sha256').update(apiKey).digest('hex').slice(0, 12);
    keyIds.set(apiKey, id);
  }
  return id;
}

function trimEndpoint(endpoint: string): string {
  let end = endpoint.length;
  while (end > 0 && endpoint.charCodeAt(end - 1) === 47 /* / */) end--;
  return endpoint.slice(0, end);
}

/**
 * The queue key of a target: endpoint, a hash of the API key (never the key itself), workspace and
 * project. Runs with different keys are never sent in the same request.
 *
 * @example targetKey({ endpoint: 'https://api.smith.langchain.com', apiKey, project: 'default' })
 */
export function targetKey(target: Target): TargetKey {
  const key = `${trimEndpoint(target.endpoint)}\n${keyIdOf(target.apiKey)}\n${target.workspaceId ?? ''}\n${target.project}`;
  // A replica of the primary destination itself is a destination of its own, counted apart.
  return target.replica === true ? `${key}\nreplica` : key;
}

/** An endpoint fit for stats and messages: any `user:password@` removed. */
function displayEndpoint(endpoint: string): string {
  return endpoint.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

function isTarget(value: unknown): value is Target {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Record<string, unknown>;
  return (
    typeof t.endpoint === 'string' &&
    t.endpoint !== '' &&
    typeof t.apiKey === 'string' &&
    typeof t.project === 'string' &&
    (t.workspaceId === undefined || typeof t.workspaceId === 'string')
  );
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // An HTTP date has a weekday and month name; V8's Date.parse would also take "-1" or "7x".
  if (!/^[A-Za-z]{3}, /.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Exponential backoff with jitter: between half and all of min(max, base·2^(retry−1)). */
export function backoffMillis(retry: number, baseMillis: number, maxMillis: number): number {
  const ceiling = Math.min(maxMillis, baseMillis * 2 ** Math.max(0, retry - 1));
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const code = (cause as { code?: unknown } | undefined)?.code;
    const inner = cause instanceof Error ? cause.message : undefined;
    return [
      error.message,
      typeof code === 'string' ? code : undefined,
      inner !== error.message ? inner : undefined,
    ]
      .filter((s): s is string => typeof s === 'string' && s !== '')
      .join(': ');
  }
  return String(error);
}

/** The gist of an error response: LangSmith answers `{"error": "...", "details": "..."}`. */
function responseMessage(text: string): string {
  let message = text;
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    if (parsed !== null && typeof parsed === 'object') {
      const fields = ['error', 'message', 'detail', 'details']
        .map((k) => parsed[k])
        .map((v) => (typeof v === 'string' ? v : v === undefined ? undefined : JSON.stringify(v)))
        .filter((v): v is string => v !== undefined && v !== '');
      if (fields.length > 0) message = fields.join(': ');
    }
  } catch {
    // not JSON: use the text as is
  }
  return message.replace(/\s+/g, ' ').trim();
}

function truncate(text: string, max = MESSAGE_MAX): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new RangeError(`RunTransport: ${name} must be a number ≥ ${min}, got ${String(value)}`);
  }
  return Math.floor(value);
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Sends runs to LangSmith in the background, batched per target.
 *
 * @example
 * const transport = new RunTransport<Step>({ build: (step, target) => toRun(step, target) });
 * transport.enqueue({ endpoint, apiKey, project: 'my-project' }, step);
 * await transport.shutdown(Date.now() + 5000);
 */
export class RunTransport<T> {
  private readonly build: (item: T, target: Target) => Run;
  private readonly mode: TransportMode;
  private readonly gzip: boolean;
  private readonly maxBatchRuns: number;
  private readonly maxBatchBytes: number;
  private readonly maxQueueRuns: number;
  private readonly maxBufferBytes: number;
  private readonly flushIntervalMillis: number;
  private readonly timeoutMillis: number;
  private readonly maxRetries: number;
  private readonly retryBaseMillis: number;
  private readonly retryMaxMillis: number;
  private readonly fetchFn: FetchFunction;
  private readonly onError?: (source: string, message: string) => void;
  private readonly debugFn?: (message: string) => void;
  private readonly userAgent: string;
  private readonly path: string;

  private readonly targets = new Map<TargetKey, TargetState<T>>();
  private lastState: TargetState<T> | undefined;
  /** Sealed batches waiting for a request slot, per target. */
  private readonly slots: RequestSlots<Batch<T>>;
  private readonly inFlight = new Set<Promise<void>>();
  /** Batches waiting or in flight. */
  private readonly alive = new Set<Batch<T>>();
  private readonly settleWaiters = new Set<SettleWaiter<T>>();
  private readonly reported = new Set<string>();
  /** Requests in flight, aborted by shutdown. */
  private readonly controllers = new Set<AbortController>();

  /** Runs of primary targets: each step's run counted once. */
  private readonly totals: Counters = { exported: 0, queued: 0, failed: 0, dropped: {} };
  /** Runs of replica targets (`target.replica`), counted apart. */
  private readonly replicaTotals: Counters = { exported: 0, queued: 0, failed: 0, dropped: {} };
  /** Items queued and not yet built (what maxQueueRuns bounds). */
  private unbuilt = 0;
  private bufferedBytes = 0;
  private seq = 0;

  private flushTimer: NodeJS.Timeout | undefined;
  private immediatePending = false;
  private drainPromise: Promise<void> | undefined;
  private drainRequested = false;
  private closing = false;
  private stopped = false;
  private shutdownPromise: Promise<boolean> | undefined;

  constructor(options: RunTransportOptions<T>) {
    if (typeof options?.build !== 'function') throw new TypeError('RunTransport: `build` must be a function');
    const d = TRANSPORT_DEFAULTS;
    this.build = options.build;
    this.mode = options.mode ?? d.mode;
    if (this.mode !== 'multipart' && this.mode !== 'batch') {
      throw new RangeError(`RunTransport: mode must be 'multipart' or 'batch', got ${String(this.mode)}`);
    }
    const compression = options.compression ?? d.compression;
    if (compression !== 'gzip' && compression !== 'none') {
      throw new RangeError(`RunTransport: compression must be 'gzip' or 'none', got ${String(compression)}`);
    }
    this.gzip = compression === 'gzip' && this.mode === 'multipart';
    this.maxBatchRuns = positive('maxBatchRuns', options.maxBatchRuns, d.maxBatchRuns);
    this.maxBufferBytes = positive('maxBufferBytes', options.maxBufferBytes, d.maxBufferBytes);
    // A batch larger than the whole budget could never be held.
    this.maxBatchBytes = Math.min(
      positive('maxBatchBytes', options.maxBatchBytes, d.maxBatchBytes),
      this.maxBufferBytes,
    );
    this.maxQueueRuns = positive('maxQueueRuns', options.maxQueueRuns, d.maxQueueRuns);
    this.flushIntervalMillis = positive(
      'flushIntervalMillis',
      options.flushIntervalMillis,
      d.flushIntervalMillis,
    );
    this.timeoutMillis = positive('timeoutMillis', options.timeoutMillis, d.timeoutMillis);
    this.maxRetries = positive('maxRetries', options.maxRetries, d.maxRetries, 0);
    this.retryBaseMillis = positive('retryBaseMillis', options.retryBaseMillis, d.retryBaseMillis, 0);
    this.retryMaxMillis = positive('retryMaxMillis', options.retryMaxMillis, d.retryMaxMillis, 0);
    const perTarget = positive(
      'maxConcurrentRequests',
      options.maxConcurrentRequests,
      d.maxConcurrentRequests,
    );
    const total = positive(
      'maxTotalConcurrentRequests',
      options.maxTotalConcurrentRequests,
      Math.max(d.maxTotalConcurrentRequests, perTarget),
    );
    if (total < perTarget) {
      throw new RangeError(
        `RunTransport: maxTotalConcurrentRequests (${total}) must be at least maxConcurrentRequests (${perTarget})`,
      );
    }
    this.slots = new RequestSlots<Batch<T>>({
      perLane: perTarget,
      total,
      start: (batch) => this.startSend(batch),
    });
    const fetchFn = options.fetch ?? nodeFetch;
    if (typeof fetchFn !== 'function') throw new TypeError('RunTransport: `fetch` must be a function');
    this.fetchFn = fetchFn;
    this.onError = options.onError;
    this.debugFn = options.debug;
    this.userAgent = options.userAgent ?? d.userAgent;
    this.path = pathFor(this.mode);
  }

  /**
   * Queues an item for `target`. Returns false when it was dropped (queue full, shut down, or an
   * unusable target). Never throws, does no I/O and no serialisation.
   */
  enqueue(target: Target, item: T): boolean {
    try {
      if (this.closing) return this.dropItem(undefined, 'shutdown', target?.replica === true);
      if (!isTarget(target)) {
        this.dropItem(undefined, 'invalid-target');
        this.report(
          undefined,
          'export',
          'invalid-target',
          'item dropped: its target lacks an endpoint, apiKey or project',
        );
        return false;
      }
      if (this.unbuilt >= this.maxQueueRuns)
        return this.dropItem(this.stateFor(target, false), 'queue-full', target.replica === true);
      const state = this.stateFor(target, true)!;
      state.items.push(item);
      state.counters.queued++;
      this.totalsOf(state).queued++;
      this.unbuilt++;
      if (state.items.length >= this.maxBatchRuns) this.scheduleImmediateDrain();
      else this.scheduleFlushTimer();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sends everything queued now and waits until those runs are exported or dropped, or until
   * `deadline` (epoch ms; default 30 s from now). Resolves true when everything settled in time.
   * Never rejects.
   */
  async flush(deadline: number = Date.now() + DEFAULT_FLUSH_TIMEOUT_MILLIS): Promise<boolean> {
    try {
      if (this.stopped) return this.alive.size === 0 && this.unbuilt === 0;
      const drained = await this.beforeDeadline(this.requestDrain(), deadline);
      if (!drained) return false;
      if (this.alive.size === 0) return true;
      const waiter: SettleWaiter<T> = { pending: new Set(this.alive), resolve: () => {} };
      const settled = new Promise<void>((resolve) => {
        waiter.resolve = resolve;
      });
      this.settleWaiters.add(waiter);
      try {
        return await this.beforeDeadline(settled, deadline);
      } finally {
        this.settleWaiters.delete(waiter);
      }
    } catch {
      return false;
    }
  }

  /**
   * Flushes (bounded by `deadline`, epoch ms), then stops: requests still in flight are aborted,
   * whatever is left is dropped (`shutdown`), timers are cleared and later enqueues are dropped.
   * Idempotent. Resolves true when everything was delivered or dropped for other reasons in time.
   */
  shutdown(deadline: number = Date.now() + DEFAULT_FLUSH_TIMEOUT_MILLIS): Promise<boolean> {
    if (this.shutdownPromise) return this.shutdownPromise;
    this.closing = true;
    this.shutdownPromise = (async () => {
      // Keep a little of the caller's time for stopping, so shutdown settles within the deadline.
      const reserve = Math.min(STOP_RESERVE_MILLIS, Math.max(0, (deadline - Date.now()) / 4));
      const ok = await this.flush(deadline - reserve);
      await this.stop(deadline);
      return ok;
    })().catch(() => false);
    return this.shutdownPromise;
  }

  /**
   * Totals of the primary targets' runs, in the shape of core's `PluginCounters` (a run per item),
   * the replicas' apart, plus the bytes held and requests in flight.
   */
  stats(): TransportStats {
    return {
      exported: this.totals.exported,
      queued: this.totals.queued,
      dropped: { ...this.totals.dropped },
      failed: this.totals.failed,
      replicas: {
        exported: this.replicaTotals.exported,
        queued: this.replicaTotals.queued,
        dropped: { ...this.replicaTotals.dropped },
        failed: this.replicaTotals.failed,
      },
      bufferedBytes: this.bufferedBytes,
      inFlight: this.slots.active,
    };
  }

  /** Counters per target (active targets and up to 1000 idle ones). */
  targetStats(): TargetStats[] {
    return [...this.targets.values()].map((s) => ({
      endpoint: displayEndpoint(s.target.endpoint),
      project: s.target.project,
      ...(s.target.workspaceId !== undefined && { workspaceId: s.target.workspaceId }),
      keyId: s.keyId,
      exported: s.counters.exported,
      queued: s.counters.queued,
      failed: s.counters.failed,
      dropped: { ...s.counters.dropped },
    }));
  }

  // -- queueing ----------------------------------------------------------------------------------

  private stateFor(target: Target, create: boolean): TargetState<T> | undefined {
    // Consecutive items usually share a target: comparing four strings is much cheaper than
    // building the key string and hashing it for the map.
    const last = this.lastState;
    if (
      last !== undefined &&
      last.rawEndpoint === target.endpoint &&
      last.target.apiKey === target.apiKey &&
      last.target.project === target.project &&
      last.target.workspaceId === target.workspaceId &&
      last.target.replica === target.replica
    ) {
      return last;
    }
    const key = targetKey(target);
    let state = this.targets.get(key);
    if (state === undefined) {
      if (!create) return undefined;
      const endpoint = trimEndpoint(target.endpoint);
      state = {
        key,
        // A copy: the caller may reuse or change its object; the key was computed from these values.
        target: {
          endpoint,
          apiKey: target.apiKey,
          project: target.project,
          ...(target.workspaceId !== undefined && { workspaceId: target.workspaceId }),
          ...(target.replica === true && { replica: true }),
        },
        rawEndpoint: target.endpoint,
        keyId: keyIdOf(target.apiKey),
        url: endpoint + this.path,
        shownUrl: displayEndpoint(endpoint) + this.path,
        items: [],
        open: [],
        openBytes: 0,
        queue: [],
        active: 0,
        pausedUntil: 0,
        slow: false,
        batches: 0,
        counters: { exported: 0, queued: 0, failed: 0, dropped: {} },
      };
      this.targets.set(key, state);
    }
    this.lastState = state;
    return state;
  }

  /** Counts an item that never entered the queue. Returns false (for enqueue). */
  private dropItem(
    state: TargetState<T> | undefined,
    reason: DropReason,
    replica = state?.target.replica === true,
  ): false {
    const totals = replica ? this.replicaTotals : this.totals;
    totals.dropped[reason] = (totals.dropped[reason] ?? 0) + 1;
    if (state) state.counters.dropped[reason] = (state.counters.dropped[reason] ?? 0) + 1;
    return false;
  }

  /** Where a target's runs are counted: the totals, or the replicas' totals. */
  private totalsOf(state: TargetState<T>): Counters {
    return state.target.replica === true ? this.replicaTotals : this.totals;
  }

  /** Settles `count` queued runs of a target as exported (reason undefined) or dropped. */
  private settle(state: TargetState<T>, count: number, reason?: DropReason): void {
    if (count <= 0) return;
    const totals = this.totalsOf(state);
    totals.queued -= count;
    state.counters.queued -= count;
    if (reason === undefined) {
      totals.exported += count;
      state.counters.exported += count;
    } else {
      totals.dropped[reason] = (totals.dropped[reason] ?? 0) + count;
      state.counters.dropped[reason] = (state.counters.dropped[reason] ?? 0) + count;
    }
  }

  private scheduleFlushTimer(): void {
    if (this.flushTimer !== undefined || this.stopped) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.requestDrain();
    }, this.flushIntervalMillis);
    this.flushTimer.unref();
  }

  private scheduleImmediateDrain(): void {
    if (this.immediatePending || this.stopped) return;
    this.immediatePending = true;
    setImmediate(() => {
      this.immediatePending = false;
      void this.requestDrain();
    }).unref();
  }

  // -- building and batching ---------------------------------------------------------------------

  /** Starts a drain, or asks the running one to go round once more; resolves when it is done. */
  private requestDrain(): Promise<void> {
    this.drainRequested = true;
    if (this.drainPromise === undefined) {
      this.drainPromise = this.runDrain().finally(() => {
        this.drainPromise = undefined;
      });
    }
    return this.drainPromise;
  }

  private async runDrain(): Promise<void> {
    while (this.drainRequested && !this.stopped) {
      this.drainRequested = false;
      try {
        await this.drainOnce();
      } catch (error) {
        this.report(undefined, 'export', 'drain', `unexpected error while batching: ${errorText(error)}`);
      }
    }
  }

  private async drainOnce(): Promise<void> {
    for (const state of [...this.targets.values()]) {
      if (state.items.length === 0) continue;
      const items: (T | undefined)[] = state.items;
      state.items = [];
      let index = 0;
      while (index < items.length) {
        if (this.stopped) {
          this.unbuilt -= items.length - index;
          this.settle(state, items.length - index + state.open.length, 'shutdown');
          this.bufferedBytes -= state.openBytes;
          state.open = [];
          state.openBytes = 0;
          return;
        }
        const sliceStart = performance.now();
        for (let n = 0; n < SLICE_RUNS && index < items.length; n++) {
          const item = items[index] as T;
          items[index] = undefined; // let the item go as soon as its run is encoded
          index++;
          this.unbuilt--;
          const encoded = this.encodeItem(state, item);
          if (encoded === undefined) continue;
          if (
            state.open.length > 0 &&
            state.openBytes + encoded.size + bodyOverhead(this.mode) > this.maxBatchBytes
          ) {
            await this.seal(state);
          }
          state.open.push(encoded);
          state.openBytes += encoded.size;
          this.bufferedBytes += encoded.size;
          if (state.open.length >= this.maxBatchRuns) await this.seal(state);
          if (performance.now() - sliceStart > SLICE_MILLIS) break;
        }
        this.enforceBudget();
        await nextTurn();
      }
      if (state.open.length > 0) await this.seal(state);
    }
    this.pruneIdleTargets();
  }

  /** Builds and encodes one item; undefined when it had to be dropped (already counted). */
  private encodeItem(state: TargetState<T>, item: T): EncodedRun | undefined {
    let run: Run;
    try {
      run = this.build(item, state.target);
      if (typeof run !== 'object' || run === null) throw new TypeError('build returned no run');
    } catch (error) {
      this.settle(state, 1, 'build-error');
      this.report(state, 'build', 'build-error', `could not make a run: ${errorText(error)}`);
      return undefined;
    }
    // The project is part of the target: a run always lands in the project its batch is for.
    if (run.session_name !== state.target.project) run = { ...run, session_name: state.target.project };
    let encoded: EncodedRun;
    try {
      encoded = encodeRun(run, this.mode);
    } catch (error) {
      this.settle(state, 1, 'encode-error');
      this.report(
        state,
        'encode',
        'encode-error',
        `could not encode run ${String(run.id)}: ${errorText(error)}`,
      );
      return undefined;
    }
    if (encoded.size + bodyOverhead(this.mode) > this.maxBatchBytes) {
      this.settle(state, 1, 'run-too-large');
      this.report(
        state,
        'encode',
        'run-too-large',
        `run ${encoded.id} dropped: ${encoded.size} bytes encoded, over maxBatchBytes (${this.maxBatchBytes})`,
      );
      return undefined;
    }
    return encoded;
  }

  /** Turns the target's open runs into a batch body and puts it in line for sending. */
  private async seal(state: TargetState<T>): Promise<void> {
    const runs = state.open;
    const count = runs.length;
    const rawBytes = state.openBytes;
    state.open = [];
    state.openBytes = 0;
    if (count === 0) return;
    let body: Buffer;
    let contentType: string;
    let held = rawBytes; // bytes of this batch counted in bufferedBytes so far
    let offsets: number[];
    try {
      offsets = runOffsets(runs, this.mode);
      const encoded = this.mode === 'multipart' ? multipartBody(runs) : batchBody(runs);
      runs.length = 0; // the parts now live in the body
      body = encoded.body;
      contentType = encoded.contentType;
      this.bufferedBytes += body.length - held;
      held = body.length;
      if (this.gzip) {
        const compressed = await gzip(body, GZIP_OPTIONS);
        this.bufferedBytes += compressed.length - held;
        held = compressed.length;
        body = compressed;
      }
    } catch (error) {
      this.bufferedBytes -= held;
      this.settle(state, count, 'encode-error');
      this.report(state, 'encode', 'encode-error', `could not assemble a request body: ${errorText(error)}`);
      return;
    }
    if (this.stopped) {
      this.bufferedBytes -= held;
      this.settle(state, count, 'shutdown');
      return;
    }
    const batch: Batch<T> = {
      seq: ++this.seq,
      state,
      runs: count,
      body,
      rawBytes,
      offsets,
      contentType,
      gzipped: this.gzip,
      attempts: 0,
      notBefore: 0,
    };
    this.alive.add(batch);
    state.batches++;
    this.slots.add(batch);
    this.enforceBudget();
  }

  /** Drops the oldest waiting batches while the bytes held exceed the budget. */
  private enforceBudget(): void {
    while (this.bufferedBytes > this.maxBufferBytes) {
      const oldest = this.slots.takeOldest();
      if (oldest === undefined) return;
      this.finish(oldest, 'memory-budget');
      this.report(
        oldest.state,
        'export',
        'memory-budget',
        `${oldest.runs} run(s) dropped: more than maxBufferBytes (${this.maxBufferBytes}) waiting to be sent`,
      );
    }
  }

  /** Releases a batch that left the pipeline: exported (no reason) or dropped. */
  private finish(batch: Batch<T>, reason?: DropReason): void {
    if (!this.alive.delete(batch)) return;
    this.bufferedBytes -= batch.body.length;
    batch.state.batches--;
    this.settle(batch.state, batch.runs, reason);
    batch.body = EMPTY;
    batch.offsets = [];
    for (const waiter of this.settleWaiters) {
      if (waiter.pending.delete(batch) && waiter.pending.size === 0) waiter.resolve();
    }
  }

  /** Forgets the counters of idle targets beyond MAX_IDLE_TARGETS (oldest first). */
  private pruneIdleTargets(): void {
    let excess = this.targets.size - MAX_IDLE_TARGETS;
    if (excess <= 0) return;
    for (const [key, state] of this.targets) {
      if (excess <= 0) break;
      if (state.items.length === 0 && state.open.length === 0 && state.batches === 0) {
        this.targets.delete(key);
        if (this.lastState === state) this.lastState = undefined;
        excess--;
      }
    }
  }

  // -- sending -----------------------------------------------------------------------------------

  /** Sends a batch that got a request slot, and frees the slot once the attempt has settled. */
  private startSend(batch: Batch<T>): void {
    const state = batch.state;
    let timedOut = false;
    const sending = this.send(batch)
      .then((slow) => {
        timedOut = slow;
      })
      .catch((error: unknown) => {
        // send() handles its own failures; this is a bug guard so a batch is never stranded.
        this.finish(batch, 'network');
        this.report(state, 'export', 'internal', `unexpected error while sending: ${errorText(error)}`);
      })
      .finally(() => {
        this.inFlight.delete(sending);
        this.slots.done(state, timedOut);
      });
    this.inFlight.add(sending);
  }

  /** One attempt and what follows from it. Resolves true when the attempt got no answer in time. */
  private async send(batch: Batch<T>): Promise<boolean> {
    const state = batch.state;
    const target = state.target;
    batch.attempts++;
    const started = Date.now();
    const outcome = await this.post(batch);
    const elapsed = Date.now() - started;
    const what = `${batch.runs} run(s), ${batch.rawBytes} bytes${batch.gzipped ? ` (gzip ${batch.body.length})` : ''}`;
    const where = `${state.shownUrl} project "${target.project}"`;
    if (outcome.ok) {
      this.finish(batch);
      this.clearReports(state);
      this.debug(state, `POST ${where}: ${what}: ${outcome.status} in ${elapsed} ms`);
      return false;
    }
    if (this.stopped || outcome.reason === 'shutdown') {
      this.finish(batch, 'shutdown');
      return false;
    }
    this.totalsOf(state).failed++;
    state.counters.failed++;
    const timedOut = outcome.reason === 'timeout';
    if (outcome.reason === 'http-413' && batch.runs > 1) {
      this.debug(state, `POST ${where}: ${what}: ${outcome.detail} after ${elapsed} ms; split in two`);
      await this.split(batch, outcome.retryAfterMillis);
      return false;
    }
    if (outcome.retryable && batch.attempts <= this.maxRetries) {
      const delay =
        outcome.retryAfterMillis !== undefined
          ? this.pauseTarget(state, outcome.retryAfterMillis)
          : backoffMillis(batch.attempts, this.retryBaseMillis, this.retryMaxMillis);
      batch.notBefore = Date.now() + delay;
      this.slots.add(batch);
      this.debug(
        state,
        `POST ${where}: ${what}: ${outcome.detail} after ${elapsed} ms; retry ${batch.attempts}/${this.maxRetries} in ${Math.round(delay)} ms`,
      );
      this.enforceBudget();
      return timedOut;
    }
    this.finish(batch, outcome.reason);
    this.debug(
      state,
      `POST ${where}: ${what}: ${outcome.detail} after ${elapsed} ms; dropped (${outcome.reason})`,
    );
    const tries = batch.attempts > 1 ? ` after ${batch.attempts} attempts` : '';
    this.report(
      state,
      'export',
      outcome.reason,
      `${batch.runs} run(s) for project "${target.project}" at ${state.shownUrl} dropped${tries}: ${outcome.detail}`,
    );
    return timedOut;
  }

  /** A Retry-After (capped at retryMaxMillis) holds all of the target's batches. Returns the delay. */
  private pauseTarget(state: TargetState<T>, retryAfterMillis: number): number {
    const delay = Math.min(retryAfterMillis, this.retryMaxMillis);
    state.pausedUntil = Math.max(state.pausedUntil, Date.now() + delay);
    return delay;
  }

  /**
   * Replaces a batch refused as too large (413) by its two halves, in its place in line and in
   * any flush waiting for it. They keep the retries it had left (the 413 is not one); a half of
   * one run that is refused again is dropped as `http-413`.
   */
  private async split(batch: Batch<T>, retryAfterMillis: number | undefined): Promise<void> {
    const state = batch.state;
    const notBefore =
      retryAfterMillis === undefined ? 0 : Date.now() + this.pauseTarget(state, retryAfterMillis);
    let parts: Batch<T>[] = [];
    let held = 0; // bytes counted in bufferedBytes while splitting
    const hold = (bytes: number) => {
      held += bytes;
      this.bufferedBytes += bytes;
    };
    try {
      const raw = batch.gzipped ? await gunzip(batch.body) : batch.body;
      if (raw !== batch.body) hold(raw.length);
      for (const half of halve(raw, batch.offsets, this.mode, batch.contentType)) {
        hold(half.body.length);
        const body = batch.gzipped ? await gzip(half.body, GZIP_OPTIONS) : half.body;
        if (body !== half.body) hold(body.length);
        const { runs, offsets } = half;
        parts.push({
          ...batch,
          runs,
          body,
          rawBytes: half.body.length,
          offsets,
          attempts: batch.attempts - 1,
          notBefore,
        });
      }
    } catch (error) {
      parts = [];
      this.finish(batch, 'http-413');
      this.report(
        state,
        'export',
        'http-413',
        `${batch.runs} run(s) dropped: could not split a batch refused as too large: ${errorText(error)}`,
      );
    } finally {
      this.bufferedBytes -= held;
    }
    if (parts.length === 0 || !this.alive.has(batch)) return;
    if (this.stopped) {
      this.finish(batch, 'shutdown');
      return;
    }
    this.alive.delete(batch);
    this.bufferedBytes -= batch.body.length;
    batch.body = EMPTY;
    batch.offsets = [];
    state.batches += parts.length - 1;
    for (const part of parts) {
      this.alive.add(part);
      this.bufferedBytes += part.body.length;
    }
    for (const waiter of this.settleWaiters) {
      if (waiter.pending.delete(batch)) for (const part of parts) waiter.pending.add(part);
    }
    for (const part of parts) this.slots.add(part);
    this.enforceBudget();
  }

  /** One HTTP attempt. Never throws. */
  private async post(batch: Batch<T>): Promise<Outcome> {
    const target = batch.state.target;
    const headers: Record<string, string> = {
      'content-type': batch.contentType,
      accept: 'application/json',
      'user-agent': this.userAgent,
      'x-api-key': target.apiKey,
    };
    if (target.workspaceId !== undefined && target.workspaceId !== '')
      headers['x-tenant-id'] = target.workspaceId;
    if (batch.gzipped) headers['content-encoding'] = 'gzip';
    // One controller per request, aborted by its timer or by shutdown (AbortSignal.any with a
    // long-lived signal leaks on some Node 20 releases).
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMillis);
    timer.unref();
    this.controllers.add(controller);
    try {
      const response = await this.fetchFn(batch.state.url, {
        method: 'POST',
        headers,
        body: batch.body,
        signal: controller.signal,
      });
      const status = response.status;
      // Reading the body (small JSON) frees the connection for reuse; the signal bounds it.
      const text = await response.text().catch(() => '');
      if (status >= 200 && status < 300) return { ok: true, status };
      const message = truncate(responseMessage(text));
      return {
        ok: false,
        reason: `http-${status}`,
        retryable: status >= 500 || RETRYABLE_4XX.has(status),
        retryAfterMillis: parseRetryAfter(response.headers.get('retry-after')),
        detail: `HTTP ${status}${message === '' ? '' : ` ${message}`}`,
      };
    } catch (error) {
      if (this.stopped)
        return { ok: false, reason: 'shutdown', retryable: false, detail: 'aborted by shutdown' };
      if (timedOut) {
        return {
          ok: false,
          reason: 'timeout',
          retryable: true,
          detail: `no answer within ${this.timeoutMillis} ms`,
        };
      }
      return { ok: false, reason: 'network', retryable: true, detail: truncate(errorText(error)) };
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
    }
  }

  // -- stopping ----------------------------------------------------------------------------------

  private async stop(deadline: number): Promise<void> {
    this.stopped = true;
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const controller of this.controllers) controller.abort();
    for (const state of this.targets.values()) {
      this.unbuilt -= state.items.length;
      this.settle(state, state.items.length, 'shutdown');
      state.items = [];
    }
    for (const batch of this.slots.close()) this.finish(batch, 'shutdown');
    // Aborted requests settle within a few ticks; wait for them (briefly) so stats are final.
    if (this.inFlight.size > 0)
      await this.beforeDeadline(
        Promise.allSettled([...this.inFlight]),
        Math.min(deadline, Date.now() + 1000),
      );
    // A drain still running notices `stopped` at its next slice and drops what it holds.
    if (this.drainPromise !== undefined)
      await this.beforeDeadline(this.drainPromise, Math.min(deadline, Date.now() + 1000));
  }

  /** Resolves true if `promise` settles before `deadline` (epoch ms), false otherwise. */
  private beforeDeadline(promise: Promise<unknown>, deadline: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      timer.unref();
      promise.then(
        () => {
          clearTimeout(timer);
          resolve(true);
        },
        () => {
          clearTimeout(timer);
          resolve(true);
        },
      );
    });
  }

  // -- reporting ---------------------------------------------------------------------------------

  /** Removes the target's API key and anything credential-like from a message. */
  private scrub(state: TargetState<T> | undefined, message: string): string {
    let out = message;
    const key = state?.target.apiKey;
    if (key !== undefined && key.length >= 4 && out.includes(key)) out = out.split(key).join('[REDACTED]');
    return scrubSecrets(out);
  }

  /** Reports once per target and reason until the target's next successful export. */
  private report(state: TargetState<T> | undefined, source: string, reason: string, message: string): void {
    if (this.onError === undefined) return;
    const id = `${state?.key ?? ''}\n${reason}`;
    if (this.reported.has(id)) return;
    if (this.reported.size >= MAX_REPORTED) this.reported.clear();
    this.reported.add(id);
    try {
      this.onError(source, `LangSmith: ${this.scrub(state, message)}`);
    } catch {
      // a failing error callback must not break delivery
    }
  }

  private clearReports(state: TargetState<T>): void {
    if (this.reported.size === 0) return;
    const prefix = `${state.key}\n`;
    for (const id of this.reported) if (id.startsWith(prefix)) this.reported.delete(id);
  }

  private debug(state: TargetState<T> | undefined, message: string): void {
    if (this.debugFn === undefined) return;
    try {
      this.debugFn(`LangSmith: ${this.scrub(state, message)}`);
    } catch {
      // as above
    }
  }
}

const EMPTY = Buffer.alloc(0);
