/**
 * Pattern masking inside strings, and a copy-on-write walk that applies it to every string of a
 * value. Every quantifier is bounded or follows a fixed prefix, so no pattern backtracks
 * catastrophically on long input.
 */
import { REDACTED } from './options.js';

export const REDACTED_EMAIL = '[REDACTED:email]';
export const REDACTED_KEY = '[REDACTED:key]';

const EMAIL = /[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}\b/g;

const API_KEY = new RegExp(
  [
    // OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), Langfuse (sk-lf-, pk-lf-), Stripe (sk_live_)
    String.raw`\b(?:sk|pk|rk)[-_](?:[A-Za-z]{2,8}[-_])?[A-Za-z0-9_-]{16,}`,
    // AWS access key ids
    String.raw`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`,
    // GitHub tokens
    String.raw`\bgh[pousr]_[A-Za-z0-9]{30,}`,
    String.raw`\bgithub_pat_[A-Za-z0-9_]{30,}`,
    // Google API keys
    String.raw`\bAIza[0-9A-Za-z_-]{35}`,
    // Slack tokens
    String.raw`\bxox[abposr]-[A-Za-z0-9-]{10,}`,
    // LangSmith keys
    String.raw`\blsv2_[A-Za-z0-9_]{16,}`,
    // JSON web tokens
    String.raw`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`,
  ].join('|'),
  'g',
);

/** `Authorization: Bearer …`: the scheme stays readable, the credential goes. */
const AUTH_SCHEME = /\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi;

/** `api_key=…`, `"password": "…"`: the name stays, the value (up to its closing quote) goes. */
const ASSIGNMENT =
  /\b((?:api[_-]?key|access[_-]?token|refresh[_-]?token|client[_-]?secret|secret[_-]?key|password|passwd)["']?\s{0,4}[:=]\s{0,4})(?!["']?\[REDACTED)("[^"\n]{1,512}"|'[^'\n]{1,512}'|[^\s"',;&]{6,})/gi;

function maskAssignment(_match: string, name: string, value: string): string {
  const quote = value[0] === '"' || value[0] === "'" ? value[0] : '';
  return `${name}${quote}${REDACTED_KEY}${quote}`;
}

export type Scrubber = (text: string) => string;

export interface PatternOptions {
  emails?: boolean;
  apiKeys?: boolean;
  custom?: readonly RegExp[];
}

/** Builds the string scrubber of a policy, or undefined when it has no patterns. */
export function compileScrubber(patterns: PatternOptions | undefined): Scrubber | undefined {
  if (!patterns) return undefined;
  // Custom patterns get the global flag so every match is replaced, and their own copy so a
  // shared RegExp's `lastIndex` is never disturbed.
  const custom = (patterns.custom ?? [])
    .filter((p): p is RegExp => p instanceof RegExp)
    .map(
      (p) =>
        new RegExp(
          p.source,
          p.flags.includes('g') ? p.flags.replace('y', '') : `${p.flags.replace('y', '')}g`,
        ),
    );
  const emails = patterns.emails === true;
  const keys = patterns.apiKeys === true;
  if (!emails && !keys && custom.length === 0) return undefined;
  return (text) => {
    let out = text;
    if (keys) {
      out = out
        .replace(AUTH_SCHEME, `$1$2${REDACTED_KEY}`)
        .replace(API_KEY, REDACTED_KEY)
        .replace(ASSIGNMENT, maskAssignment);
    }
    if (emails && out.includes('@')) out = out.replace(EMAIL, REDACTED_EMAIL);
    for (const pattern of custom) out = out.replace(pattern, REDACTED);
    return out;
  };
}

/** Thrown when a value is too large or deep to scan; the caller masks the whole field. */
export class ScanLimitError extends Error {
  constructor() {
    super('value too large or too deep to scan for patterns');
    this.name = 'ScanLimitError';
  }
}

const MAX_NODES = 100_000;
const MAX_DEPTH = 64;
const CIRCULAR = '[Circular]';

interface ScanState {
  readonly scrub: Scrubber;
  hits: number;
  nodes: number;
  readonly ancestors: object[];
}

/**
 * Applies `scrub` to every string in `value` (object keys excepted). Returns `value` itself when
 * nothing matched; otherwise a copy in which only the containers on a path to a change are new
 * (class instances become plain objects, cycles become `'[Circular]'`). Binary data, dates and
 * regular expressions are left as they are. Throws {@link ScanLimitError} past 100,000 nodes or
 * 64 levels, and whatever a getter throws.
 *
 * @example scrubDeep({ note: 'mail a@b.io' }, scrubber) // { note: 'mail [REDACTED:email]' }
 */
export function scrubDeep(value: unknown, scrub: Scrubber): unknown {
  const state: ScanState = { scrub, hits: 0, nodes: 0, ancestors: [] };
  const out = scan(value, state, 0);
  return state.hits === 0 ? value : out;
}

function scan(value: unknown, s: ScanState, depth: number): unknown {
  if (typeof value === 'string') {
    const out = s.scrub(value);
    if (out !== value) s.hits++;
    return out;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (++s.nodes > MAX_NODES || depth > MAX_DEPTH) throw new ScanLimitError();
  if (s.ancestors.includes(value)) return CIRCULAR;
  if (
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    value instanceof Date ||
    value instanceof RegExp
  ) {
    return value;
  }
  s.ancestors.push(value);
  try {
    if (Array.isArray(value)) return scanArray(value, s, depth);
    if (value instanceof Map) return scanMap(value, s, depth);
    if (value instanceof Set) {
      const items = [...value];
      const scanned = scanArray(items, s, depth);
      return scanned === items ? value : new Set(scanned);
    }
    let out: Record<string, unknown> | undefined;
    const source = value as Record<string, unknown>;
    for (const key of Object.keys(source)) {
      const before = source[key];
      const after = scan(before, s, depth + 1);
      if (after !== before) {
        out ??= { ...source };
        out[key] = after;
      }
    }
    return out ?? value;
  } finally {
    s.ancestors.pop();
  }
}

function scanArray(items: readonly unknown[], s: ScanState, depth: number): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const before = items[i];
    const after = scan(before, s, depth + 1);
    if (after !== before) {
      out ??= items.slice();
      out[i] = after;
    }
  }
  return out ?? (items as unknown[]);
}

function scanMap(map: Map<unknown, unknown>, s: ScanState, depth: number): Map<unknown, unknown> {
  let changed = false;
  const entries: [unknown, unknown][] = [];
  for (const [key, before] of map) {
    const scannedKey = scan(key, s, depth + 1);
    const after = scan(before, s, depth + 1);
    if (scannedKey !== key || after !== before) changed = true;
    entries.push([scannedKey, after]);
  }
  return changed ? new Map(entries) : map;
}
