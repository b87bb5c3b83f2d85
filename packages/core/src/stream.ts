import type { Context } from '@opentelemetry/api';
import { now } from './clock.js';
import { withContext } from './context.js';
import type { ErrorReporter } from './error-handler.js';
import type { StreamState } from './step.js';
import type { StepRecord } from './step-record.js';

/** Strings collected from a text stream before the recorded output is cut. */
const MAX_TEXT = 65_536;
/** Chunks kept for `reduceStream` before later ones are dropped (and the step marked). */
const MAX_CHUNKS = 10_000;

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function'
  );
}

export function isReadableStream(value: unknown): value is ReadableStream<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as ReadableStream).getReader === 'function' &&
    typeof (value as ReadableStream).pipeThrough === 'function'
  );
}

export function isStreamLike(value: unknown): boolean {
  try {
    return isAsyncIterable(value) || isReadableStream(value);
  } catch {
    // A proxy or getter that throws when asked: not a stream; the app gets it back as it is.
    return false;
  }
}

/** Follows one streamed step from its first chunk to its end, whichever way it ends. */
export class StreamTracker {
  private chunks = 0;
  private firstChunkTime: number | undefined;
  private text: string | undefined;
  private textCut = false;
  private collected: unknown[] | undefined;
  private done = false;
  /** Someone asked for a chunk: the stream is being consumed, even if no chunk came yet. */
  pulled = false;

  constructor(
    readonly step: StepRecord,
    readonly ctx: Context,
    private readonly errors: ErrorReporter,
    private readonly onFinish: (tracker: StreamTracker) => void,
  ) {
    step.stream = { state: 'open', chunks: 0 };
    if (typeof step.options.reduceStream === 'function') this.collected = [];
  }

  get finished(): boolean {
    return this.done;
  }

  chunk(value: unknown): void {
    if (this.done) return;
    const step = this.step;
    if (this.chunks === 0) {
      this.firstChunkTime = now();
      if (step.kind === 'llm' && (step as { timeToFirstTokenMs?: number }).timeToFirstTokenMs === undefined) {
        (step as { timeToFirstTokenMs?: number }).timeToFirstTokenMs = this.firstChunkTime - step.startTime;
        step.addEvent('first-token');
      }
    }
    this.chunks++;
    if (this.collected) {
      if (this.collected.length < MAX_CHUNKS) this.collected.push(value);
      else this.textCut = true;
    } else if (typeof value === 'string') {
      const text = this.text ?? '';
      if (text.length + value.length <= MAX_TEXT) this.text = text + value;
      else {
        this.text = text + value.slice(0, Math.max(0, MAX_TEXT - text.length));
        this.textCut = true;
      }
    }
    const onChunk = step.options.onChunk;
    if (onChunk) {
      try {
        onChunk(value, step);
      } catch (error) {
        this.errors.report('step.onChunk', error);
      }
    }
  }

  finish(state: Exclude<StreamState, 'open'>, error?: unknown): void {
    if (this.done) return;
    this.done = true;
    const step = this.step;
    step.stream = { state, chunks: this.chunks };
    if (this.firstChunkTime !== undefined) step.stream.firstChunkTime = this.firstChunkTime;
    if (step.output === undefined) {
      if (this.collected) {
        try {
          step.output = step.options.reduceStream!(this.collected);
        } catch (reduceError) {
          this.errors.report('step.reduceStream', reduceError);
        }
      } else if (this.text !== undefined) {
        step.output = this.text;
      }
    }
    if (this.textCut) step.truncated = [...(step.truncated ?? []), 'output'];
    this.onFinish(this);
    if (state === 'error') step.fail(error);
    else step.end();
  }

  /** Runs `pull` in the step's context and follows its outcome. */
  pull(pull: () => Promise<IteratorResult<unknown>>): Promise<IteratorResult<unknown>> {
    this.pulled = true;
    let promise: Promise<IteratorResult<unknown>>;
    try {
      promise = withContext(this.ctx, pull);
    } catch (error) {
      this.finish('error', error);
      throw error;
    }
    return Promise.resolve(promise).then(
      (result) => {
        if (result.done) this.finish('completed');
        else this.chunk(result.value);
        return result;
      },
      (error: unknown) => {
        this.finish('error', error);
        throw error;
      },
    );
  }
}

type AnyIterator = AsyncIterator<unknown> & Record<string, unknown>;

function wrapIterator(iterator: AnyIterator, tracker: StreamTracker): AsyncIterableIterator<unknown> {
  const next = iterator.next;
  const ret = iterator.return as AnyIterator['return'];
  const thr = iterator.throw as AnyIterator['throw'];
  const wrapped = {
    next: (...args: [] | [unknown]) => tracker.pull(() => next.apply(iterator, args)),
    return: (value?: unknown) => {
      tracker.finish('cancelled');
      return ret
        ? withContext(tracker.ctx, () => ret.call(iterator, value))
        : Promise.resolve({ done: true, value });
    },
    throw: (error?: unknown) => {
      if (!thr) {
        tracker.finish('error', error);
        return Promise.reject(error);
      }
      return tracker.pull(() => thr.call(iterator, error));
    },
    [Symbol.asyncIterator]() {
      return wrapped;
    },
  };
  return wrapped as AsyncIterableIterator<unknown>;
}

function define(target: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(target, key, { value, configurable: true, writable: true, enumerable: false });
}

/**
 * Instruments a stream in place, so the caller keeps the very object the function returned
 * (an SDK's stream class keeps its other methods). Returns false when the object cannot be
 * patched (frozen); the step then ends as a plain value.
 */
export function instrumentStream(value: object, tracker: StreamTracker): boolean {
  if (!Object.isExtensible(value)) return false;
  try {
    if (isReadableStream(value)) instrumentReadable(value, tracker);
    else if (typeof (value as AnyIterator).next === 'function') {
      // An async generator or iterator: patch its own methods; `for await` finds them on the instance.
      const wrapped = wrapIterator(value as AnyIterator, tracker);
      define(value, 'next', wrapped.next);
      define(value, 'return', wrapped.return);
      define(value, 'throw', wrapped.throw);
    } else {
      const iterate = (value as Record<symbol, () => AnyIterator>)[Symbol.asyncIterator]!;
      define(value, Symbol.asyncIterator, function (this: unknown) {
        const iterator = withContext(tracker.ctx, () => iterate.call(value));
        return tracker.finished ? iterator : wrapIterator(iterator, tracker);
      });
    }
    return true;
  } catch {
    return false;
  }
}

const READABLE_METHODS: PropertyKey[] = [
  'getReader',
  'pipeTo',
  'pipeThrough',
  'tee',
  'values',
  Symbol.asyncIterator,
];

function instrumentReadable(stream: ReadableStream<unknown>, tracker: StreamTracker): void {
  const proto = Object.getPrototypeOf(stream) as Record<PropertyKey, (...args: unknown[]) => unknown>;
  let wrapped: ReadableStream<unknown> | undefined;
  // The wrapper is made on first use, so `locked` stays false until someone reads.
  const ensure = (): ReadableStream<unknown> => {
    if (wrapped) return wrapped;
    const reader = (proto.getReader as () => ReadableStreamDefaultReader<unknown>).call(stream);
    wrapped = new ReadableStream<unknown>(
      {
        pull: (controller) =>
          tracker
            .pull(() => reader.read() as Promise<IteratorResult<unknown>>)
            .then(
              (result) => (result.done ? controller.close() : controller.enqueue(result.value)),
              (error: unknown) => controller.error(error),
            ),
        cancel: (reason) => {
          tracker.finish('cancelled');
          return reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
    return wrapped;
  };
  for (const method of READABLE_METHODS) {
    if (typeof proto[method] !== 'function') continue;
    define(stream, method, (...args: unknown[]) => {
      const target = ensure() as unknown as Record<PropertyKey, (...a: unknown[]) => unknown>;
      return target[method]!(...args);
    });
  }
}
