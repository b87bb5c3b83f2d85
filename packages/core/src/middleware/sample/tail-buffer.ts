/**
 * The bounded memory of tail sampling: the steps of traces the head decision left out, held until
 * the trace's local roots end and the rule decides whether to keep it.
 */
import type { MiddlewareStep } from '../../step-record.js';

export interface TailLimits {
  maxTraces: number;
  maxStepsPerTrace: number;
  timeoutMs: number;
}

/** Counters of the tail rule. */
export interface TailCounters {
  /** Traces kept by the rule (an error or a slow root). */
  tailKept: number;
  /** Traces the rule dropped. */
  tailDropped: number;
  /** Traces refused because `maxTraces` were pending, plus steps beyond `maxStepsPerTrace`. */
  tailOverflow: number;
  /** Pending traces dropped because a local root did not end within `timeoutMs`. */
  tailExpired: number;
}

/** A trace waiting for its decision. */
export interface PendingTrace {
  /** Ended steps in end order, except the root whose end decides. */
  readonly steps: MiddlewareStep[];
  /** Local roots of the trace still running (usually one). */
  openRoots: number;
  /** Some step of the trace failed, buffered or not. */
  error: boolean;
  /** Some local root lasted at least the latency threshold. */
  slow: boolean;
  readonly expiresAt: number;
}

/**
 * Pending traces by trace id, and the recently kept ones so their late steps (still running when
 * the decision fell) are delivered too. Both maps are bounded by `maxTraces`; expiry is checked
 * lazily, oldest first (a Map iterates in insertion order), so no timer holds the process open.
 */
export class TailBuffer {
  readonly counters: TailCounters = { tailKept: 0, tailDropped: 0, tailOverflow: 0, tailExpired: 0 };
  private readonly pending = new Map<string, PendingTrace>();
  private readonly kept = new Map<string, number>();

  constructor(private readonly limits: TailLimits) {}

  get size(): number {
    return this.pending.size;
  }

  /** Registers a local root of a candidate trace. False when the buffer has no room for it. */
  open(traceId: string, time: number): boolean {
    const existing = this.pending.get(traceId);
    if (existing) {
      existing.openRoots++;
      return true;
    }
    this.expire(time);
    if (this.pending.size >= this.limits.maxTraces) {
      this.counters.tailOverflow++;
      return false;
    }
    this.pending.set(traceId, {
      steps: [],
      openRoots: 1,
      error: false,
      slow: false,
      expiresAt: time + this.limits.timeoutMs,
    });
    return true;
  }

  get(traceId: string): PendingTrace | undefined {
    return this.pending.get(traceId);
  }

  /** Holds an ended step of a pending trace; beyond `maxStepsPerTrace` it is dropped and counted. */
  hold(trace: PendingTrace, step: MiddlewareStep, failed: boolean): void {
    if (failed) trace.error = true;
    if (trace.steps.length < this.limits.maxStepsPerTrace) trace.steps.push(step);
    else this.counters.tailOverflow++;
  }

  /** Closes the trace with its decision and returns the steps to deliver (none when dropped). */
  decide(traceId: string, keep: boolean, time: number): MiddlewareStep[] {
    const trace = this.pending.get(traceId);
    this.pending.delete(traceId);
    if (!keep) {
      this.counters.tailDropped++;
      return [];
    }
    this.counters.tailKept++;
    this.kept.delete(traceId);
    if (this.kept.size >= this.limits.maxTraces) {
      const oldest = this.kept.keys().next();
      if (!oldest.done) this.kept.delete(oldest.value);
    }
    this.kept.set(traceId, time + this.limits.timeoutMs);
    return trace?.steps ?? [];
  }

  /** Whether the trace was kept recently: its late steps are delivered as they end. */
  wasKept(traceId: string, time: number): boolean {
    const expiresAt = this.kept.get(traceId);
    if (expiresAt === undefined) return false;
    if (expiresAt > time) return true;
    this.kept.delete(traceId);
    return false;
  }

  /** Drops pending traces older than `timeoutMs` (their roots never ended) and stale kept ids. */
  expire(time: number): void {
    for (const [traceId, trace] of this.pending) {
      if (trace.expiresAt > time) break;
      this.pending.delete(traceId);
      this.counters.tailExpired++;
    }
    for (const [traceId, expiresAt] of this.kept) {
      if (expiresAt > time) break;
      this.kept.delete(traceId);
    }
  }
}
