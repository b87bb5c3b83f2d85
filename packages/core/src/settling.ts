import type { StepRecord } from './step-record.js';

/**
 * Steps whose own work is over but whose middleware (code after `next()`) is still running.
 * `flush()` waits for them, up to its deadline, before it asks the plugins to flush.
 */
export class Settling {
  private readonly steps = new Set<StepRecord>();
  private waiters: (() => void)[] = [];

  add(step: StepRecord): void {
    this.steps.add(step);
  }

  delete(step: StepRecord): void {
    if (this.steps.delete(step) && this.steps.size === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves true once none are left, or false at the deadline (epoch ms). */
  async drained(deadline: number): Promise<boolean> {
    if (this.steps.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<true>((resolve) => this.waiters.push(() => resolve(true))),
      // Not unref'd, like the plugins' deadline: an awaited flush keeps the process alive until it ends.
      new Promise<false>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), false);
      }),
    ]);
    clearTimeout(timer);
    return drained;
  }
}
