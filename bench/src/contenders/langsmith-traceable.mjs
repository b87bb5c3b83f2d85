// @ts-check
import { Client } from 'langsmith';
import { traceable } from 'langsmith/traceable';
import { sinkUrl } from '../sink.mjs';
import { INPUT, INPUT_TOKENS, MODEL, OUTPUT_TOKENS, work } from '../workload.mjs';

export const name = 'langsmith-traceable';
/** Sends to the sink (also measured with it down). */
export const exporting = true;
export const description =
  "LangSmith's JS SDK: traceable() per step (chain, retriever, prompt, llm, tool) with its Client at defaults (auto-batched multipart), to the loopback sink; its ingest calls wrapped to count.";

/** About 0.5 ms per step: 5,000 pipelines per round (25,000 runs) keep the full bench in minutes. */
export const maxPipelines = 5_000;

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  const client = new Client({ apiUrl: sinkUrl(), apiKey: 'lsv2_bench_key' });
  // Runs are delivered when their update (or a create that already has an end time) is accepted.
  let delivered = 0;
  /** @param {Array<{ end_time?: unknown }> | undefined} creates @param {unknown[] | undefined} updates */
  const count = (creates, updates) =>
    (creates ?? []).filter((run) => run.end_time !== undefined).length + (updates ?? []).length;
  for (const method of /** @type {const} */ (['multipartIngestRuns', 'batchIngestRuns'])) {
    const original = client[method].bind(client);
    /** @type {any} */ (client)[method] = async (/** @type {any} */ args, /** @type {any} */ options) => {
      const result = await original(args, options);
      delivered += count(args?.runCreates, args?.runUpdates);
      return result;
    };
  }

  const common = { client, project_name: 'bench', tracingEnabled: true };
  const retrieve = traceable(
    async (/** @type {string} */ query) => {
      await work(query);
      return { documents: [] };
    },
    { ...common, name: 'retrieve', run_type: 'retriever' },
  );
  const prompt = traceable(
    async (/** @type {string} */ input) => {
      await work(input);
      return { output: input.length };
    },
    { ...common, name: 'prompt', run_type: 'prompt' },
  );
  const chat = traceable(
    async (/** @type {string} */ input) => {
      await work(input);
      return {
        choices: [{ message: { role: 'assistant', content: 'ok' } }],
        usage_metadata: {
          input_tokens: INPUT_TOKENS,
          output_tokens: OUTPUT_TOKENS,
          total_tokens: INPUT_TOKENS + OUTPUT_TOKENS,
        },
      };
    },
    {
      ...common,
      name: `chat ${MODEL}`,
      run_type: 'llm',
      metadata: { ls_provider: 'openai', ls_model_name: MODEL },
    },
  );
  const search = traceable(
    async (/** @type {string} */ input) => {
      await work(input);
      return { output: 1 };
    },
    { ...common, name: 'search', run_type: 'tool' },
  );
  const pipeline = traceable(
    async (/** @type {string} */ input) => {
      await retrieve(input);
      await prompt(input);
      await chat(input);
      await search(input);
    },
    { ...common, name: 'pipeline', run_type: 'chain' },
  );

  return {
    pipeline: () => pipeline(INPUT),
    flush: () => client.awaitPendingTraceBatches(),
    delivered: () => delivered,
  };
}
