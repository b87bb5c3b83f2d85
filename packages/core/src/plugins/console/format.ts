/**
 * Small text helpers of the console waterfall: ANSI styles, durations, counts and money.
 * Everything here is pure and total: odd input (NaN, a string where a number was expected)
 * gives a placeholder, never a throw, because it formats whatever the app put on a step.
 */
import type { StepKind } from '../../step.js';

/** SGR codes of the 16-colour palette, which every terminal that shows colour understands. */
const SGR = {
  bold: '1',
  dim: '2',
  red: '31',
  green: '32',
  yellow: '33',
  blue: '34',
  magenta: '35',
  cyan: '36',
  gray: '90',
  brightRed: '91',
  brightBlue: '94',
  brightMagenta: '95',
  brightCyan: '96',
} as const;

export type Style = keyof typeof SGR;

/** Wraps `text` in ANSI codes when colours are on; returns it untouched otherwise. */
export function paint(colors: boolean, style: Style | undefined, text: string): string {
  if (!colors || style === undefined || text === '') return text;
  return `\u001b[${SGR[style]}m${text}\u001b[0m`;
}

/** One colour per kind, so a waterfall's structure reads at a glance; red is kept for errors. */
export const KIND_STYLE: Record<StepKind, Style> = {
  agent: 'brightMagenta',
  chain: 'blue',
  retrieval: 'cyan',
  prompt: 'yellow',
  llm: 'magenta',
  tool: 'brightBlue',
  embedding: 'brightCyan',
  rerank: 'brightCyan',
  guardrail: 'brightRed',
  custom: 'gray',
};

/** A finite number, or undefined for anything else the app may have put in a numeric field. */
export function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** `2.1 ms` under 10 ms, `980 ms` under 10 s, `12.3 s` under 100 s, then `754 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  if (ms < 100_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 1000)} s`;
}

/** `1,234`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** `$0.0012`, `$1.25`, `<$0.0001`; other currencies as `0.0012 EUR`. */
export function formatMoney(amount: number, currency: string): string {
  let digits: string;
  if (amount === 0) digits = '0';
  else if (Math.abs(amount) >= 1) digits = amount.toFixed(2);
  else if (Math.abs(amount) >= 0.0001) digits = amount.toFixed(4);
  else return currency === 'USD' ? '<$0.0001' : `<0.0001 ${currency}`;
  return currency === 'USD' ? `$${digits}` : `${digits} ${currency}`;
}

/** Text length in terminal cells, counting code points (box drawing and glyphs are one cell). */
export function cells(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Cuts `text` to `max` cells, ending with `…` when something was cut. */
export function cut(text: string, max: number): string {
  if (cells(text) <= max) return text;
  return `${Array.from(text)
    .slice(0, Math.max(0, max - 1))
    .join('')}…`;
}

/** The first line of a message, cut to `max` cells. */
export function firstLine(text: string, max: number): string {
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  return cut(line.trim(), max);
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/**
 * A bar of `width` cells for the interval [start, end] within [0, total]: it begins in the
 * cell where the step started, is as long as the step lasted, and its last cell is an
 * eighth-block, so short steps still differ. Every step gets at least a sliver.
 *
 * @example durationBar(250, 750, 1000, 8) // '  ████  '
 */
export function durationBar(start: number, end: number, total: number, width: number): string {
  const scale = total > 0 ? width / total : 0;
  const from = Math.min(width - 1, Math.max(0, Math.floor(start * scale)));
  // The length shows the duration; the start is rounded down to a cell, so the end may be up to one cell early.
  const length = Math.max(1 / 8, Math.min(width - from, (end - start) * scale));
  let full = Math.floor(length);
  let eighths = Math.round((length - full) * 8);
  if (eighths === 8) {
    full++;
    eighths = 0;
  }
  const bar = '█'.repeat(full) + (EIGHTHS[eighths] ?? '');
  return `${' '.repeat(from)}${bar}`.padEnd(width, ' ');
}
