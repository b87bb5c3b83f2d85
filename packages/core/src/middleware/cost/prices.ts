/**
 * Built-in model prices and the pure cost arithmetic behind the cost middleware.
 *
 * Prices are USD per 1M tokens as published on the providers' public pricing pages as of
 * {@link PRICES_AS_OF}. They go stale: users correct or extend them with the cost middleware's
 * `prices` option, which is looked up before this table with the same name-matching rules.
 * Where a provider charges more above a context threshold (Gemini Pro over 200k/128k tokens,
 * Claude Sonnet 4/4.5 over 200k), the table holds the standard, lower tier.
 */
import type { Cost, Usage } from '../../step.js';

export interface ModelPrice {
  /** USD per 1M input tokens (uncached). */
  input: number;
  /** USD per 1M output tokens (reasoning tokens are part of output). */
  output: number;
  /** USD per 1M input tokens read from the prompt cache; defaults to `input` when absent. */
  cachedInput?: number;
  /** USD per 1M input tokens written to the prompt cache; defaults to `input` when absent. */
  cacheWrite?: number;
}

export type PriceTable = Readonly<Record<string, ModelPrice>>;

/** The month the built-in prices were last checked against the providers' pricing pages. */
export const PRICES_AS_OF = '2025-10';

// Shared objects so aliases of one model cannot drift apart.
const GPT_4_TURBO: ModelPrice = { input: 10, output: 30 };
const CLAUDE_SONNET: ModelPrice = { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75 };
const CLAUDE_OPUS: ModelPrice = { input: 15, output: 75, cachedInput: 1.5, cacheWrite: 18.75 };

const PRICES: Record<string, ModelPrice> = {
  // OpenAI
  'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 },
  // The first gpt-4o snapshot kept its launch price; without this key it would resolve to gpt-4o.
  'gpt-4o-2024-05-13': { input: 5, output: 15 },
  'gpt-4o-mini': { input: 0.15, output: 0.6, cachedInput: 0.075 },
  'gpt-4.1': { input: 2, output: 8, cachedInput: 0.5 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, cachedInput: 0.1 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, cachedInput: 0.025 },
  'gpt-4-turbo': GPT_4_TURBO,
  // GPT-4 Turbo previews are named like gpt-4 snapshots; prefix matching would price them as gpt-4.
  'gpt-4-1106-preview': GPT_4_TURBO,
  'gpt-4-0125-preview': GPT_4_TURBO,
  'gpt-4': { input: 30, output: 60 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  o1: { input: 15, output: 60, cachedInput: 7.5 },
  'o1-mini': { input: 1.1, output: 4.4, cachedInput: 0.55 },
  o3: { input: 2, output: 8, cachedInput: 0.5 },
  'o3-mini': { input: 1.1, output: 4.4, cachedInput: 0.55 },
  'o4-mini': { input: 1.1, output: 4.4, cachedInput: 0.275 },
  'gpt-5': { input: 1.25, output: 10, cachedInput: 0.125 },
  'gpt-5-mini': { input: 0.25, output: 2, cachedInput: 0.025 },
  'gpt-5-nano': { input: 0.05, output: 0.4, cachedInput: 0.005 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  'text-embedding-ada-002': { input: 0.1, output: 0 },

  // Anthropic
  'claude-3-5-sonnet': CLAUDE_SONNET,
  'claude-3-7-sonnet': CLAUDE_SONNET,
  'claude-sonnet-4': CLAUDE_SONNET,
  'claude-sonnet-4-5': CLAUDE_SONNET,
  'claude-opus-4': CLAUDE_OPUS,
  'claude-opus-4-1': CLAUDE_OPUS,
  'claude-3-opus': CLAUDE_OPUS,
  'claude-3-5-haiku': { input: 0.8, output: 4, cachedInput: 0.08, cacheWrite: 1 },
  'claude-haiku-4-5': { input: 1, output: 5, cachedInput: 0.1, cacheWrite: 1.25 },
  'claude-3-haiku': { input: 0.25, output: 1.25, cachedInput: 0.03, cacheWrite: 0.3 },

  // Google (Gemini API, prompts up to 200k tokens; 128k for 1.5)
  'gemini-2.5-pro': { input: 1.25, output: 10, cachedInput: 0.31 },
  'gemini-2.5-flash': { input: 0.3, output: 2.5, cachedInput: 0.075 },
  // Flash-Lite is several times cheaper than Flash, which prefix matching would otherwise pick.
  'gemini-2.5-flash-lite': { input: 0.1, output: 0.4, cachedInput: 0.025 },
  'gemini-2.0-flash': { input: 0.1, output: 0.4, cachedInput: 0.025 },
  'gemini-2.0-flash-lite': { input: 0.075, output: 0.3 },
  'gemini-1.5-pro': { input: 1.25, output: 5 },
  'gemini-1.5-flash': { input: 0.075, output: 0.3 },

  // Mistral
  'mistral-large': { input: 2, output: 6 },
  'mistral-small': { input: 0.2, output: 0.6 },

  // Cohere
  'command-r-plus': { input: 2.5, output: 10 },
  'command-r': { input: 0.15, output: 0.6 },
};

for (const price of Object.values(PRICES)) Object.freeze(price);

/** The built-in price table (frozen). Keys are normalised model names. */
export const DEFAULT_PRICES: PriceTable = Object.freeze(PRICES);

// ---------------------------------------------------------------------------------------------
// Model-name matching

// Everything up to the last slash is a route, not the model: `openai/`, `models/`,
// `projects/p/locations/l/publishers/google/models/`.
const PATH_PREFIX = /^.*\//;
// Bedrock ids carry letters-only dotted prefixes (`anthropic.`, `us.anthropic.`); requiring
// letters only keeps the dot in `gpt-4.1` and `gemini-1.5-pro` intact.
const DOTTED_PREFIX = /^(?:[a-z]+\.)+/;
// One snapshot or version suffix: `-2024-08-06`, `-20241022`, `-0613`, `-001`, `-latest`,
// Vertex's `@20240620`, Bedrock's `-v1:0`. Stripped one at a time so that a table key naming a
// specific snapshot is found before the family key.
const VERSION_SUFFIX = /(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{3,4}|-latest|-v\d+(?::\d+)?|@[^@]*)$/;

const CACHE_LIMIT = 1000;
const HYPHEN = 45;

/** Lower-cases and drops route and vendor prefixes, keeping any version suffix. */
function stripPrefix(name: string): string {
  return name.toLowerCase().replace(PATH_PREFIX, '').replace(DOTTED_PREFIX, '');
}

interface PriceIndex {
  /** Table keys as written. */
  readonly exact: ReadonlyMap<string, ModelPrice>;
  /** Keys after {@link stripPrefix}, so `GPT-4o` or `openai/gpt-4o` in overrides still match. */
  readonly normalised: ReadonlyMap<string, ModelPrice>;
  /** Normalised keys, longest first, so the first prefix hit is the most specific. */
  readonly byLength: readonly string[];
  /** Model name → result; `null` records a miss so unknown models are not searched again. */
  readonly cache: Map<string, ModelPrice | null>;
}

/**
 * Builds one index over the defaults with `overrides` laid on top, so at every matching stage an
 * override wins over a default, yet a more specific default (`gpt-4o-mini`) still beats a broader
 * override (`gpt-4o`) instead of being shadowed by it.
 */
function buildIndex(overrides: PriceTable | undefined): PriceIndex {
  const exact = new Map<string, ModelPrice>();
  const normalised = new Map<string, ModelPrice>();
  for (const table of overrides === undefined ? [DEFAULT_PRICES] : [DEFAULT_PRICES, overrides]) {
    for (const [key, price] of Object.entries(table)) {
      exact.set(key, price);
      normalised.set(stripPrefix(key), price);
    }
  }
  const byLength = [...normalised.keys()].sort((a, b) => b.length - a.length);
  return { exact, normalised, byLength, cache: new Map() };
}

function resolve(index: PriceIndex, model: string): ModelPrice | undefined {
  const exact = index.exact.get(model);
  if (exact !== undefined) return exact;

  const base = stripPrefix(model);
  if (base === '') return undefined;
  let name = base;
  for (;;) {
    const found = index.normalised.get(name);
    if (found !== undefined) return found;
    const shorter = name.replace(VERSION_SUFFIX, '');
    if (shorter === name || shorter === '') break;
    name = shorter;
  }

  // Requiring a `-` after the key keeps `gpt-4` from claiming `gpt-4o` and `gpt-4.1`.
  for (const key of index.byLength) {
    if (base.length > key.length && base.charCodeAt(key.length) === HYPHEN && base.startsWith(key)) {
      return index.normalised.get(key);
    }
  }
  return undefined;
}

const defaultIndex = buildIndex(undefined);
// Keyed by the caller's table so each overrides object gets its own index and cache, and both go
// away with it. Tables are treated as immutable once used.
const overrideIndexes = new WeakMap<PriceTable, PriceIndex>();

function indexFor(overrides: PriceTable | undefined): PriceIndex {
  if (overrides === undefined) return defaultIndex;
  let index = overrideIndexes.get(overrides);
  if (index === undefined) {
    index = buildIndex(overrides);
    overrideIndexes.set(overrides, index);
  }
  return index;
}

/**
 * Finds the price of a model: exact name, then normalised (lower-case; provider prefix such as
 * `openai/`, `anthropic.`, `models/` removed; date or version suffixes such as `-2024-08-06`,
 * `-20241022`, `-latest`, `@20240620`, `-v1:0`, `-001` removed one at a time), then the longest
 * table key that is a prefix of the normalised name at a `-` boundary. `overrides` are consulted
 * with the same rules and win over the defaults at each stage. Returns undefined when nothing
 * matches. Results are cached per overrides object, so pass the same object on every call.
 *
 * @example
 * findPrice('anthropic.claude-3-5-sonnet-20240620-v1:0'); // DEFAULT_PRICES['claude-3-5-sonnet']
 * findPrice('gpt-4o-mini-2024-07-18');                    // DEFAULT_PRICES['gpt-4o-mini']
 * findPrice('my-finetune', { 'my-finetune': { input: 1, output: 2 } }); // { input: 1, output: 2 }
 */
export function findPrice(model: string, overrides?: PriceTable): ModelPrice | undefined {
  const index = indexFor(overrides);
  const cached = index.cache.get(model);
  if (cached !== undefined) return cached ?? undefined;
  const price = resolve(index, model);
  // Model names come from responses and can be unbounded in variety; clearing is cheaper than
  // LRU bookkeeping and the working set refills after one call per model.
  if (index.cache.size >= CACHE_LIMIT) index.cache.clear();
  index.cache.set(model, price ?? null);
  return price;
}

// ---------------------------------------------------------------------------------------------
// Cost arithmetic

const PER_TOKEN = 1e-6;

// Rounding to 1e-10 USD hides float noise (0.1 + 0.2) while staying far below any real price.
function round(value: number): number {
  return Math.round(value * 1e10) / 1e10;
}

function isCount(value: number | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

// Providers occasionally report nonsense (negative, NaN); such counts contribute nothing.
function tokens(value: number | undefined): number {
  return isCount(value) && value > 0 ? value : 0;
}

/**
 * Cost of one call in USD. `inputTokens` includes the cached (`cachedInputTokens`) and cache-write
 * (`cacheCreationInputTokens`) tokens, so the uncached part is what remains (never below 0);
 * `outputTokens` already includes `reasoningTokens`, which are not added again. `input` in the
 * result covers uncached, cached and cache-write tokens. Returns undefined when usage has no
 * token counts. Amounts are rounded to 1e-10 USD.
 *
 * @example
 * computeCost(DEFAULT_PRICES['gpt-4o']!, { inputTokens: 1000, cachedInputTokens: 400, outputTokens: 200 });
 * // { input: 0.002, output: 0.002, total: 0.004, currency: 'USD' }
 */
export function computeCost(price: ModelPrice, usage: Usage): Cost | undefined {
  if (
    !isCount(usage.inputTokens) &&
    !isCount(usage.outputTokens) &&
    !isCount(usage.cachedInputTokens) &&
    !isCount(usage.cacheCreationInputTokens)
  ) {
    return undefined;
  }
  const cached = tokens(usage.cachedInputTokens);
  const cacheWrite = tokens(usage.cacheCreationInputTokens);
  const uncached = Math.max(0, tokens(usage.inputTokens) - cached - cacheWrite);

  const input =
    (uncached * price.input +
      cached * (price.cachedInput ?? price.input) +
      cacheWrite * (price.cacheWrite ?? price.input)) *
    PER_TOKEN;
  const output = tokens(usage.outputTokens) * price.output * PER_TOKEN;
  return { input: round(input), output: round(output), total: round(input + output), currency: 'USD' };
}
