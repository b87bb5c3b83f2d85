/**
 * Span pipelines per credential set. With a headers function, each distinct set of headers gets
 * its own exporter and batch processor, so one team's spans never travel with another team's
 * credentials. The number of live sets is bounded; the least recently used one is flushed and
 * closed when a new one needs room.
 */
import { ExportResultCode } from '@opentelemetry/core';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
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

export type ExportObserver = (count: number, ok: boolean, error: unknown) => void;

/**
 * Exports one exporter runs at once; more wait here. The batch processor hands every queued batch
 * to the exporter at once on `forceFlush()` and `shutdown()`, and the SDK's OTLP exporters refuse
 * more than 30 concurrent exports ('Concurrent export limit reached'): with more than 30 batches
 * queued (15,360 spans at the default batch size, 1,500 at 50), the rest would be lost.
 */
export const MAX_CONCURRENT_EXPORTS = 8;

/**
 * Wraps an exporter to count what it delivers and fails; the spans pass through unchanged. It also
 * knows which exports are still running: the SDK's batch processor does not wait for its current
 * export on `forceFlush()`, and an export that encodes before sending has not reached the SDK's
 * transport yet, so flush and shutdown wait for them here.
 */
class CountingExporter implements SpanExporter {
  private readonly running = new Set<Promise<void>>();
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly inner: SpanExporter,
    private readonly counters: ExportCounters,
    private readonly observe: ExportObserver,
    private readonly timeoutMillis: number,
  ) {}

  export(spans: ReadableSpan[], resultCallback: Parameters<SpanExporter['export']>[1]): void {
    this.counters.queued -= spans.length;
    this.counters.inFlight += spans.length;
    let finished!: () => void;
    const running = new Promise<void>((resolve) => {
      finished = resolve;
    });
    this.running.add(running);
    const start = () => this.start(spans, resultCallback, running, finished);
    if (this.active < MAX_CONCURRENT_EXPORTS) start();
    else this.waiting.push(start);
  }

  private start(
    spans: ReadableSpan[],
    resultCallback: Parameters<SpanExporter['export']>[1],
    running: Promise<void>,
    finished: () => void,
  ): void {
    this.active++;
    let settled = false;
    // An exporter that never calls back would hold its spans as pending forever.
    const timer = setTimeout(
      () => done({ code: ExportResultCode.FAILED, error: new Error('export timed out') }),
      this.timeoutMillis,
    );
    timer.unref();
    const done: typeof resultCallback = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.running.delete(running);
      finished();
      const count = spans.length;
      this.counters.inFlight -= count;
      const ok = result.code === ExportResultCode.SUCCESS;
      if (ok) this.counters.exported += count;
      else {
        this.counters.failedRequests++;
        this.counters.drop('export-failed', count);
      }
      this.observe(count, ok, result.error);
      resultCallback(result);
      this.active--;
      this.waiting.shift()?.();
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

/** The SDK's processor over a counting exporter; flushing waits for exports already running. */
export function createPipeline(
  exporter: SpanExporter,
  batch: BatchSettings | false,
  counters: ExportCounters,
  observe: ExportObserver,
  timeoutMillis: number,
): SpanProcessor {
  const counting = new CountingExporter(exporter, counters, observe, timeoutMillis);
  const processor =
    batch === false ? new SimpleSpanProcessor(counting) : new BatchSpanProcessor(counting, batch);
  return {
    onStart: (span, context) => processor.onStart(span, context),
    onEnd: (span) => processor.onEnd(span),
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
  private readonly pipelines = new Map<string, SpanProcessor>();
  /** Pipelines being closed after eviction: flush and shutdown still wait for them. */
  private readonly closing = new Set<Promise<unknown>>();

  constructor(
    private readonly limit: number,
    private readonly create: (key: string) => SpanProcessor,
    private readonly evicted: (key: string) => void = () => undefined,
  ) {}

  get(key: string): SpanProcessor {
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
      const [oldestKey, oldest] = this.pipelines.entries().next().value as [string, SpanProcessor];
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
