// @ts-check
import { INPUT, INPUT_TOKENS, MODEL, OUTPUT_TOKENS, work } from './workload.mjs';

/**
 * The workload as a spanchain user writes it, for any tracer: contenders that differ only in
 * plugins or middleware share it, so they are sure to trace the same steps.
 *
 * @example const pipeline = spanchainPipeline(createTracer({ plugins: [memory] })); await pipeline();
 * @param {import('@spanchain/core').Tracer} tracer
 * @returns {() => Promise<void>}
 */
export function spanchainPipeline(tracer) {
  const root = async () => {
    await tracer.retrieval({ name: 'retrieve', input: INPUT }, () => work(INPUT));
    await tracer.prompt({ name: 'prompt', input: INPUT }, () => work(INPUT));
    await tracer.llm({ model: MODEL, input: INPUT }, async (step) => {
      const result = await work(INPUT);
      step.update({ usage: { inputTokens: INPUT_TOKENS, outputTokens: OUTPUT_TOKENS } });
      return result;
    });
    await tracer.tool({ name: 'search', input: INPUT }, () => work(INPUT));
  };
  return () => tracer.chain({ name: 'pipeline', input: INPUT }, root);
}

/**
 * Fails fast when the environment turned spanchain off (`SPANCHAIN_ENABLED=false`): the numbers
 * would then be those of an untraced pipeline under a spanchain name.
 *
 * @param {import('@spanchain/core').Tracer} tracer
 */
export function assertEnabled(tracer) {
  if (!tracer.enabled) throw new Error('spanchain is disabled in this environment (SPANCHAIN_ENABLED)');
}
