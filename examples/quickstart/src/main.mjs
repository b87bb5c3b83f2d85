// The spanchain demo: a RAG pipeline over a bundled corpus, traced to the console waterfall.
// Run: pnpm demo   (add backends by name: SPANCHAIN_PLUGINS=otel OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 pnpm demo)
import { cost, createConsolePlugin, createTracer, guardrail, limits, redact } from '@spanchain/core';
import { answer } from './pipeline.mjs';

const extra = (process.env.SPANCHAIN_PLUGINS ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name && name !== 'console');

const tracer = createTracer({
  serviceName: 'quickstart',
  plugins: [createConsolePlugin(), ...extra],
  use: [
    // E-mail addresses and API-key-like strings never leave the process.
    redact({ patterns: { emails: true, apiKeys: true } }),
    limits({ maxStringLength: 4_096 }),
    // The local model is priced like a small hosted one, so the waterfall shows what it would cost.
    cost({ prices: { 'local-extractive-1': { input: 0.15, output: 0.6 } } }),
    guardrail({
      name: 'non-empty-answer',
      on: 'output',
      kinds: ['llm'],
      action: 'annotate',
      select: (step) => step.output,
      check: (answer) => typeof answer === 'string' && answer.trim().length > 0,
    }),
  ],
});

const question =
  process.argv.slice(2).join(' ') ||
  'How do steps nest, and what happens when a plugin hangs? (reply to ana@example.com)';
const result = await answer(tracer, question);
// The waterfall goes to stderr once the trace ends; print the answer after it.
await tracer.shutdown();
console.log(`\n${result.text}`);
