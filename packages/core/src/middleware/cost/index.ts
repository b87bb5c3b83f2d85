/**
 * The cost middleware: prices a model call from its token usage once the call is over.
 */
import { z } from 'zod';
import { forKinds, type KindScopedMiddleware, observer } from '../../compose.js';
import { parseOptions } from '../../options.js';
import type { StepKind, Usage } from '../../step.js';
import { StepKindSchema } from '../../step-options.js';
import type { MiddlewareStep } from '../../step-record.js';
import { computeCost, findPrice, type PriceTable } from './prices.js';

const tokenPrice = z.number().finite().min(0);

const ModelPriceSchema = z
  .object({
    /** USD per 1M input tokens (uncached). */
    input: tokenPrice,
    /** USD per 1M output tokens. */
    output: tokenPrice,
    /** USD per 1M input tokens read from the prompt cache; defaults to `input`. */
    cachedInput: tokenPrice.optional(),
    /** USD per 1M input tokens written to the prompt cache; defaults to `input`. */
    cacheWrite: tokenPrice.optional(),
  })
  .strict();

export const CostOptionsSchema = z
  .object({
    /** Prices per 1M tokens by model name, looked up before the built-in table (same matching rules). */
    prices: z.record(z.string().min(1), ModelPriceSchema).optional(),
    /** Label put on every cost; amounts are not converted. Default `USD`. */
    currency: z.string().min(1).max(16).optional(),
    /** Kinds of step to price. Default `['llm', 'embedding']`. */
    kinds: z.array(StepKindSchema).min(1).optional(),
  })
  .strict();

export type CostOptions = z.input<typeof CostOptionsSchema>;

const DEFAULT_KINDS: readonly StepKind[] = ['llm', 'embedding'];

/**
 * Sets `cost` on model steps from their `usage`, once the step's work is over (for a stream:
 * once it was consumed, so usage reported by the last chunk counts). The model that answered
 * (`responseModel`) is priced first, then the one requested. A cost the caller set is kept; a
 * model with no known price gets no cost. Runs on failed steps too, which may have used tokens.
 *
 * @example
 * createTracer({ use: [cost({ prices: { 'my-finetune': { input: 1, output: 4 } } })] });
 */
export function cost(options?: CostOptions): KindScopedMiddleware {
  const parsed = parseOptions(CostOptionsSchema, options ?? {}, 'cost options');
  // One object for the middleware's lifetime: findPrice caches its lookups per overrides object.
  const prices: PriceTable | undefined = parsed.prices;
  const currency = parsed.currency ?? 'USD';

  const price = (step: MiddlewareStep): void => {
    // Fields are app data of any shape at run time, whatever their types say.
    const usage: unknown = step.usage;
    if (step.cost !== undefined || usage === null || typeof usage !== 'object') return;
    try {
      const modelPrice =
        (typeof step.responseModel === 'string' ? findPrice(step.responseModel, prices) : undefined) ??
        (typeof step.model === 'string' ? findPrice(step.model, prices) : undefined);
      if (modelPrice === undefined) return;
      const computed = computeCost(modelPrice, usage as Usage);
      if (computed !== undefined) step.cost = { ...computed, currency };
    } catch (error) {
      // A getter on app data may throw: report it, and leave the step without a cost.
      step.reportError('middleware:cost', error);
    }
  };

  return forKinds(
    parsed.kinds ?? DEFAULT_KINDS,
    observer(async function cost(step, next) {
      try {
        await next();
      } finally {
        price(step);
      }
    }),
  );
}
