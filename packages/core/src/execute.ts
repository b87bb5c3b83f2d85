import type { Middleware } from './compose.js';
import { withContext } from './context.js';
import type { ErrorReporter } from './error-handler.js';
import type { PluginHost } from './plugin-host.js';
import { type MiddlewareStep, type StepRecord, toStepError } from './step-record.js';
import { instrumentStream, isStreamLike, StreamTracker } from './stream.js';

export type StepFunction<R = unknown> = (step: StepRecord) => R;

/** What the executor needs from its tracer. */
export interface ExecutionHost {
  readonly plugins: PluginHost;
  readonly errors: ErrorReporter;
  readonly openStreams: Set<StreamTracker>;
  /** The function produced a stream: a caller waiting on the chain needs it now. */
  streamStarted(step: StepRecord): void;
  /** Called once per step when it is final: middleware done, status set. */
  finalized(step: StepRecord): void;
}

/** A middleware is an observer when it never changes what the caller receives. */
export interface ObserverMarker {
  readonly observer?: boolean;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  try {
    return typeof (value as { then?: unknown }).then === 'function';
  } catch {
    // A proxy or getter that throws on `then`: nothing to wait for. The app gets it back as it is.
    return false;
  }
}

/** Marks the step's own work as started: plugins' `onStart`. */
function begin(host: ExecutionHost, step: StepRecord): void {
  if (step.sampled && host.plugins.wantsStart) host.plugins.start(step.record);
}

function recordOutput(step: StepRecord, value: unknown): void {
  step.returnValue = value;
  if (step.output === undefined && value !== undefined) step.output = value;
}

/**
 * Settles the step from the function's return value and returns what the caller receives:
 * the very same value or promise (streams are instrumented in place).
 */
function follow(host: ExecutionHost, step: StepRecord, returned: unknown): unknown {
  if (isThenable(returned)) {
    step.sync = false;
    returned.then(
      (value) => settle(host, step, value),
      (error: unknown) => step.fail(error),
    );
  } else {
    step.sync = true;
    settle(host, step, returned);
  }
  return returned;
}

/** A stream keeps the step open until consumed; any other value ends it. */
function settle(host: ExecutionHost, step: StepRecord, value: unknown): void {
  if (followStream(host, step, value)) return;
  recordOutput(step, value);
  step.end();
}

function followStream(host: ExecutionHost, step: StepRecord, value: unknown): boolean {
  if (!isStreamLike(value)) return false;
  const tracker = new StreamTracker(step, step.context(), host.errors, (t) => host.openStreams.delete(t));
  if (!instrumentStream(value as object, tracker)) {
    step.stream = undefined;
    return false;
  }
  step.returnValue = value;
  host.openStreams.add(tracker);
  host.streamStarted(step);
  return true;
}

/** Runs the function inside the step's context; a synchronous throw fails the step and is rethrown. */
function invoke(host: ExecutionHost, step: StepRecord, fn: StepFunction): unknown {
  begin(host, step);
  let returned: unknown;
  try {
    returned = withContext(step.context(), fn, undefined, step);
  } catch (error) {
    step.sync = true;
    step.fail(error);
    throw error;
  }
  return follow(host, step, returned);
}

/** Without middleware: no promise is made for a synchronous function, no wrapper for a promise. */
export function executeDirect<R>(host: ExecutionHost, step: StepRecord, fn: StepFunction<R>): R {
  return invoke(host, step, fn) as R;
}

interface Completion {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function completion(): Completion {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Per-step state of a run through a middleware chain. */
export interface ChainRun {
  /** Settles when the step's own work is over (for a stream: when it was consumed). */
  work: Completion | undefined;
  /** What the function threw synchronously. */
  thrown: { error: unknown } | undefined;
  /** Called when the function produced a stream, which the caller needs before the chain ends. */
  onStream: (() => void) | undefined;
}

/**
 * Runs the step through its middleware chain. The innermost `next()` runs the function (or, for
 * a step started by hand, waits for `end()`/`fail()`) and settles when the step's own work is
 * over (a stream: when consumed), so code after `next()` sees the whole output.
 *
 * The caller receives: for a synchronous function, its value (or throw) at once; for an observer
 * chain, the function's own promise; otherwise a promise of the chain's outcome, resolved early
 * with the stream when the function produced one.
 */
export function executeChained<R>(
  host: ExecutionHost,
  step: StepRecord,
  chain: Middleware,
  observer: boolean,
  fn: StepFunction<R> | undefined,
): R {
  const run: ChainRun = { work: undefined, thrown: undefined, onStream: undefined };
  step._run = run;
  let returned: unknown;
  let invoked = false;
  const next = (): Promise<void> => {
    invoked = true;
    run.work = completion();
    if (fn === undefined) {
      begin(host, step);
    } else {
      try {
        returned = invoke(host, step, fn);
      } catch (error) {
        run.thrown = { error };
      }
    }
    return run.work.promise;
  };

  let settled: Promise<void>;
  try {
    settled = Promise.resolve(chain(step as unknown as MiddlewareStep, next));
  } catch (error) {
    settled = Promise.reject(error);
  }
  // A middleware that did not await next() must not end the step before its work is over.
  const workOver = (): Promise<void> | undefined =>
    invoked && !step._done ? run.work!.promise.then(noop, noop) : undefined;
  const final = settled.then(
    async () => {
      await workOver();
      finalize(host, step, undefined);
    },
    async (error: unknown) => {
      await workOver();
      finalize(host, step, error);
      throw error;
    },
  );

  if (fn === undefined || (invoked && step.sync)) {
    final.catch(noop);
    if (run.thrown) throw run.thrown.error;
    return (fn === undefined ? step : returned) as R;
  }
  if (invoked && observer && isThenable(returned)) {
    final.catch(noop);
    return returned as R;
  }
  return new Promise((resolve, reject) => {
    run.onStream = () => resolve(step.returnValue as never);
    final.then(() => resolve(step.returnValue as never), reject);
  }) as R;
}

function noop(): void {}

/** Called by the step when its own work is over: lets the innermost `next()` settle. */
export function workDone(step: StepRecord): boolean {
  const run = step._run as ChainRun | undefined;
  if (!run) return false;
  if (run.work) {
    if (step.status === 'error') run.work.reject(step._thrown);
    else run.work.resolve();
  }
  return true;
}

/**
 * Sets the final status once middleware is done and hands the step to plugins. A middleware
 * that recovered from the function's error turns the step `ok` and keeps the error as an event.
 */
export function finalize(host: ExecutionHost, step: StepRecord, chainError: unknown): void {
  if (!step._done) {
    // Short-circuited: the function never ran (cache hit, guardrail block).
    if (chainError === undefined && step.returnValue !== undefined && step.output === undefined)
      step.output = step.returnValue;
    begin(host, step);
    if (chainError === undefined) step.end();
    else step.fail(chainError);
  } else if (chainError !== undefined && step.status !== 'error') {
    step.status = 'error';
    step.error = toStepError(chainError);
  } else if (chainError === undefined && step.status === 'error') {
    const error = step.error;
    step.status = 'ok';
    step.error = undefined;
    step.events = [
      ...step.events,
      {
        name: 'error-recovered',
        time: step.endTime ?? step.startTime,
        attributes: { 'error.type': error?.type ?? 'Error', 'error.message': error?.message ?? '' },
      },
    ];
  }
  host.finalized(step);
}
