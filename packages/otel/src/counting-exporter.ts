/**
 * Between a pipeline's batch processor and its exporter: counts what is delivered and lost,
 * bounds how many exports run at once, splits a batch a backend found too large, and sends again
 * later a batch that failed for a passing reason, so that an outage shorter than the retries
 * loses nothing that fits in the queue.
 */
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { type DeliveryResult, isTransient } from './exporters.js';
import type { ExportCounters } from './routing.js';

/** Hears about every settled export: how many spans, whether they were delivered, and why not. */
export type ExportObserver = (count: number, ok: boolean, error: unknown) => void;

/**
 * Exports one pipeline runs at once; more wait here. The batch processor hands every queued batch
 * to the exporter at once on `forceFlush()` and `shutdown()`, and the SDK's OTLP exporters refuse
 * more than 30 concurrent exports ('Concurrent export limit reached'): with more than 30 batches
 * queued (15,360 spans at the default batch size, 1,500 at 50), the rest would be lost.
 */
export const MAX_CONCURRENT_EXPORTS = 8;

/**
 * Exports all pipelines of a plugin run at once. Pipelines evicted and made again as teams take
 * turns each flush at once: without a bound, a burst of teams opened hundreds of connections to
 * one collector. A pipeline's own bound (8) keeps one team whose collector hangs from taking them all.
 */
export const MAX_PLUGIN_EXPORTS = 32;

/** Backoff before the first retry of a batch, ms; it doubles with each retry. */
export const RETRY_INITIAL_MILLIS = 1_000;
/** Longest backoff between two retries of a batch, ms. */
export const RETRY_MAX_MILLIS = 30_000;
/** Least time between two early sends of a held batch while spans are being dropped (`probe`). */
export const PROBE_INTERVAL_MILLIS = 1_000;

/** A bounded number of slots; who asks when none is free waits its turn (first come, first served). */
export class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  /** Calls `start` once a slot is free; the caller must `release()` it when done. */
  acquire(start: () => void): void {
    if (this.active < this.limit) {
      this.active++;
      start();
    } else this.waiting.push(start);
  }

  release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.active--;
    else next();
  }
}

/**
 * Spans one pipeline holds that no request has taken: in its processor's queue, or waiting for a
 * request or a retry. Bounded by `batch.maxQueueSize`; the requests in flight are bounded apart,
 * by the export slots. A request taking a batch makes room at once, so that a pipeline draining
 * after an outage takes new spans while it sends the old ones.
 */
export interface Tally {
  holding: number;
}

export interface CountingOptions {
  counters: ExportCounters;
  /** The plugin's export slots, shared by its pipelines. */
  shared: Slots;
  tally: Tally;
  observe: ExportObserver;
  /** Longest an export may take before it is counted as failed (the exporter never called back). */
  timeoutMillis: number;
  /** Retries of a batch that failed for a passing reason. */
  maxRetries: number;
}

const GUARD_TIMEOUT = 'export timed out';

/** An HTTP 413 from the SDK's transport (`OTLPExporterError.code`): the request was too large. */
function isTooLarge(result: DeliveryResult): boolean {
  return (
    result.code !== ExportResultCode.SUCCESS && (result.error as { code?: unknown } | undefined)?.code === 413
  );
}

/**
 * Wraps a pipeline's exporter; the spans pass through unchanged. Takes each batch off the batch
 * processor at once (the processor does not wait for the request) and sends it when one of the
 * pipeline's and the plugin's export slots is free. Counts what it delivers and loses. Knows which exports are still running: the SDK's batch processor does not wait for its
 * current export on `forceFlush()`, and an export that encodes before sending has not reached the
 * SDK's transport yet, so flush and shutdown wait for them here. A batch answered 413 is sent again
 * in halves, down to single spans; spans an OTLP partial success rejected are counted as dropped.
 * A batch that failed for a passing reason is held and sent again after a backoff (its spans count
 * as queued meanwhile, against the pipeline's queue bound), or at once when another export
 * succeeds; while a flush or shutdown runs, held batches are sent at once and a failure is final.
 */
export class CountingExporter implements SpanExporter {
  private readonly running = new Set<Promise<void>>();
  private readonly slots = new Slots(MAX_CONCURRENT_EXPORTS);
  /** Batches waiting for a retry: each one's "send it now". */
  private readonly held = new Set<(early?: boolean) => void>();
  /** Flushes running; while one runs (and after shutdown), failures are final. */
  private hurrying = 0;
  /**
   * False from a passing failure until the next success. Meanwhile one request at a time goes
   * (the others wait, counted as queued): a backend that is away must not end up with every slot
   * in the exporter's own retry backoff, which would keep the pipeline stuck for seconds after it
   * came back.
   */
  private healthy = true;
  /** Sends past the gate below, not yet ended (waiting for a slot or in flight). */
  private admitted = 0;
  /** Sends waiting at the gate while the backend is away. */
  private readonly parked: Array<() => void> = [];
  /** An early try (`probe`) is in flight. */
  private probing = false;
  /** When a request last succeeded (performance.now()). */
  private answeredAt = Number.NEGATIVE_INFINITY;
  /** When `probe()` last sent a held batch early (ms). */
  private lastProbe = 0;
  private closed = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly options: CountingOptions,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    let finished!: () => void;
    const running = new Promise<void>((resolve) => {
      finished = resolve;
    });
    this.running.add(running);
    this.send(spans, 0, () => {
      this.running.delete(running);
      finished();
    });
    // The batch is this exporter's care from now on: its spans stay counted as queued (against
    // the queue bound) until a request takes them. The processor goes on at once, so that one
    // request stuck in the exporter's own retries does not keep the rest of the queue waiting.
    resultCallback({ code: ExportResultCode.SUCCESS });
  }

  /**
   * Sends `spans` when an export slot is free; a 413 splits them, a passing failure holds them for
   * a retry. Calls `settled` once, when every span is delivered or dropped (and counted).
   */
  private send(spans: ReadableSpan[], retries: number, settled: () => void, early = false): void {
    const start = () => {
      const startedAt = performance.now();
      this.attempt(spans, (result) => {
        this.admitted--;
        if (early) this.probing = false;
        if (result.code === ExportResultCode.SUCCESS) {
          this.healthy = true;
          this.answeredAt = performance.now();
        } else if (isTransient(result.error) && startedAt > this.answeredAt) {
          // A request sent before the backend last answered says nothing new about it.
          this.healthy = false;
        }
        this.unpark();
        if (isTooLarge(result) && spans.length > 1) {
          // Too large for the backend: each half on its own, until a part fits or is one span.
          this.requeue(spans.length);
          const half = Math.ceil(spans.length / 2);
          let left = 2;
          const part = () => {
            if (--left === 0) settled();
          };
          this.send(spans.slice(0, half), retries, part);
          this.send(spans.slice(half), retries, part);
          return;
        }
        if (this.mayRetry(result, retries)) {
          this.options.counters.failedRequests++;
          this.requeue(spans.length);
          this.hold(spans, retries, settled);
          return;
        }
        this.count(spans.length, result);
        // The backend answers again: what waits for a retry goes now, not after its backoff
        // (held spans fill the queue bound, and new spans would be dropped meanwhile).
        if (result.code === ExportResultCode.SUCCESS && this.held.size > 0) this.sendHeld();
        settled();
      });
    };
    // This pipeline's slot first, then one of the plugin's (always in that order: no deadlock).
    const go = () => {
      this.admitted++;
      this.slots.acquire(() => this.options.shared.acquire(start));
    };
    // While the backend is away, one at a time; an early try (`probe`) goes past the gate.
    if (this.gateOpen() || early || this.admitted === 0) go();
    else this.parked.push(go);
  }

  /** All sends go: the backend answers, or a flush or shutdown wants everything out now. */
  private gateOpen(): boolean {
    return this.healthy || this.hurrying > 0 || this.closed;
  }

  /** Lets parked sends go: all of them when the gate is open, else one when none is out. */
  private unpark(): void {
    while (this.parked.length > 0 && (this.gateOpen() || this.admitted === 0)) this.parked.shift()?.();
  }

  /** Spans a request took back (to split or to retry them): queued again. */
  private requeue(count: number): void {
    const { counters, tally } = this.options;
    counters.inFlight -= count;
    counters.queued += count;
    tally.holding += count;
  }

  private mayRetry(result: DeliveryResult, retries: number): boolean {
    if (result.code === ExportResultCode.SUCCESS || this.closed || this.hurrying > 0) return false;
    if (retries >= this.options.maxRetries) return false;
    // The guard's own timeout: the exporter may still deliver this batch; sending it again could
    // make a duplicate.
    if (result.error instanceof Error && result.error.message === GUARD_TIMEOUT) return false;
    return isTransient(result.error);
  }

  /** Holds `spans` for a retry after a backoff; a flush or shutdown sends them at once. */
  private hold(spans: ReadableSpan[], retries: number, settled: () => void): void {
    const backoff = Math.min(RETRY_MAX_MILLIS, RETRY_INITIAL_MILLIS * 2 ** retries);
    const resend = (early = false) => {
      if (!this.held.delete(resend)) return;
      clearTimeout(timer);
      this.send(spans, retries + 1, settled, early);
    };
    // Unref'd: a process with nothing else to do may exit; its exit flush sends held batches.
    const timer = setTimeout(resend, backoff * (0.8 + Math.random() * 0.4));
    timer.unref();
    this.held.add(resend);
  }

  /**
   * Called when the pipeline drops a span because what it holds fills its bound: the oldest held
   * batch goes now, past the one-at-a-time gate (at most one such try at once, and one a second),
   * so that a backend that came back is noticed within a second, not after the longest backoff or
   * the exporter's own retry backoff of the request in flight. One success sends all the others.
   */
  probe(): void {
    if (this.probing || this.held.size === 0 || this.closed) return;
    const now = Date.now();
    if (now - this.lastProbe < PROBE_INTERVAL_MILLIS) return;
    this.lastProbe = now;
    this.probing = true;
    const oldest = this.held.values().next().value;
    oldest?.(true);
  }

  /** Sends every held batch now. */
  private sendHeld(): void {
    for (const resend of [...this.held]) resend();
  }

  /** One request for `spans`, bounded by a timer; frees its slots when it ends. */
  private attempt(spans: ReadableSpan[], ended: (result: DeliveryResult) => void): void {
    const { counters, tally } = this.options;
    counters.queued -= spans.length;
    tally.holding -= spans.length;
    counters.inFlight += spans.length;
    let settled = false;
    // An exporter that never calls back would hold its spans as pending forever.
    const timer = setTimeout(
      () => done({ code: ExportResultCode.FAILED, error: new Error(GUARD_TIMEOUT) }),
      this.options.timeoutMillis,
    );
    timer.unref();
    const done = (result: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.options.shared.release();
      this.slots.release();
      ended(result);
    };
    try {
      this.inner.export(spans, done);
    } catch (error) {
      done({
        code: ExportResultCode.FAILED,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }

  /** Moves `count` spans from in flight to exported or dropped, and tells the observer. */
  private count(count: number, result: DeliveryResult): void {
    const { counters, observe } = this.options;
    counters.inFlight -= count;
    if (result.code !== ExportResultCode.SUCCESS) {
      counters.failedRequests++;
      counters.drop(isTooLarge(result) ? 'too-large' : 'export-failed', count);
      observe(count, false, result.error);
      return;
    }
    const rejected = Math.min(count, result.partialSuccess?.rejected ?? 0);
    counters.exported += count - rejected;
    if (rejected === 0) {
      observe(count, true, undefined);
      return;
    }
    counters.drop('partial-success', rejected);
    const reason = result.partialSuccess?.message;
    observe(
      rejected,
      false,
      new Error(`the backend rejected ${rejected} of ${count} spans${reason ? `: ${reason}` : ''}`),
    );
  }

  /** Resolves once every export started so far has settled (each is bounded by its timer). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  /**
   * Runs `work` (the processor handing over what it queued), sends held batches at once and waits
   * for every export: a flush. Failures meanwhile are final, so that it ends.
   */
  async flushWith(work: () => Promise<void>): Promise<void> {
    this.hurrying++;
    try {
      this.unpark();
      await work().catch(() => undefined);
      this.sendHeld();
      await this.idle();
      await this.inner.forceFlush?.();
    } finally {
      this.hurrying--;
    }
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    this.unpark();
    this.sendHeld();
    await this.idle();
    await this.inner.shutdown();
  }

  async forceFlush(): Promise<void> {
    await this.flushWith(async () => undefined);
  }
}
