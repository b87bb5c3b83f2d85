import { describe, expect, it } from 'vitest';
import {
  computeCost,
  DEFAULT_PRICES,
  findPrice,
  type ModelPrice,
  PRICES_AS_OF,
  type PriceTable,
} from './prices.js';

function price(key: string): ModelPrice {
  const found = DEFAULT_PRICES[key];
  if (found === undefined) throw new Error(`no built-in price for ${key}`);
  return found;
}

describe('DEFAULT_PRICES', () => {
  it('is frozen, entries included', () => {
    expect(Object.isFrozen(DEFAULT_PRICES)).toBe(true);
    for (const entry of Object.values(DEFAULT_PRICES)) expect(Object.isFrozen(entry)).toBe(true);
    expect(() => {
      (DEFAULT_PRICES as Record<string, ModelPrice>)['gpt-4o'] = { input: 0, output: 0 };
    }).toThrow(TypeError);
    expect(() => {
      (price('gpt-4o') as { input: number }).input = 0;
    }).toThrow(TypeError);
    expect(price('gpt-4o').input).toBe(2.5);
  });

  it('records when it was checked', () => {
    expect(PRICES_AS_OF).toMatch(/^\d{4}-\d{2}$/);
  });

  it('holds the published prices', () => {
    expect(price('gpt-4o')).toEqual({ input: 2.5, output: 10, cachedInput: 1.25 });
    expect(price('gpt-4o-mini')).toEqual({ input: 0.15, output: 0.6, cachedInput: 0.075 });
    expect(price('gpt-4.1-nano')).toEqual({ input: 0.1, output: 0.4, cachedInput: 0.025 });
    expect(price('o4-mini')).toEqual({ input: 1.1, output: 4.4, cachedInput: 0.275 });
    expect(price('gpt-5-nano')).toEqual({ input: 0.05, output: 0.4, cachedInput: 0.005 });
    expect(price('text-embedding-3-large')).toEqual({ input: 0.13, output: 0 });
    expect(price('claude-sonnet-4-5')).toEqual({ input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75 });
    expect(price('claude-opus-4-1')).toEqual({ input: 15, output: 75, cachedInput: 1.5, cacheWrite: 18.75 });
    expect(price('claude-3-haiku')).toEqual({
      input: 0.25,
      output: 1.25,
      cachedInput: 0.03,
      cacheWrite: 0.3,
    });
    expect(price('gemini-2.5-flash')).toEqual({ input: 0.3, output: 2.5, cachedInput: 0.075 });
    expect(price('command-r')).toEqual({ input: 0.15, output: 0.6 });
  });

  it('uses only table keys that are already normalised, so the prefix stage can find them', () => {
    for (const key of Object.keys(DEFAULT_PRICES)) {
      expect(key).toBe(key.toLowerCase());
      expect(findPrice(key)).toBe(DEFAULT_PRICES[key]);
    }
  });
});

describe('findPrice', () => {
  it.each([
    ['gpt-4o', 'gpt-4o'],
    ['gpt-4o-mini', 'gpt-4o-mini'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['openai/gpt-4o-2024-08-06', 'gpt-4o'],
    ['GPT-4o', 'gpt-4o'],
    ['gpt-4o-audio-preview', 'gpt-4o'],
    ['gpt-4.1', 'gpt-4.1'],
    ['gpt-4.1-mini', 'gpt-4.1-mini'],
    ['gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini'],
    ['gpt-4.1-nano-2025-04-14', 'gpt-4.1-nano'],
    ['gpt-4', 'gpt-4'],
    ['gpt-4-0613', 'gpt-4'],
    ['gpt-4-turbo', 'gpt-4-turbo'],
    ['gpt-4-turbo-2024-04-09', 'gpt-4-turbo'],
    ['gpt-4-0125-preview', 'gpt-4-turbo'],
    ['gpt-3.5-turbo-0125', 'gpt-3.5-turbo'],
    ['o1', 'o1'],
    ['o1-2024-12-17', 'o1'],
    ['o1-mini-2024-09-12', 'o1-mini'],
    ['o3', 'o3'],
    ['o3-mini', 'o3-mini'],
    ['o3-mini-2025-01-31', 'o3-mini'],
    ['o4-mini-2025-04-16', 'o4-mini'],
    ['gpt-5-2025-08-07', 'gpt-5'],
    ['gpt-5-mini-2025-08-07', 'gpt-5-mini'],
    ['gpt-5-nano', 'gpt-5-nano'],
    ['text-embedding-ada-002', 'text-embedding-ada-002'],
    ['openai/text-embedding-3-small', 'text-embedding-3-small'],
    ['claude-3-5-sonnet-20241022', 'claude-3-5-sonnet'],
    ['claude-3-5-sonnet-latest', 'claude-3-5-sonnet'],
    ['claude-3-5-sonnet@20240620', 'claude-3-5-sonnet'],
    ['anthropic.claude-3-5-sonnet-20240620-v1:0', 'claude-3-5-sonnet'],
    ['us.anthropic.claude-3-7-sonnet-20250219-v1:0', 'claude-3-7-sonnet'],
    ['claude-sonnet-4-20250514', 'claude-sonnet-4'],
    ['claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
    ['claude-opus-4-20250514', 'claude-opus-4'],
    ['claude-opus-4-1-20250805', 'claude-opus-4-1'],
    ['claude-3-opus-20240229', 'claude-3-opus'],
    ['claude-3-5-haiku-20241022', 'claude-3-5-haiku'],
    ['claude-haiku-4-5-20251001', 'claude-haiku-4-5'],
    ['anthropic/claude-3-haiku-20240307', 'claude-3-haiku'],
    ['models/gemini-1.5-pro-002', 'gemini-1.5-pro'],
    ['gemini-1.5-flash-latest', 'gemini-1.5-flash'],
    ['gemini-2.0-flash-001', 'gemini-2.0-flash'],
    ['gemini-2.0-flash-lite-001', 'gemini-2.0-flash-lite'],
    ['gemini-2.5-pro', 'gemini-2.5-pro'],
    ['gemini-2.5-flash', 'gemini-2.5-flash'],
    ['gemini-2.5-flash-lite', 'gemini-2.5-flash-lite'],
    ['projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro', 'gemini-2.5-pro'],
    ['mistral-large-latest', 'mistral-large'],
    ['mistral-large-2411', 'mistral-large'],
    ['mistral-small-2409', 'mistral-small'],
    ['command-r-plus-08-2024', 'command-r-plus'],
    ['command-r-08-2024', 'command-r'],
    ['cohere.command-r-plus-v1:0', 'command-r-plus'],
  ])('%s → %s', (model, key) => {
    expect(findPrice(model)).toBe(price(key));
  });

  it('prefers a specific snapshot key over the family key', () => {
    expect(findPrice('gpt-4o-2024-05-13')).toEqual({ input: 5, output: 15 });
    expect(findPrice('openai/gpt-4o-2024-05-13')).toEqual({ input: 5, output: 15 });
  });

  it.each([
    'unknown-model',
    '',
    'gpt',
    'gpt-4o1',
    'gpt-4.5-preview',
    'claude',
    'claude-3',
    'command-r7b-12-2024',
    'llama-3.1-70b',
    'openai/',
    'ft:gpt-4o-mini-2024-07-18:org::abc',
  ])('returns undefined for %j', (model) => {
    expect(findPrice(model)).toBeUndefined();
  });

  it('returns the same answer when served from the cache', () => {
    const first = findPrice('claude-3-5-sonnet-20241022');
    expect(findPrice('claude-3-5-sonnet-20241022')).toBe(first);
    expect(findPrice('no-such-model')).toBeUndefined();
    expect(findPrice('no-such-model')).toBeUndefined();
  });

  it('answers the same before and after the cache is cleared', () => {
    for (let i = 0; i < 2500; i++) expect(findPrice(`gpt-4o-mini-test-${i}`)).toBe(price('gpt-4o-mini'));
    expect(findPrice('gpt-4o-mini-test-0')).toBe(price('gpt-4o-mini'));
    expect(findPrice('o3-mini')).toBe(price('o3-mini'));
  });

  describe('overrides', () => {
    const custom: ModelPrice = { input: 1, output: 2 };

    it('win over the defaults', () => {
      const overrides: PriceTable = { 'gpt-4o': custom };
      expect(findPrice('gpt-4o', overrides)).toBe(custom);
      expect(findPrice('gpt-4o')).toBe(price('gpt-4o'));
    });

    it('follow the same normalisation', () => {
      const overrides: PriceTable = { 'claude-3-5-sonnet': custom };
      expect(findPrice('anthropic.claude-3-5-sonnet-20240620-v1:0', overrides)).toBe(custom);
      expect(findPrice('claude-3-5-sonnet@20240620', overrides)).toBe(custom);
      expect(findPrice('Claude-3-5-Sonnet-Latest', overrides)).toBe(custom);
      expect(findPrice('claude-3-5-sonnet-custom-deploy', overrides)).toBe(custom);
    });

    it('match when the override key itself carries a prefix or capitals', () => {
      const overrides: PriceTable = { 'OpenAI/My-Model': custom };
      expect(findPrice('my-model', overrides)).toBe(custom);
      expect(findPrice('azure/my-model-2024-08-06', overrides)).toBe(custom);
    });

    it('add models the table does not know', () => {
      const overrides: PriceTable = { 'llama-3.1-70b': custom };
      expect(findPrice('meta/llama-3.1-70b-instruct', overrides)).toBe(custom);
      expect(findPrice('llama-3.1-70b-instruct')).toBeUndefined();
    });

    it('match exact raw names that normalisation would change', () => {
      const overrides: PriceTable = { 'ft:gpt-4o-mini-2024-07-18:org::abc': custom };
      expect(findPrice('ft:gpt-4o-mini-2024-07-18:org::abc', overrides)).toBe(custom);
    });

    it('do not let a broad override shadow a more specific default', () => {
      const overrides: PriceTable = { 'gpt-4o': custom };
      expect(findPrice('gpt-4o-mini-2024-07-18', overrides)).toBe(price('gpt-4o-mini'));
      expect(findPrice('gpt-4o-2024-08-06', overrides)).toBe(custom);
    });

    it('are indexed per table object', () => {
      const a: PriceTable = { 'x-model': { input: 1, output: 1 } };
      const b: PriceTable = { 'x-model': { input: 2, output: 2 } };
      expect(findPrice('x-model', a)).toBe(a['x-model']);
      expect(findPrice('x-model', b)).toBe(b['x-model']);
      expect(findPrice('x-model', a)).toBe(a['x-model']);
      expect(findPrice('x-model')).toBeUndefined();
    });

    it('fall back to the defaults when they do not match', () => {
      expect(findPrice('gpt-4o-mini', { 'other-model': custom })).toBe(price('gpt-4o-mini'));
      expect(findPrice('unknown', { 'other-model': custom })).toBeUndefined();
    });
  });
});

describe('computeCost', () => {
  it('prices plain input and output', () => {
    expect(computeCost(price('gpt-4o'), { inputTokens: 1000, outputTokens: 500 })).toEqual({
      input: 0.0025,
      output: 0.005,
      total: 0.0075,
      currency: 'USD',
    });
  });

  it('prices OpenAI-style cached input, which is part of inputTokens', () => {
    // 600 uncached × 2.5 + 400 cached × 1.25 = 2000 micro-USD; 200 output × 10 = 2000.
    expect(
      computeCost(price('gpt-4o'), { inputTokens: 1000, cachedInputTokens: 400, outputTokens: 200 }),
    ).toEqual({ input: 0.002, output: 0.002, total: 0.004, currency: 'USD' });
  });

  it('prices Anthropic-style cache reads and writes', () => {
    // 1000 uncached × 3 + 2000 read × 0.3 + 500 written × 3.75 = 5475; 100 output × 15 = 1500.
    const cost = computeCost(price('claude-3-5-sonnet'), {
      inputTokens: 3500,
      cachedInputTokens: 2000,
      cacheCreationInputTokens: 500,
      outputTokens: 100,
    });
    expect(cost).toEqual({ input: 0.005475, output: 0.0015, total: 0.006975, currency: 'USD' });
  });

  it('charges cache reads and writes at the input price when the model has no cache prices', () => {
    const cost = computeCost(
      { input: 10, output: 30 },
      { inputTokens: 1000, cachedInputTokens: 300, cacheCreationInputTokens: 200, outputTokens: 0 },
    );
    expect(cost).toEqual({ input: 0.01, output: 0, total: 0.01, currency: 'USD' });
  });

  it('does not count reasoning tokens twice', () => {
    const withReasoning = computeCost(price('o3'), {
      inputTokens: 100,
      outputTokens: 1000,
      reasoningTokens: 800,
    });
    expect(withReasoning).toEqual({ input: 0.0002, output: 0.008, total: 0.0082, currency: 'USD' });
    expect(withReasoning).toEqual(computeCost(price('o3'), { inputTokens: 100, outputTokens: 1000 }));
  });

  it('ignores totalTokens', () => {
    expect(
      computeCost(price('gpt-4o'), { inputTokens: 1000, outputTokens: 500, totalTokens: 99_999 }),
    ).toEqual(computeCost(price('gpt-4o'), { inputTokens: 1000, outputTokens: 500 }));
  });

  it('treats missing fields as zero', () => {
    expect(computeCost(price('text-embedding-3-small'), { inputTokens: 1_000_000 })).toEqual({
      input: 0.02,
      output: 0,
      total: 0.02,
      currency: 'USD',
    });
    expect(computeCost(price('gpt-4o'), { outputTokens: 100 })).toEqual({
      input: 0,
      output: 0.001,
      total: 0.001,
      currency: 'USD',
    });
    expect(computeCost(price('gpt-4o'), { cachedInputTokens: 1000 })).toEqual({
      input: 0.00125,
      output: 0,
      total: 0.00125,
      currency: 'USD',
    });
  });

  it('returns undefined when usage has no token counts', () => {
    expect(computeCost(price('gpt-4o'), {})).toBeUndefined();
    expect(computeCost(price('gpt-4o'), { totalTokens: 100 })).toBeUndefined();
    expect(computeCost(price('gpt-4o'), { reasoningTokens: 100 })).toBeUndefined();
    expect(computeCost(price('gpt-4o'), { inputTokens: Number.NaN })).toBeUndefined();
  });

  it('clamps the uncached part at zero when cached counts exceed inputTokens', () => {
    // Inconsistent usage: cached + written (1500) > input (1000). Only the cache parts are billed.
    const cost = computeCost(price('claude-3-5-sonnet'), {
      inputTokens: 1000,
      cachedInputTokens: 1000,
      cacheCreationInputTokens: 500,
      outputTokens: 0,
    });
    // 1000 × 0.3 + 500 × 3.75 = 2175 micro-USD; a negative uncached part would have subtracted.
    expect(cost).toEqual({ input: 0.002175, output: 0, total: 0.002175, currency: 'USD' });
  });

  it('ignores negative counts', () => {
    expect(computeCost(price('gpt-4o'), { inputTokens: -100, outputTokens: 100 })).toEqual({
      input: 0,
      output: 0.001,
      total: 0.001,
      currency: 'USD',
    });
  });

  it('rounds away float noise', () => {
    // 3 × 0.1 / 1e6 is 3.0000000000000004e-7 in plain float arithmetic.
    const cost = computeCost({ input: 0.1, output: 0.2 }, { inputTokens: 3, outputTokens: 1 });
    expect(cost).toEqual({ input: 3e-7, output: 2e-7, total: 5e-7, currency: 'USD' });
  });

  it('works with a price found by findPrice', () => {
    const found = findPrice('anthropic.claude-3-5-sonnet-20240620-v1:0');
    expect(found).toBeDefined();
    expect(computeCost(found!, { inputTokens: 1_000_000, outputTokens: 1_000_000 })?.total).toBe(18);
  });
});
