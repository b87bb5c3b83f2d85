// One run, every backend at once. Each plugin is switched on by its backend's own environment
// variables, with its own redaction and sampling; the tracer-wide redaction applies to all.
// Run: node src/main.mjs   (see README.md for the variables)
import { createConsolePlugin, createTracer, redact } from '@spanchain/core';
import { langfuse } from '@spanchain/langfuse';
import { langsmith, traceUuid } from '@spanchain/langsmith';
import { otel } from '@spanchain/otel';
import { phoenix } from '@spanchain/phoenix';
import { answer } from './pipeline.mjs';

const env = process.env;
const plugins = [];
// Your own collector (Jaeger, SigNoz, Datadog, …): full content but no e-mail addresses; every trace.
if (env.OTEL_EXPORTER_OTLP_ENDPOINT) {
  plugins.push(otel({ captureContent: true, redact: { patterns: { emails: true } } }));
}
// Langfuse: prompts and answers, but not the retriever's documents; every trace.
if (env.LANGFUSE_PUBLIC_KEY) plugins.push(langfuse({ redact: { fields: { documents: false } } }));
// LangSmith: structure, models, tokens and timings only, no content; half of the traces.
if (env.LANGSMITH_API_KEY) plugins.push(langsmith({ redact: { content: false }, samplingRate: 0.5 }));
// Phoenix: everything, for debugging; a quarter of the traces.
if (env.PHOENIX_COLLECTOR_ENDPOINT) plugins.push(phoenix({ samplingRate: 0.25 }));
// Nothing configured: show on the console what would have been sent.
if (plugins.length === 0) plugins.push(createConsolePlugin());

const tracer = createTracer({
  serviceName: 'support-bot',
  plugins,
  // For every backend: API keys never leave the process.
  use: [redact({ patterns: { apiKeys: true } })],
});

const questions = [
  'How long do refunds take?',
  'When will my order ship? Reply to ana@example.com',
  'Is my device under warranty?',
  'My key sk-live-0123456789abcdefghij failed, can I get a refund?',
  'Where is the tracking link for my order?',
  'Does the warranty cover a broken screen?',
];

const traces = [];
for (const [i, question] of questions.entries()) {
  await tracer.chain({ name: 'request' }, async (step) => {
    traces.push(step.traceId);
    await answer(tracer, question, { user: `user-${i % 3}`, session: `session-${i % 2}` });
  });
}
const report = await tracer.shutdown();

// One trace id everywhere: the OTLP trace id, Langfuse's trace id, Phoenix's trace id, and
// LangSmith's trace (root run) id, which is the same 128 bits written as a UUID.
for (const traceId of traces) console.log(`trace ${traceId}  LangSmith ${traceUuid(traceId)}`);
for (const p of tracer.stats().plugins) {
  const dropped = Object.entries(p.dropped)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  console.log(
    `${p.name}: received ${p.received}, exported ${p.exported}${dropped ? `, dropped ${dropped}` : ''}`,
  );
}
if (!report.ok) {
  console.error('some backend did not take everything in time:', JSON.stringify(report.plugins));
  process.exitCode = 1;
}
