// Event-loop turn measurement shared by the transport tests: how long the main thread ran
// without yielding, by CPU time where Linux exposes it, so a shared CPU does not count.
import { readFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

/** CPU time of the calling thread in ms (Linux), or undefined where /proc is not available. */
function threadCpuMillis(): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}

/**
 * Watches event-loop turns (2 ms ticks). `maxTurn` is the most main-thread CPU time spent between
 * two ticks — what a turn that does not yield costs — measured from /proc where available, so
 * that time the thread waited for a shared CPU does not count. Elsewhere it falls back to wall
 * time minus GC pauses. `maxGap` is the longest wall-clock gap, for the record.
 */
export function watchEventLoop(): () => { maxTurn: number; maxGap: number; measure: 'cpu' | 'wall' } {
  const gaps: Array<{ from: number; to: number; cpu?: number }> = [];
  const gcs: Array<[number, number]> = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.duration]);
  });
  observer.observe({ entryTypes: ['gc'] });
  let last = performance.now();
  let lastCpu = threadCpuMillis();
  const tick = () => {
    const now = performance.now();
    const cpu = threadCpuMillis();
    gaps.push({
      from: last,
      to: now,
      ...(cpu !== undefined && lastCpu !== undefined && { cpu: cpu - lastCpu }),
    });
    last = now;
    lastCpu = cpu;
  };
  const timer = setInterval(tick, 2);
  return () => {
    tick(); // a loop blocked to the end shows here
    clearInterval(timer);
    for (const e of observer.takeRecords()) gcs.push([e.startTime, e.duration]);
    observer.disconnect();
    const measure = gaps.every((g) => g.cpu !== undefined) ? 'cpu' : 'wall';
    let maxTurn = 0;
    let maxGap = 0;
    for (const { from, to, cpu } of gaps) {
      const gc = gcs.filter(([at]) => at >= from && at < to).reduce((n, [, d]) => n + d, 0);
      maxGap = Math.max(maxGap, to - from);
      maxTurn = Math.max(maxTurn, measure === 'cpu' ? cpu! : to - from - gc);
    }
    return { maxTurn, maxGap, measure };
  };
}
