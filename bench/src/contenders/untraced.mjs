// @ts-check
import { INPUT, INPUT_TOKENS, OUTPUT_TOKENS, work } from '../workload.mjs';

export const name = 'untraced';
export const description = 'The pipeline with no instrumentation at all: the baseline.';

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  /** What the LLM body does with usage in the traced contenders: here it is simply returned. */
  const llm = async () => {
    const result = await work(INPUT);
    return { result, usage: { inputTokens: INPUT_TOKENS, outputTokens: OUTPUT_TOKENS } };
  };
  const root = async () => {
    await work(INPUT);
    await work(INPUT);
    await llm();
    await work(INPUT);
  };
  return {
    pipeline: root,
    flush: async () => {},
  };
}
