// @ts-check
/**
 * The workload every contender runs: a root `chain` step with four children in sequence —
 * retrieval, prompt, llm, tool — each an async function with an `await` inside. Contenders
 * share these constants so that only the instrumentation differs between them.
 */

/** Steps in one pipeline: the root and its four children. */
export const STEPS_PER_PIPELINE = 5;

const SENTENCE = 'Retrieved passage about refund policies, shipping windows and warranty claims. ';

/** A 1 KiB input string, made once and handed to every step by reference. */
export const INPUT = SENTENCE.repeat(Math.ceil(1024 / SENTENCE.length)).slice(0, 1024);

export const MODEL = 'gpt-4o';
export const INPUT_TOKENS = 812;
export const OUTPUT_TOKENS = 64;

/**
 * The body of every step: yields once to the microtask queue, as real async work would, and
 * returns something small so nothing large is kept alive by the result.
 *
 * @example await work(INPUT)
 * @param {string} input
 * @returns {Promise<number>}
 */
export async function work(input) {
  await undefined;
  return input.length;
}
