// @ts-check
import { median } from './stats.mjs';

/**
 * One contender's summary: the median of each figure across rounds; `delivered` and `created`
 * summed over rounds (every process flushes before it reports).
 *
 * @typedef {object} Peer
 * @property {string} name
 * @property {string} description
 * @property {number} usPerStep
 * @property {number} overheadUsPerStep usPerStep − the baseline's usPerStep
 * @property {number} cpuUsPerStep
 * @property {number} cpuOverheadUsPerStep cpuUsPerStep − the baseline's cpuUsPerStep
 * @property {number | null} mainCpuUsPerStep the main thread's CPU time alone (Linux; null elsewhere)
 * @property {number | null} mainCpuOverheadUsPerStep mainCpuUsPerStep − the baseline's
 * @property {number} p50Us latency of one pipeline (5 steps)
 * @property {number} p99Us
 * @property {number} p999Us
 * @property {number} heapDeltaMb heap after the run and its flush − before (full GCs)
 * @property {number} heapRunDeltaMb heap after the run, before its flush − before (full GCs)
 * @property {number} rssRunMb RSS after the run
 * @property {number} rssFlushMb RSS after the flush
 * @property {number} flushMs
 * @property {number | null} delivered null when the contender records nothing
 * @property {number} created
 * @property {number[]} usPerStepRounds each round's µs/step, in round order
 * @property {number} [achievedRate] paced runs: median steps per second reached
 */

/**
 * Summarises the rounds of every contender against the baseline's median µs/step.
 *
 * @example const peers = summarise(rounds, descriptions, 'untraced');
 * @param {Map<string, import('./worker.mjs').RoundResult[]>} rounds by contender, in table order
 * @param {Map<string, string>} descriptions
 * @param {string} baseline
 * @returns {Peer[]}
 */
export function summarise(rounds, descriptions, baseline) {
  /** @param {import('./worker.mjs').RoundResult[]} results @param {(r: import('./worker.mjs').RoundResult) => number} pick */
  const mid = (results, pick) => median(results.map(pick));
  const base = mid(rounds.get(baseline) ?? [], (r) => r.usPerStep);
  const cpuBase = mid(rounds.get(baseline) ?? [], (r) => r.cpuUsPerStep);
  /** @param {import('./worker.mjs').RoundResult[]} results */
  const mainOf = (results) =>
    results.length > 0 && results.every((r) => typeof r.mainCpuUsPerStep === 'number')
      ? mid(results, (r) => /** @type {number} */ (r.mainCpuUsPerStep))
      : null;
  const mainBase = mainOf(rounds.get(baseline) ?? []);
  return [...rounds].map(([name, results]) => {
    const usPerStep = mid(results, (r) => r.usPerStep);
    const cpuUsPerStep = mid(results, (r) => r.cpuUsPerStep);
    const mainCpuUsPerStep = mainOf(results);
    const delivered = results.some((r) => r.delivered === null)
      ? null
      : results.reduce((n, r) => n + /** @type {number} */ (r.delivered), 0);
    return {
      name,
      description: descriptions.get(name) ?? '',
      usPerStep,
      overheadUsPerStep: usPerStep - base,
      cpuUsPerStep,
      cpuOverheadUsPerStep: cpuUsPerStep - cpuBase,
      mainCpuUsPerStep,
      mainCpuOverheadUsPerStep:
        mainCpuUsPerStep === null || mainBase === null ? null : mainCpuUsPerStep - mainBase,
      p50Us: mid(results, (r) => r.p50Us),
      p99Us: mid(results, (r) => r.p99Us),
      p999Us: mid(results, (r) => r.p999Us),
      heapDeltaMb: mid(results, (r) => r.heapDeltaMb),
      heapRunDeltaMb: mid(results, (r) => r.heapRunDeltaMb),
      rssRunMb: mid(results, (r) => r.rssRunMb),
      rssFlushMb: mid(results, (r) => r.rssFlushMb),
      flushMs: mid(results, (r) => r.flushMs),
      delivered,
      created: results.reduce((n, r) => n + r.created, 0),
      usPerStepRounds: results.map((r) => r.usPerStep),
      ...(results[0]?.achievedRate === undefined
        ? {}
        : { achievedRate: mid(results, (r) => r.achievedRate ?? 0) }),
    };
  });
}

/** @param {number} value @param {number} digits */
const fixed = (value, digits) => (Number.isFinite(value) ? value.toFixed(digits) : '—');
/** @param {number} value @param {number} digits */
const signed = (value, digits) => (value >= 0 ? '+' : '') + fixed(value, digits);

/**
 * Columns of the printed table. A new figure is one more entry here (and in `RoundResult`).
 *
 * @type {{ title: string, left?: boolean, cell(peer: Peer, baseline: string): string }[]}
 */
const COLUMNS = [
  { title: 'contender', left: true, cell: (p) => p.name },
  { title: 'µs/step', cell: (p) => fixed(p.usPerStep, 3) },
  {
    title: 'overhead µs/step',
    cell: (p, b) => (p.name === b ? '(baseline)' : signed(p.overheadUsPerStep, 3)),
  },
  { title: 'CPU µs/step', cell: (p) => fixed(p.cpuUsPerStep, 3) },
  {
    title: 'CPU overhead',
    cell: (p, b) => (p.name === b ? '(baseline)' : signed(p.cpuOverheadUsPerStep, 3)),
  },
  { title: 'p50 µs', cell: (p) => fixed(p.p50Us, 1) },
  { title: 'p99 µs', cell: (p) => fixed(p.p99Us, 1) },
  { title: 'p99.9 µs', cell: (p) => fixed(p.p999Us, 1) },
  { title: 'heap Δ MB run/flush', cell: (p) => `${signed(p.heapRunDeltaMb, 1)}/${signed(p.heapDeltaMb, 1)}` },
  { title: 'RSS MB run/flush', cell: (p) => `${fixed(p.rssRunMb, 0)}/${fixed(p.rssFlushMb, 0)}` },
  { title: 'flush ms', cell: (p) => fixed(p.flushMs, 1) },
  { title: 'delivered/created', cell: (p) => (p.delivered === null ? '—' : `${p.delivered}/${p.created}`) },
  {
    title: 'µs/step rounds min–max',
    cell: (p) => `${fixed(Math.min(...p.usPerStepRounds), 3)}–${fixed(Math.max(...p.usPerStepRounds), 3)}`,
  },
];

/**
 * Columns of the paced table: wall time per step is the pacing there, so CPU time is the cost.
 *
 * @type {typeof COLUMNS}
 */
const PACED_COLUMNS = [
  { title: 'contender', left: true, cell: (p) => p.name },
  { title: 'steps/s', cell: (p) => fixed(p.achievedRate ?? Number.NaN, 0) },
  ...COLUMNS.filter((c) => ['CPU µs/step', 'CPU overhead'].includes(c.title)),
  // What the app's own thread spends: the OTLP target is about this (GC helpers, libuv's pool and
  // any worker thread run beside it).
  {
    title: 'main-thread overhead',
    cell: (p, b) =>
      p.name === b
        ? '(baseline)'
        : p.mainCpuOverheadUsPerStep === null
          ? '—'
          : signed(p.mainCpuOverheadUsPerStep, 3),
  },
  ...COLUMNS.filter((c) =>
    [
      'p50 µs',
      'p99 µs',
      'p99.9 µs',
      'heap Δ MB run/flush',
      'RSS MB run/flush',
      'flush ms',
      'delivered/created',
    ].includes(c.title),
  ),
  {
    title: 'dropped',
    cell: (p) => (p.delivered === null ? '—' : String(p.created - p.delivered)),
  },
];

/**
 * The table as aligned text lines.
 *
 * @example console.log(formatTable(peers, 'untraced'));
 * @param {Peer[]} peers
 * @param {string} baseline
 * @param {{ paced?: boolean }} [options] the paced run's columns
 */
export function formatTable(peers, baseline, options = {}) {
  const columns = options.paced ? PACED_COLUMNS : COLUMNS;
  const rows = [columns.map((c) => c.title), ...peers.map((p) => columns.map((c) => c.cell(p, baseline)))];
  const widths = columns.map((_, i) => Math.max(...rows.map((row) => /** @type {string} */ (row[i]).length)));
  /** @param {string[]} row */
  const line = (row) =>
    row
      .map((text, i) => {
        const width = /** @type {number} */ (widths[i]);
        return columns[i]?.left ? text.padEnd(width) : text.padStart(width);
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(/** @type {string[]} */ (rows[0])), rule, ...rows.slice(1).map(line)].join('\n');
}
