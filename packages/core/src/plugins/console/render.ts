/**
 * The waterfall: a pure function from the steps of one trace to text. No I/O, no clock unless
 * a step is still running, and ANSI codes only when asked, so tests assert on plain text.
 */
import type { Step } from '../../step.js';
import { costOf, type Detail, stepDetails, tokensOf, usageOf } from './details.js';
import {
  cells,
  cut,
  durationBar,
  finite,
  formatCount,
  formatDuration,
  formatMoney,
  KIND_STYLE,
  paint,
} from './format.js';

export interface RenderOptions {
  colors: boolean;
  /** Width of the duration bar, in cells. */
  width: number;
  /** Print the trace id on the header line. Default true. */
  showIds?: boolean;
  /** Steps of this trace left out by the per-trace limit, said on a last line. */
  omitted?: number;
  /** The trace's root never ended (printed at shutdown): said on the header line. */
  incomplete?: boolean;
  /** End of the time span for steps still running. Default `Date.now()`. */
  now?: number;
}

interface Node {
  step: Step;
  children: Node[];
}

/** The name and kind part of a line never grows past this; longer names are cut with `…`. */
const MAX_LABEL_CELLS = 56;

const GLYPH = { ok: '✓', error: '✗', running: '◌', unset: '·' } as const;

function glyph(step: Step): { text: string; style: 'green' | 'red' | 'yellow' | 'dim' } {
  if (step.endTime === undefined) return { text: GLYPH.running, style: 'yellow' };
  if (step.status === 'error') return { text: GLYPH.error, style: 'red' };
  if (step.status === 'ok') return { text: GLYPH.ok, style: 'green' };
  return { text: GLYPH.unset, style: 'dim' };
}

/** Steps as a forest, children in start order; a step whose parent is not given is a root. */
function forest(steps: readonly Step[]): Node[] {
  const ordered = steps
    .map((step, index) => ({ step, index }))
    .sort((a, b) => a.step.startTime - b.step.startTime || a.index - b.index);
  const nodes = new Map<string, Node>();
  for (const { step } of ordered) nodes.set(step.spanId, { step, children: [] });
  const roots: Node[] = [];
  for (const node of nodes.values()) {
    const parentId = node.step.parentStepId ?? node.step.parentSpanId;
    const parent = parentId === undefined ? undefined : nodes.get(parentId);
    if (parent && parent !== node) parent.children.push(node);
    else roots.push(node);
  }
  return roots;
}

interface Row {
  step: Step;
  /** Tree branches before the step (`│  ├─ `). */
  branch: string;
}

function flatten(nodes: Node[], prefix: string, depth: number, rows: Row[]): void {
  nodes.forEach((node, index) => {
    const last = index === nodes.length - 1;
    rows.push({ step: node.step, branch: depth === 0 ? '' : `${prefix}${last ? '└─ ' : '├─ '}` });
    const below = depth === 0 ? '' : `${prefix}${last ? '   ' : '│  '}`;
    flatten(node.children, below, depth + 1, rows);
  });
}

interface Totals {
  tokens: number;
  cost: number;
  currency: string | undefined;
}

/**
 * Tokens and cost of the trace. A retried or fallen-back step is a container whose attempts are
 * its children; when an attempt carries usage the container's own is not counted again.
 */
function totals(steps: readonly Step[]): Totals {
  const attemptParents = new Set<string>();
  for (const step of steps) {
    if (step.attempt && step.parentSpanId && (usageOf(step) || costOf(step)))
      attemptParents.add(step.parentSpanId);
  }
  const sum: Totals = { tokens: 0, cost: 0, currency: undefined };
  for (const step of steps) {
    if (attemptParents.has(step.spanId)) continue;
    const usage = usageOf(step);
    if (usage) sum.tokens += tokensOf(usage);
    const cost = costOf(step);
    if (cost && (sum.currency === undefined || sum.currency === cost.currency)) {
      sum.currency = cost.currency;
      sum.cost += cost.total;
    }
  }
  return sum;
}

function joinDetails(details: Detail[], colors: boolean): string {
  return details.map((d) => paint(colors, d.style, d.text)).join(paint(colors, 'dim', ' · '));
}

function header(
  roots: Node[],
  steps: readonly Step[],
  span: { start: number; end: number },
  options: RenderOptions,
): string {
  const { colors } = options;
  const root = roots[0]!.step;
  const name = typeof root.trace?.name === 'string' && root.trace.name !== '' ? root.trace.name : root.name;
  const parts: Detail[] = [{ text: formatDuration(span.end - span.start) }];
  const sum = totals(steps);
  if (sum.tokens > 0) parts.push({ text: `${formatCount(sum.tokens)} tokens` });
  if (sum.currency !== undefined) parts.push({ text: formatMoney(sum.cost, sum.currency), style: 'green' });
  // Errors a retry or fallback recovered from are worth a mention, but not in alarm red.
  const errors = steps.filter((s) => s.status === 'error').length;
  if (errors > 0) {
    parts.push({
      text: `${errors} ${errors === 1 ? 'error' : 'errors'}`,
      style: root.status === 'error' ? 'red' : 'yellow',
    });
  }
  if (options.incomplete) parts.push({ text: 'incomplete: root still running', style: 'yellow' });
  let line = `${paint(colors, 'bold', cut(name, MAX_LABEL_CELLS))}  ${joinDetails(parts, colors)}`;
  if (options.showIds !== false) line += `  ${paint(colors, 'dim', `trace ${root.traceId}`)}`;
  return line;
}

/**
 * Renders the steps of one trace as a waterfall: a header line (trace name, duration, tokens,
 * cost, trace id), then one line per step — status, kind, name, duration, a bar placed in the
 * trace's time span, and details — children under their parent in start order.
 *
 * @example
 * process.stderr.write(renderTraceTree(memory.steps, { colors: false, width: 24 }));
 * // answer  1234 ms · 1,530 tokens · $0.0031  trace 4bf9…
 * // ✓ chain     answer          1234 ms  ████████████████████████
 * // ├─ ✓ retrieval search        120 ms  ██▍                       5 docs
 */
export function renderTraceTree(steps: readonly Step[], options: RenderOptions): string {
  if (steps.length === 0) return '';
  const { colors, width } = options;
  const roots = forest(steps);
  const clock = finite(options.now) ?? Date.now();
  // Loops rather than Math.min(...spread): a trace may hold more steps than a call takes arguments.
  let start = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  for (const step of steps) {
    start = Math.min(start, step.startTime);
    end = Math.max(end, finite(step.endTime) ?? Math.max(clock, step.startTime));
  }
  const total = Math.max(end - start, 1e-6);

  const rows: Row[] = [];
  flatten(roots, '', 0, rows);
  const kindCells = rows.reduce((n, r) => Math.max(n, r.step.kind.length), 0);
  const labels = rows.map((row) => {
    const head = `${row.branch}${glyph(row.step).text} ${row.step.kind.padEnd(kindCells)} `;
    return { head, name: cut(row.step.name, Math.max(8, MAX_LABEL_CELLS - cells(head))) };
  });
  const labelCells = labels.reduce((n, l) => Math.max(n, cells(l.head) + cells(l.name)), 0);

  const lines = [header(roots, steps, { start, end }, options)];
  rows.forEach((row, index) => {
    const { step, branch } = row;
    const label = labels[index]!;
    const mark = glyph(step);
    const failed = step.status === 'error';
    const stepEnd = finite(step.endTime) ?? end;
    const bar = durationBar(step.startTime - start, stepEnd - start, total, width);
    const details = joinDetails(stepDetails(step), colors);
    const padding = ' '.repeat(labelCells - cells(label.head) - cells(label.name));
    const line =
      paint(colors, 'dim', branch) +
      paint(colors, mark.style, mark.text) +
      ' ' +
      paint(colors, KIND_STYLE[step.kind] ?? 'gray', step.kind.padEnd(kindCells)) +
      ' ' +
      paint(colors, failed ? 'red' : undefined, label.name) +
      padding +
      '  ' +
      formatDuration(stepEnd - step.startTime).padStart(7) +
      '  ' +
      paint(colors, failed ? 'red' : (KIND_STYLE[step.kind] ?? 'gray'), bar) +
      (details ? `  ${details}` : '');
    lines.push(line.trimEnd());
  });
  const omitted = finite(options.omitted) ?? 0;
  if (omitted > 0) {
    lines.push(
      paint(colors, 'dim', `… ${formatCount(omitted)} more ${omitted === 1 ? 'step' : 'steps'} not shown`),
    );
  }
  return `${lines.join('\n')}\n`;
}
