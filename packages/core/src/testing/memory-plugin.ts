import type { HookOptions, Plugin, PluginCounters } from '../plugin.js';
import type { Step, StepKind, StepOf } from '../step.js';

/** A step and its children, for asserting on shapes. */
export interface StepTree {
  step: Step;
  children: StepTree[];
}

export interface MemoryPluginOptions {
  name?: string;
  /** Keep at most this many steps (oldest dropped and counted). Default unlimited. */
  limit?: number;
}

/**
 * A plugin that keeps ended steps in memory, for tests.
 *
 * @example
 * const memory = new MemoryPlugin();
 * const tracer = createTracer({ plugins: [memory] });
 * await tracer.llm('call', () => 'hi');
 * expect(memory.byKind('llm')).toHaveLength(1);
 */
export class MemoryPlugin implements Plugin {
  readonly name: string;
  /** Ended steps in the order they ended. */
  steps: Step[] = [];
  /** Steps in the order they started. */
  started: Step[] = [];
  flushes = 0;
  shutdowns = 0;
  private readonly limit: number;
  private droppedCount = 0;
  private waiters: { predicate: () => boolean; resolve: () => void }[] = [];

  constructor(options: MemoryPluginOptions = {}) {
    this.name = options.name ?? 'memory';
    this.limit = options.limit ?? Number.POSITIVE_INFINITY;
  }

  onStart(step: Step): void {
    if (this.started.length < this.limit) this.started.push(step);
  }

  onEnd(step: Step): void {
    this.steps.push(step);
    if (this.steps.length > this.limit) {
      this.steps.shift();
      this.droppedCount++;
    }
    if (this.waiters.length > 0) {
      this.waiters = this.waiters.filter((w) => {
        if (!w.predicate()) return true;
        w.resolve();
        return false;
      });
    }
  }

  flush(_options?: HookOptions): Promise<void> {
    this.flushes++;
    return Promise.resolve();
  }

  shutdown(_options?: HookOptions): Promise<void> {
    this.shutdowns++;
    return Promise.resolve();
  }

  stats(): Partial<PluginCounters> {
    return {
      exported: this.steps.length,
      queued: 0,
      dropped: this.droppedCount ? { limit: this.droppedCount } : {},
    };
  }

  clear(): void {
    this.steps = [];
    this.started = [];
  }

  byKind<K extends StepKind>(kind: K): StepOf<K>[] {
    return this.steps.filter((s) => s.kind === kind) as StepOf<K>[];
  }

  byName(name: string): Step[] {
    return this.steps.filter((s) => s.name === name);
  }

  /** The one step with this name; throws when there are none or several. */
  one(name: string): Step {
    const found = this.byName(name);
    if (found.length !== 1) throw new Error(`expected one step named "${name}", found ${found.length}`);
    return found[0]!;
  }

  /** Steps of one trace as trees, roots first (a root is a step whose parent is not here). */
  trees(traceId?: string): StepTree[] {
    const steps = traceId ? this.steps.filter((s) => s.traceId === traceId) : this.steps;
    const nodes = new Map<string, StepTree>();
    for (const step of [...steps].sort((a, b) => a.startTime - b.startTime))
      nodes.set(step.spanId, { step, children: [] });
    const roots: StepTree[] = [];
    for (const node of nodes.values()) {
      // Steps nest under their enclosing step, also when an app span sits between them.
      const parentId = node.step.parentStepId ?? node.step.parentSpanId;
      const parent = parentId ? nodes.get(parentId) : undefined;
      if (parent) parent.children.push(node);
      else roots.push(node);
    }
    return roots;
  }

  /** Resolves once `predicate` holds (checked now and after each ended step). */
  waitFor(predicate: (plugin: this) => boolean): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ predicate: () => predicate(this), resolve }));
  }
}

/** Renders trees as indented `kind name` lines, for readable assertions. */
export function formatTrees(trees: StepTree[], depth = 0): string[] {
  return trees.flatMap((t) => [
    `${'  '.repeat(depth)}${t.step.kind} ${t.step.name}`,
    ...formatTrees(t.children, depth + 1),
  ]);
}
