import type { ErrorReporter } from './error-handler.js';
import { isValidSpanId, isValidTraceId } from './ids.js';
import type { FlushReport, HookOptions, Plugin, PluginStats, RemoteParent } from './plugin.js';
import { scrubSecrets } from './secrets.js';
import type { Step } from './step.js';

type Hook = 'onStart' | 'onEnd' | 'flush' | 'shutdown' | 'inject' | 'extract' | 'attach';

/** Headers only the core writes. */
const RESERVED_HEADERS = new Set(['traceparent', 'tracestate']);

interface Slot {
  plugin: Plugin;
  received: number;
  hookErrors: number;
}

const TIMEOUT = Symbol('timeout');

/**
 * The deadline of a flush or shutdown. Not unref'd: while the app awaits one, the process must stay
 * alive until the plugins settle or the deadline passes, even when all a plugin waits on is a timer
 * of its own that it unref'd (a retry backoff); otherwise Node exits with the promise unsettled and
 * what the plugin still held is lost. It is cleared as soon as the plugins have settled.
 */
function after(ms: number): { promise: Promise<typeof TIMEOUT>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<typeof TIMEOUT>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms), TIMEOUT);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * The one place that calls plugins: fan-out, error isolation, counters and deadlines.
 * Plugins named by string may still be loading; they are added with `add()` when ready.
 */
export class PluginHost {
  private readonly slots: Slot[] = [];
  private startSlots: Slot[] = [];
  private injectSlots: Slot[] = [];
  private extractSlots: Slot[] = [];

  constructor(private readonly errors: ErrorReporter) {}

  add(plugin: Plugin): void {
    const slot = { plugin, received: 0, hookErrors: 0 };
    this.slots.push(slot);
    if (typeof plugin.attach === 'function') this.call(slot, 'attach', { errors: this.errors });
    if (typeof plugin.onStart === 'function') this.startSlots = [...this.startSlots, slot];
    if (typeof plugin.inject === 'function') this.injectSlots = [...this.injectSlots, slot];
    if (typeof plugin.extract === 'function') this.extractSlots = [...this.extractSlots, slot];
  }

  get injects(): boolean {
    return this.injectSlots.length > 0;
  }

  get extracts(): boolean {
    return this.extractSlots.length > 0;
  }

  /**
   * The plugins' own propagation headers for `step`. `traceparent`/`tracestate` stay the core's;
   * `baggage` values of several plugins are joined as W3C baggage members.
   */
  inject(step: Step): Record<string, string> {
    const out: Record<string, string> = {};
    for (const slot of this.injectSlots) {
      const headers: Record<string, string> = {};
      try {
        slot.plugin.inject!(step, headers);
      } catch (error) {
        this.failed(slot, 'inject', error);
        continue;
      }
      for (const [rawName, value] of Object.entries(headers)) {
        const name = rawName.toLowerCase();
        if (typeof value !== 'string' || value === '' || RESERVED_HEADERS.has(name)) continue;
        out[name] = name === 'baggage' && out.baggage ? `${out.baggage},${value}` : value;
      }
    }
    return out;
  }

  /** The first valid parent a plugin reads from its own headers; every plugin is asked. */
  extract(get: (name: string) => string | undefined, current?: RemoteParent): RemoteParent | undefined {
    let found: RemoteParent | undefined;
    for (const slot of this.extractSlots) {
      let answer: RemoteParent | undefined;
      try {
        answer = slot.plugin.extract!(get, current);
      } catch (error) {
        this.failed(slot, 'extract', error);
        continue;
      }
      if (answer === undefined || answer === null || found !== undefined) continue;
      if (isValidTraceId(answer.traceId) && isValidSpanId(answer.spanId)) found = answer;
      else
        this.errors.warn(`plugin:${slot.plugin.name}.extract`, 'returned a parent with invalid ids; ignored');
    }
    return found;
  }

  get size(): number {
    return this.slots.length;
  }

  get wantsStart(): boolean {
    return this.startSlots.length > 0;
  }

  plugins(): readonly Plugin[] {
    return this.slots.map((s) => s.plugin);
  }

  /**
   * Calls a hook inside the guard. A synchronous throw is counted and reported, then swallowed
   * (`rethrow` false) or thrown again for the caller to record as the hook's outcome.
   */
  private call(slot: Slot, hook: Hook, argument: unknown, rethrow = false): unknown {
    try {
      const fn = slot.plugin[hook] as ((arg: unknown) => unknown) | undefined;
      if (typeof fn !== 'function') return undefined;
      const result = fn.call(slot.plugin, argument);
      if (isThenable(result)) {
        return Promise.resolve(result).catch((error: unknown) => {
          slot.hookErrors++;
          this.errors.report(`plugin:${slot.plugin.name}.${hook}`, error);
          throw error;
        });
      }
      return result;
    } catch (error) {
      slot.hookErrors++;
      this.errors.report(`plugin:${slot.plugin.name}.${hook}`, error);
      if (rethrow) throw error;
      return undefined;
    }
  }

  start(step: Step): void {
    for (const slot of this.startSlots) {
      try {
        slot.plugin.onStart!(step);
      } catch (error) {
        this.failed(slot, 'onStart', error);
      }
    }
  }

  /** The hot path: called for every delivered step, so no generic dispatch here. */
  end(step: Step): void {
    for (const slot of this.slots) {
      slot.received++;
      try {
        const result: unknown = slot.plugin.onEnd(step);
        if (result !== undefined && isThenable(result)) {
          Promise.resolve(result).catch((error: unknown) => this.failed(slot, 'onEnd', error));
        }
      } catch (error) {
        this.failed(slot, 'onEnd', error);
      }
    }
  }

  private failed(slot: Slot, hook: Hook, error: unknown): void {
    slot.hookErrors++;
    this.errors.report(`plugin:${slot.plugin.name}.${hook}`, error);
  }

  /** Calls `hook` on every plugin at once and waits until `deadline` at most. */
  async settle(
    hook: 'flush' | 'shutdown',
    deadline: number,
    settings: { skipShutdownPlugins?: boolean } = {},
  ): Promise<FlushReport['plugins']> {
    const options: HookOptions = { deadline };
    const timer = after(deadline - Date.now());
    const entries = await Promise.all(
      this.slots.map(async (slot) => {
        // Closing: a plugin with `shutdown` delivers there, with the whole deadline to itself.
        if (settings.skipShutdownPlugins && typeof slot.plugin.shutdown === 'function') {
          return [slot.plugin.name, { ok: true, timedOut: false }] as const;
        }
        let outcome: unknown;
        try {
          // A hook that throws at once has not flushed either: its outcome is the error.
          outcome = await Promise.race([
            Promise.resolve(this.call(slot, hook, options, true)),
            timer.promise,
          ]);
        } catch (error) {
          return [slot.plugin.name, { ok: false, timedOut: false, error: errorText(error) }] as const;
        }
        if (outcome === TIMEOUT) {
          this.errors.warn(`plugin:${slot.plugin.name}.${hook}`, `did not settle before its deadline`);
          return [slot.plugin.name, { ok: false, timedOut: true }] as const;
        }
        return [slot.plugin.name, { ok: true, timedOut: false }] as const;
      }),
    );
    timer.cancel();
    return Object.fromEntries(entries);
  }

  stats(): PluginStats[] {
    return this.slots.map((slot) => {
      let own: ReturnType<NonNullable<Plugin['stats']>> = {};
      try {
        own = slot.plugin.stats?.() ?? {};
      } catch (error) {
        this.errors.report(`plugin:${slot.plugin.name}.stats`, error);
      }
      return {
        name: slot.plugin.name,
        received: slot.received,
        hookErrors: slot.hookErrors,
        exported: own.exported ?? 0,
        queued: own.queued ?? 0,
        dropped: { ...own.dropped },
        failed: own.failed ?? 0,
      };
    });
  }
}

function errorText(error: unknown): string {
  return scrubSecrets(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}
