// One line per test with its figure, prefixed so that a run's figures can be grepped out of the
// log: `[reliability] outage: p99 traced 1.02× untraced, heap +12 MB, delivered 20000/20000 …`.
import { PROFILE } from './profile.js';

export function report(name: string, figure: string): void {
  console.log(`[reliability] ${name} (${PROFILE.name}): ${figure}`);
}

/** `1234567` → `1.23M`, `4200` → `4.2k`. */
export function count(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export const ms = (n: number): string => `${n < 10 ? n.toFixed(2) : Math.round(n)} ms`;
export const mib = (n: number): string => `${n >= 0 ? '+' : ''}${n.toFixed(1)} MiB`;

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
