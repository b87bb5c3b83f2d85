/**
 * Span pipelines per credential set. With a headers function, each distinct set of headers gets
 * its own exporter and batch processor, so one team's spans never travel with another team's
 * credentials. The number of live sets is bounded; the least recently used one is flushed and
 * closed when a new one needs room.
 */
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import type { DeliveryResult } from './exporters.js';
import type { BatchSettings } from './options.js';

/** Counters shared by every pipeline of one plugin. */
export class ExportCounters {
  /** Spans accepted into a processor's queue, not yet handed to its exporter. */
  queued = 0;
  /** Spans handed to an exporter, not yet settled. */
  inFlight = 0;
  exported = 0;
  failedRequests = 0;
  readonly dropped: Record<string, number> = {};

  drop(reason: string, count = 1): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + count;
  }
}

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

/** Spans of one pipeline accepted into its processor's queue, not yet handed to its exporter. */
interface Tally {
  queued: number;
}

/** An HTTP 413 from the SDK's transport (`OTLPExporterError.code`): the request was too large. */
function isTooLarge(result: DeliveryResult): boolean {
  return (
    result.code !== ExportResultCode.SUCCESS && (result.error as { code?: unknown } | undefined)?.code === 413
  );
}

/**
 * Wraps an exporter to count what it delivers and fails; the spans pass through unchanged. It also
 * knows which exports are still running: the SDK's batch processor does not wait for its current
 * export on `forceFlush()`, and an export that encodes before sending has not reached the SDK's
 * transport yet, so flush and shutdown wait for them here. A batch answered 413 is sent again in
 * halves, down to single spans; spans an OTLP partial success rejected are counted as dropped.
 */
class CountingExporter implements SpanExporter {
  private readonly running = new Set<Promise<void>>();
  private readonly slots = new Slots(MAX_CONCURRENT_EXPORTS);

  constructor(
    private readonly inner: SpanExporter,
    private readonly counters: ExportCounters,
    private readonly shared: Slots,
    private readonly tally: Tally,
    private readonly observe: ExportObserver,
    private readonly timeoutMillis: number,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.counters.queued -= spans.length;
    this.tally.queued -= spans.length;
    this.counters.inFlight += spans.length;
    let finished!: () => void;
    const running = new Promise<void>((resolve) => {
      finished = resolve;
    });
    this.running.add(running);
    this.send(spans, (result) => {
      this.running.delete(running);
      finished();
      resultCallback(result);
    });
  }

  /** Sends `spans` when an export slot is free; a 413 splits them. Calls back once, counted. */
  private send(spans: ReadableSpan[], settled: (result: ExportResult) => void): void {
    const start = () =>
      this.attempt(spans, (result) => {
        if (isTooLarge(result) && spans.length > 1) {
          // Too large for the backend: each half on its own, until a part fits or is one span.
          const half = Math.ceil(spans.length / 2);
          let left = 2;
          let failure: ExportResult | undefined;
          const part = (r: ExportResult) => {
            if (r.code !== ExportResultCode.SUCCESS) failure ??= r;
            if (--left === 0) settled(failure ?? { code: ExportResultCode.SUCCESS });
          };
          this.send(spans.slice(0, half), part);
          this.send(spans.slice(half), part);
          return;
        }
        this.count(spans.length, result);
        settled(result);
      });
    // This pipeline's slot first, then one of the plugin's (always in that order: no deadlock).
    this.slots.acquire(() => this.shared.acquire(start));
  }

  /** One request for `spans`, bounded by a timer; frees its slots when it ends. */
  private attempt(spans: ReadableSpan[], ended: (result: DeliveryResult) => void): void {
    let settled = false;
    // An exporter that never calls back would hold its spans as pending forever.
    const timer = setTimeout(
      () => done({ code: ExportResultCode.FAILED, error: new Error('export timed out') }),
      this.timeoutMillis,
    );
    timer.unref();
    const done = (result: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.shared.release();
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
    this.counters.inFlight -= count;
    if (result.code !== ExportResultCode.SUCCESS) {
      this.counters.failedRequests++;
      this.counters.drop(isTooLarge(result) ? 'too-large' : 'export-failed', count);
      this.observe(count, false, result.error);
      return;
    }
    const rejected = Math.min(count, result.partialSuccess?.rejected ?? 0);
    this.counters.exported += count - rejected;
    if (rejected === 0) {
      this.observe(count, true, undefined);
      return;
    }
    this.counters.drop('partial-success', rejected);
    const reason = result.partialSuccess?.message;
    this.observe(
      rejected,
      false,
      new Error(`the backend rejected ${rejected} of ${count} spans${reason ? `: ${reason}` : ''}`),
    );
  }

  /** Resolves once every export started so far has settled (each is bounded by its timer). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  async shutdown(): Promise<void> {
    await this.idle();
    await this.inner.shutdown();
  }

  async forceFlush(): Promise<void> {
    await this.idle();
    await this.inner.forceFlush?.();
  }
}

/** One credential set's span pipeline: its processor, and what its queue holds. */
export interface Pipeline {
  /** Spans in this pipeline's queue, not yet handed to its exporter (the processor's bound). */
  readonly queued: number;
  onEnd(span: ReadableSpan): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The SDK's processor over a counting exporter; flushing waits for exports already running. */
export function createPipeline(
  exporter: SpanExporter,
  batch: BatchSettings | false,
  counters: ExportCounters,
  shared: Slots,
  observe: ExportObserver,
  timeoutMillis: number,
): Pipeline {
  const tally: Tally = { queued: 0 };
  const counting = new CountingExporter(exporter, counters, shared, tally, observe, timeoutMillis);
  const processor =
    batch === false ? new SimpleSpanProcessor(counting) : new BatchSpanProcessor(counting, batch);
  return {
    get queued() {
      return tally.queued;
    },
    onEnd: (span) => {
      counters.queued++;
      tally.queued++;
      processor.onEnd(span);
    },
    // When one batch fails, the processor's flush rejects at once; the other exports still run,
    // and flush and shutdown must wait for them (and count them) before they say they are done.
    forceFlush: async () => {
      await processor.forceFlush().catch(() => undefined);
      await counting.forceFlush();
    },
    shutdown: async () => {
      // The processor exports what it holds, then shuts the (idle-waiting) exporter down.
      await processor.shutdown().catch(() => undefined);
      await counting.idle();
    },
  };
}

/** Pipelines by credential key, least recently used first. */
export class PipelineCache {
  private readonly pipelines = new Map<string, Pipeline>();
  /** Pipelines being closed after eviction: flush and shutdown still wait for them. */
  private readonly closing = new Set<Promise<unknown>>();

  constructor(
    private readonly limit: number,
    private readonly create: (key: string) => Pipeline,
    private readonly evicted: (key: string) => void = () => undefined,
  ) {}

  get(key: string): Pipeline {
    let pipeline = this.pipelines.get(key);
    if (pipeline !== undefined) {
      if (this.pipelines.size > 1) {
        // Move to the most recently used end.
        this.pipelines.delete(key);
        this.pipelines.set(key, pipeline);
      }
      return pipeline;
    }
    if (this.pipelines.size >= this.limit) {
      const [oldestKey, oldest] = this.pipelines.entries().next().value as [string, Pipeline];
      this.pipelines.delete(oldestKey);
      this.evicted(oldestKey);
      const closing = oldest.shutdown().catch(() => undefined);
      this.closing.add(closing);
      void closing.finally(() => this.closing.delete(closing));
    }
    pipeline = this.create(key);
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  get size(): number {
    return this.pipelines.size;
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...[...this.pipelines.values()].map((p) => p.forceFlush()), ...this.closing]);
  }

  async shutdown(): Promise<void> {
    const all = [...this.pipelines.values()];
    this.pipelines.clear();
    await Promise.all([...all.map((p) => p.shutdown()), ...this.closing]);
  }
}

/** The most recent keys, oldest evicted first: a bounded set. */
export class RecentSet {
  private readonly keys = new Set<string>();
  constructor(private readonly limit: number) {}
  add(key: string): void {
    if (this.keys.size >= this.limit) {
      const oldest = this.keys.values().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
    this.keys.add(key);
  }
  has(key: string): boolean {
    return this.keys.has(key);
  }
}

export function stableKey(headers: Record<string, string | number | boolean>): string {
  return Object.keys(headers)
    .sort()
    .map((k) => `${k.toLowerCase()}\u0000${headers[k]}`)
    .join('\u0001');
}
