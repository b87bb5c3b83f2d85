/**
 * What the metrics and the logs of the plugin share: a guard that keeps recording from ever
 * throwing (failures are counted and handed to `onError`), and a lifecycle that owns a private
 * provider or only flushes the app's.
 */

/** How `forceFlush()` and `shutdown()` settle: they never reject. */
export interface SignalResult {
  ok: boolean;
  error?: unknown;
}

type Flushable = { forceFlush?: (options?: { timeoutMillis?: number }) => Promise<void> };
type Closable = { shutdown: (options?: { timeoutMillis?: number }) => Promise<void> };

const DEFAULT_SETTLE_TIMEOUT_MS = 30_000;

export function positive(value: number | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * Runs `fn` and settles with `{ ok }` by `timeoutMillis` at the latest: never rejects, and a
 * promise that never settles stops being waited for.
 */
export function settleWithin(fn: () => Promise<unknown>, timeoutMillis: number): Promise<SignalResult> {
  return new Promise<SignalResult>((resolve) => {
    const timer = setTimeout(
      () => resolve({ ok: false, error: new Error(`timed out after ${timeoutMillis} ms`) }),
      timeoutMillis,
    );
    timer.unref?.();
    const done = (result: SignalResult) => {
      clearTimeout(timer);
      resolve(result);
    };
    try {
      fn().then(
        () => done({ ok: true }),
        (error: unknown) => done({ ok: false, error }),
      );
    } catch (error) {
      done({ ok: false, error });
    }
  });
}

export abstract class SignalSink {
  protected closed = false;
  private failureCount = 0;

  protected constructor(
    private readonly provider: object,
    /** The provider made here (shut down with the sink); undefined for the app's. */
    private readonly owned: Closable | undefined,
    private readonly onError: ((error: unknown) => void) | undefined,
  ) {}

  /** Runs `fn` unless closed; a throw is counted and reported, never rethrown. */
  protected guard(fn: () => void): boolean {
    if (this.closed) return false;
    try {
      fn();
      return true;
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  /** Counts and reports a failure to record; never throws. */
  protected failed(error: unknown): void {
    this.failureCount++;
    if (this.onError) {
      try {
        this.onError(error);
      } catch {}
    }
  }

  /** Steps whose recording failed. */
  get failures(): number {
    return this.failureCount;
  }

  /** Exports what is buffered (the owned provider's, or the app's provider if it can). */
  forceFlush(options: { timeoutMillis?: number } = {}): Promise<SignalResult> {
    const timeoutMillis = positive(options.timeoutMillis) ?? DEFAULT_SETTLE_TIMEOUT_MS;
    const flush = (this.provider as Flushable).forceFlush;
    if (typeof flush !== 'function') return Promise.resolve({ ok: true });
    return settleWithin(() => flush.call(this.provider, { timeoutMillis }), timeoutMillis);
  }

  /** Stops recording and shuts the owned provider down; the app's provider is only flushed. */
  shutdown(options: { timeoutMillis?: number } = {}): Promise<SignalResult> {
    if (this.closed) return Promise.resolve({ ok: true });
    this.closed = true;
    const owned = this.owned;
    if (!owned) return this.forceFlush(options);
    const timeoutMillis = positive(options.timeoutMillis) ?? DEFAULT_SETTLE_TIMEOUT_MS;
    return settleWithin(() => owned.shutdown({ timeoutMillis }), timeoutMillis);
  }
}
