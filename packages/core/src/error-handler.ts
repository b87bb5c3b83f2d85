import { scrubSecrets } from './secrets.js';

/** What spanchain reports when something inside it fails at run time. */
export interface InternalErrorReport {
  /** Where it happened: `plugin:otel.onEnd`, `middleware`, `propagation.extract`, … */
  source: string;
  level: 'error' | 'warning';
  /** Scrubbed of secrets. */
  message: string;
  error: unknown;
  /** Reports of this source dropped by the rate limit since the last delivered one. */
  suppressed: number;
}

export type ErrorHandler = (report: InternalErrorReport) => void;

function defaultHandler(report: InternalErrorReport): void {
  const more = report.suppressed > 0 ? ` (${report.suppressed} similar suppressed)` : '';
  console.warn(`[spanchain] ${report.level} in ${report.source}: ${report.message}${more}`);
}

let globalHandler: ErrorHandler = defaultHandler;

/**
 * Replaces the process-wide handler of spanchain's internal errors (a tracer's `onError` option
 * wins over it). Pass nothing to restore the default, which writes one line to stderr.
 *
 * @example setErrorHandler((r) => logger.warn({ source: r.source }, r.message))
 */
export function setErrorHandler(handler?: ErrorHandler): void {
  globalHandler = handler ?? defaultHandler;
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'string') return error;
  try {
    return Object.prototype.toString.call(error);
  } catch {
    return 'unknown error';
  }
}

const WINDOW_MS = 60_000;
const PER_WINDOW = 10;

interface SourceWindow {
  start: number;
  delivered: number;
  suppressed: number;
}

/**
 * Counts internal errors and warnings by source and hands at most ten per source per minute to
 * the handler. Never throws, whatever the handler does.
 */
export class ErrorReporter {
  readonly counts = new Map<string, number>();
  private readonly windows = new Map<string, SourceWindow>();

  private target: ErrorReporter | undefined;

  constructor(private readonly handler?: ErrorHandler) {}

  /**
   * Sends every later report to `target` instead (its handler, its counts and rate limits): a
   * plugin made before its tracer reports through the tracer's `onError` once attached.
   */
  forwardTo(target: ErrorReporter | undefined): void {
    this.target = target === this ? undefined : target;
  }

  report(source: string, error: unknown, level: 'error' | 'warning' = 'error'): void {
    if (this.target !== undefined) {
      this.target.report(source, error, level);
      return;
    }
    this.counts.set(source, (this.counts.get(source) ?? 0) + 1);
    const time = Date.now();
    let window = this.windows.get(source);
    if (!window || time - window.start > WINDOW_MS) {
      window = { start: time, delivered: 0, suppressed: window?.suppressed ?? 0 };
      this.windows.set(source, window);
    }
    if (window.delivered >= PER_WINDOW) {
      window.suppressed++;
      return;
    }
    window.delivered++;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    try {
      (this.handler ?? globalHandler)({
        source,
        level,
        message: scrubSecrets(describe(error)),
        error,
        suppressed,
      });
    } catch {
      // The handler is the last line of defence; its own failure has nowhere left to go.
    }
  }

  warn(source: string, message: string): void {
    this.report(source, message, 'warning');
  }

  total(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }
}
