// @ts-check
import { AsyncLocalStorage } from 'node:async_hooks';
import { INPUT, INPUT_TOKENS, OUTPUT_TOKENS, work } from '../workload.mjs';

export const name = 'als';
export const description =
  'One bare AsyncLocalStorage.run per step, nested: the floor of any context-carrying tracer.';

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  const storage = new AsyncLocalStorage();
  // Constant stores: this measures `run` itself, not the allocation of a span-like object.
  const ROOT = { kind: 'chain' };
  const RETRIEVAL = { kind: 'retrieval' };
  const PROMPT = { kind: 'prompt' };
  const LLM = { kind: 'llm' };
  const TOOL = { kind: 'tool' };

  const llm = async () => {
    const result = await work(INPUT);
    return { result, usage: { inputTokens: INPUT_TOKENS, outputTokens: OUTPUT_TOKENS } };
  };
  const root = async () => {
    await storage.run(RETRIEVAL, work, INPUT);
    await storage.run(PROMPT, work, INPUT);
    await storage.run(LLM, llm);
    await storage.run(TOOL, work, INPUT);
  };
  return {
    pipeline: () => storage.run(ROOT, root),
    flush: async () => {},
  };
}
