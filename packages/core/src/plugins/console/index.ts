/**
 * The console plugin, spanchain's embedded default: when a trace's root step ends it prints a
 * waterfall of the trace to stderr; in JSON-lines mode it prints one line per ended step.
 *
 * Invariants:
 * - `onStart`/`onEnd` only file the step; rendering and writing happen in a `setImmediate`
 *   batch (or in `flush()`), so the traced code never waits on the terminal.
 * - Memory is bounded: at most `maxOpenTraces` traces and about `maxStepsPerTrace` steps each;
 *   whatever does not fit is counted in `stats().dropped`, never silently lost.
 *
 * Which step is a root: a step is printed as the root of a tree when, at the time of printing,
 * its parent is neither an ended step waiting here nor a step of this process still running
 * (known from `onStart`). So a step without a parent, a step under a remote parent (continued
 * from `traceparent`) and a step under an app's own OTel span all print as roots, while a child
 * waits for its parent. A child that ends after its parent was printed prints on its own.
 */
import type { HookOptions, Plugin, PluginCounters } from '../../plugin.js';
import { scrubSecrets } from '../../secrets.js';
import { safeStringify } from '../../serialize/index.js';
import type { Step } from '../../step.js';
import { type ConsolePluginOptions, type ResolvedConsoleOptions, resolveConsoleOptions } from './options.js';
import { renderTraceTree } from './render.js';

export {
  type ConsolePluginOptions,
  ConsolePluginOptionsSchema,
  type ConsoleStream,
  type ResolvedConsoleOptions,
  resolveConsoleOptions,
} from './options.js';
export { type RenderOptions, renderTraceTree } from './render.js';

type DropReason = 'trace-overflow' | 'step-overflow' | 'queue-full' | 'render-error';

/** One trace as the plugin holds it until its root ends. */
interface TraceState {
  /** Ended steps not printed yet, in the order they ended. */
  ended: Step[];
  /** Started and not yet ended (from `onStart`): their children wait for them. */
  running: Map<string, Step>;
  /** Span ids that are the parent of an ended step here: such a step is kept even over the limit. */
  parents: Set<string>;
  /** Steps left out by `maxStepsPerTrace`, said under the next tree printed. */
  omitted: number;
}

/** The console plugin's own counters, as `stats()` returns them. */
export interface ConsoleStats extends PluginCounters {
  dropped: Record<DropReason, number>;
}

/** The plugin `createConsolePlugin()` makes: a `Plugin` whose hooks and counters are all present. */
export interface ConsolePlugin extends Plugin {
  onEnd(step: Step): void;
  flush(options?: HookOptions): Promise<void>;
  shutdown(options?: HookOptions): Promise<void>;
  stats(): ConsoleStats;
}

class ConsoleOutput implements ConsolePlugin {
  readonly name = 'console';
  /** Set only in tree mode: the host calls no `onStart` at all in JSON-lines mode. */
  readonly onStart: ((step: Step) => void) | undefined;
  private readonly traces = new Map<string, TraceState>();
  /** Traces dropped for space; their later steps are dropped too rather than printed as fragments. */
  private readonly evicted = new Set<string>();
  /** Traces with a step that may be a root, to look at in the next batch. */
  private readonly ready = new Set<string>();
  private lines: Step[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private exported = 0;
  private failed = 0;
  private readonly dropped: Record<DropReason, number> = {
    'trace-overflow': 0,
    'step-overflow': 0,
    'queue-full': 0,
    'render-error': 0,
  };

  constructor(private readonly options: ResolvedConsoleOptions) {
    this.onStart = options.format === 'tree' ? (step) => this.started(step) : undefined;
  }

  private started(step: Step): void {
    if (this.evicted.has(step.traceId)) return;
    this.trace(step.traceId).running.set(step.spanId, step);
  }

  onEnd(step: Step): void {
    if (this.options.format === 'jsonl') {
      if (this.lines.length >= this.options.maxQueuedLines) this.dropped['queue-full']++;
      else this.lines.push(step);
      this.schedule();
      return;
    }
    if (this.evicted.has(step.traceId)) {
      this.dropped['trace-overflow']++;
      return;
    }
    const state = this.trace(step.traceId);
    state.running.delete(step.spanId);
    // The tree is of steps: under an app span, a step hangs from the step enclosing that span.
    const parentStep = step.parentStepId ?? step.parentSpanId;
    const waitsForParent = parentStep !== undefined && state.running.has(parentStep);
    // Over the limit, drop leaves only: a root or a parent of kept steps holds the tree together.
    if (
      waitsForParent &&
      state.ended.length >= this.options.maxStepsPerTrace &&
      !state.parents.has(step.spanId)
    ) {
      state.omitted++;
      this.dropped['step-overflow']++;
      return;
    }
    state.ended.push(step);
    if (parentStep !== undefined) state.parents.add(parentStep);
    if (!waitsForParent) {
      this.ready.add(step.traceId);
      this.schedule();
    }
  }

  /** The state of a trace, made on first sight; the oldest trace makes room when full. */
  private trace(traceId: string): TraceState {
    let state = this.traces.get(traceId);
    if (state) return state;
    if (this.traces.size >= this.options.maxOpenTraces) {
      const [oldestId, oldest] = this.traces.entries().next().value as [string, TraceState];
      this.traces.delete(oldestId);
      this.ready.delete(oldestId);
      this.dropped['trace-overflow'] += oldest.ended.length;
      this.evicted.add(oldestId);
      if (this.evicted.size > this.options.maxOpenTraces)
        this.evicted.delete(this.evicted.values().next().value!);
    }
    state = { ended: [], running: new Map(), parents: new Set(), omitted: 0 };
    this.traces.set(traceId, state);
    return state;
  }

  private schedule(): void {
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      this.drain();
    });
  }

  /** Renders and writes everything ready, in one write. */
  private drain(): void {
    let out = '';
    if (this.lines.length > 0) out += this.jsonLines();
    for (const traceId of this.ready) {
      const state = this.traces.get(traceId);
      if (state) out += this.printRoots(traceId, state);
    }
    this.ready.clear();
    this.write(out);
  }

  /** Prints every tree of the trace whose root is done, and forgets the trace once it is empty. */
  private printRoots(traceId: string, state: TraceState): string {
    const endedIds = new Set(state.ended.map((s) => s.spanId));
    const children = new Map<string, Step[]>();
    const roots: Step[] = [];
    for (const step of state.ended) {
      const parent = step.parentStepId ?? step.parentSpanId;
      if (parent !== undefined && (endedIds.has(parent) || state.running.has(parent))) {
        const list = children.get(parent);
        if (list) list.push(step);
        else children.set(parent, [step]);
      } else {
        roots.push(step);
      }
    }
    let out = '';
    const printed = new Set<Step>();
    roots.forEach((root, index) => {
      const tree: Step[] = [];
      const stack = [root];
      for (let step = stack.pop(); step; step = stack.pop()) {
        tree.push(step);
        printed.add(step);
        stack.push(...(children.get(step.spanId) ?? []));
      }
      const omitted = index === roots.length - 1 ? state.omitted : 0;
      out += this.render(traceId, tree, { omitted });
    });
    if (roots.length > 0) state.omitted = 0;
    state.ended = state.ended.filter((s) => !printed.has(s));
    state.parents = new Set(
      state.ended.flatMap((s) => {
        const parent = s.parentStepId ?? s.parentSpanId;
        return parent === undefined ? [] : [parent];
      }),
    );
    if (state.ended.length === 0 && state.running.size === 0) this.traces.delete(traceId);
    return out;
  }

  private render(traceId: string, steps: Step[], extra: { omitted?: number; incomplete?: boolean }): string {
    const ended = steps.filter((s) => s.endTime !== undefined).length;
    try {
      const text = renderTraceTree(steps, {
        colors: this.options.colors,
        width: this.options.width,
        showIds: this.options.showIds,
        ...extra,
      });
      this.exported += ended;
      return text;
    } catch (error) {
      // Rendering reads whatever the app stored on its steps; a surprise there costs one trace, not the process.
      this.failed++;
      this.dropped['render-error'] += ended;
      const message = error instanceof Error ? error.message : String(error);
      return `[spanchain] console plugin could not render trace ${traceId}: ${scrubSecrets(message)}\n`;
    }
  }

  private jsonLines(): string {
    const steps = this.lines;
    this.lines = [];
    let out = '';
    for (const step of steps) {
      try {
        const data = toData(step);
        out += `${safeStringify(data).text}\n`;
        this.exported++;
      } catch {
        this.failed++;
      }
    }
    return out;
  }

  private write(text: string): void {
    if (text === '') return;
    try {
      this.options.stream.write(text);
    } catch {
      // A closed or broken stream must not turn into an exception in the app's event loop.
      this.failed++;
    }
  }

  flush(_options?: HookOptions): Promise<void> {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.drain();
    return Promise.resolve();
  }

  /** Prints what is ready, then every trace whose root never ended, marked incomplete. */
  shutdown(_options?: HookOptions): Promise<void> {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.drain();
    let out = '';
    for (const [traceId, state] of this.traces) {
      const steps = [...state.ended, ...state.running.values()];
      if (state.ended.length > 0)
        out += this.render(traceId, steps, { omitted: state.omitted, incomplete: true });
    }
    this.traces.clear();
    this.evicted.clear();
    this.write(out);
    return Promise.resolve();
  }

  stats(): ConsoleStats {
    let queued = this.lines.length;
    for (const state of this.traces.values()) queued += state.ended.length;
    return { exported: this.exported, queued, dropped: { ...this.dropped }, failed: this.failed };
  }
}

/** The step as plain data for a JSON line; an error's text is scrubbed of credentials. */
function toData(step: Step): Record<string, unknown> {
  const json = (step as { toJSON?: () => unknown }).toJSON;
  const data =
    typeof json === 'function'
      ? { ...(json.call(step) as Record<string, unknown>) }
      : { ...(step as object) };
  const error = data.error as { message?: unknown; stack?: unknown } | undefined;
  if (error && typeof error === 'object') {
    data.error = {
      ...error,
      ...(typeof error.message === 'string' ? { message: scrubSecrets(error.message) } : {}),
      ...(typeof error.stack === 'string' ? { stack: scrubSecrets(error.stack) } : {}),
    };
  }
  return data;
}

/**
 * Makes the console plugin: a waterfall of each trace on stderr when its root step ends
 * (coloured on a TTY), or one JSON line per step with `format: 'jsonl'` for piping. Options
 * are checked at once; the environment is read here and only here (see `resolveConsoleOptions`).
 *
 * @example
 * const tracer = createTracer({ plugins: [createConsolePlugin({ width: 32 })] });
 * // or: createTracer({ plugins: ['console'] }) with SPANCHAIN_CONSOLE_FORMAT=jsonl
 */
export function createConsolePlugin(options?: ConsolePluginOptions): ConsolePlugin {
  return new ConsoleOutput(resolveConsoleOptions(options));
}
