/**
 * Span pipelines per credential set. With a headers function, each distinct set of headers gets
 * its own exporter and batch processor, so one team's spans never travel with another team's
 * credentials. The number of live sets is bounded; the least recently used one is flushed and
 * closed when a new one needs room.
 */
import {
  BatchSpanProcessor,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { CountingExporter, type CountingOptions, type Tally } from './counting-exporter.js';
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

/** One credential set's span pipeline: its processor, and what its queue holds. */
export interface Pipeline {
  /** Spans this pipeline holds that no request has taken yet (bounded by `batch.maxQueueSize`). */
  readonly holding: number;
  onEnd(span: ReadableSpan): void;
  /** A span was dropped because the pipeline is full: see whether the backend is back. */
  probe(): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The SDK's processor over a counting exporter; flushing waits for exports already running. */
export function createPipeline(
  exporter: SpanExporter,
  batch: BatchSettings | false,
  options: Omit<CountingOptions, 'tally'>,
): Pipeline {
  const tally: Tally = { holding: 0 };
  const { counters } = options;
  const counting = new CountingExporter(exporter, { ...options, tally });
  const processor =
    batch === false ? new SimpleSpanProcessor(counting) : new BatchSpanProcessor(counting, batch);
  return {
    get holding() {
      return tally.holding;
    },
    onEnd: (span) => {
      counters.queued++;
      tally.holding++;
      processor.onEnd(span);
    },
    probe: () => counting.probe(),
    // When one batch fails, the processor's flush rejects at once; the other exports still run,
    // and flush and shutdown must wait for them (and count them) before they say they are done.
    forceFlush: () => counting.flushWith(() => processor.forceFlush()),
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
