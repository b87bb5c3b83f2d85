// A LangChain RAG pipeline traced by spanchain: the chain is plain LangChain (chain.mjs); one call
// enables tracing for every LangChain run, and the console waterfall shows the tree.
// Run: npx -y pnpm@10 --filter @spanchain/example-rag start ["your question"]
import { createConsolePlugin, createTracer, redact } from '@spanchain/core';
import { enableLangChainTracing } from '@spanchain/langchain';
import { buildRag, chooseModel } from './chain.mjs';

const question = process.argv[2] ?? 'How do I send traces to an OpenTelemetry collector?';
const extra = (process.env.SPANCHAIN_PLUGINS ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name && name !== 'console');

const tracer = createTracer({
  serviceName: 'rag-example',
  plugins: [createConsolePlugin(), ...extra],
  // E-mail addresses and API-key-like strings never leave the process.
  use: [redact({ patterns: { emails: true, apiKeys: true } })],
});
enableLangChainTracing(tracer);

const rag = await buildRag(await chooseModel());
// Trace-level fields for this run ride on LangChain's own metadata.
const stream = await rag.stream(question, {
  metadata: { spanchain: { userId: 'demo-user', sessionId: 'session-1', tags: ['rag-example'] } },
});
for await (const chunk of stream) process.stdout.write(chunk);
process.stdout.write('\n');
await tracer.shutdown();
