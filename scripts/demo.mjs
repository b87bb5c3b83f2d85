// `pnpm demo`: the LangChain RAG example, then the tool-using agent, each with its console
// waterfall on stderr and its answer on stdout. No configuration, no network.
// `pnpm demo "your question"` asks the RAG example your question.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const examples = [
  ['examples/rag/src/main.mjs', process.argv.slice(2)],
  ['examples/agent/src/main.mjs', []],
];
for (const [script, args] of examples) {
  const path = fileURLToPath(new URL(`../${script}`, import.meta.url));
  const { status, error } = spawnSync(process.execPath, [path, ...args], { stdio: 'inherit' });
  if (error) throw error;
  if (status !== 0) process.exit(status ?? 1);
}
