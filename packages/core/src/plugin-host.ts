import type { ErrorReporter } from './error-handler.js';
import type { FlushReport, HookOptions, Plugin, PluginStats } from './plugin.js';
import { scrubSecrets } from './secrets.js';
import type { Step } from './step.js';

type Hook = 'onStart' | 'onEnd' | 'flush' | 'shutdown';

interface Slot {
  plugin: Plugin;
  received: number;
  hookErrors: number;
}

const TIMEOUT = Symbol('timeout');

function after(ms: number): { promise: Promise<typeof TIMEOUT>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<typeof TIMEOUT>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms), TIMEOUT);
    timer.unref();
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

  constructor(private readonly errors: ErrorReporter) {}

  add(plugin: Plugin): void {
    const slot = { plugin, received: 0, hookErrors: 0 };
    this.slots.push(slot);
    if (typeof plugin.onStart === 'function') this.startSlots = [...this.startSlots, slot];
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

  private call(slot: Slot, hook: Hook, argument: unknown): unknown {
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
  async settle(hook: 'flush' | 'shutdown', deadline: number): Promise<FlushReport['plugins']> {
    const options: HookOptions = { deadline };
    const timer = after(deadline - Date.now());
    const entries = await Promise.all(
      this.slots.map(async (slot) => {
        let outcome: unknown;
        try {
          outcome = await Promise.race([Promise.resolve(this.call(slot, hook, options)), timer.promise]);
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
