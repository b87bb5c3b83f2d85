// The accounting identity every plugin's counters must keep, at any moment `stats()` is read:
// received = exported + Σ dropped (by reason) + queued, where `queued` includes what is in flight
// (both plugin families count a batch as queued until its request settles).
import type { PluginStats } from '@spanchain/core';

export function droppedTotal(p: Pick<PluginStats, 'dropped'>): number {
  return Object.values(p.dropped).reduce((a, b) => a + b, 0);
}

/** received − (exported + Σ dropped + queued): 0 when the identity holds. */
export function identityGap(p: PluginStats): number {
  return p.received - (p.exported + droppedTotal(p) + p.queued);
}

/** `otel 16000 = 15000 exported + 1000 dropped {queue-full: 1000} + 0 queued`. */
export function describeAccounts(p: PluginStats): string {
  const reasons = Object.entries(p.dropped)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  return `${p.name} ${p.received} = ${p.exported} exported + ${droppedTotal(p)} dropped {${reasons}} + ${p.queued} queued`;
}
