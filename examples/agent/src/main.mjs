// A hand-written tool-using agent, traced to the console waterfall (stderr); the answer streams to stdout.
// Run: npx -y pnpm@10 --filter @spanchain/example-agent start
// Add backends by name: SPANCHAIN_PLUGINS=otel OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318
import {
  createConsolePlugin,
  createTracer,
  forKinds,
  guardrail,
  redact,
  registerSecret,
} from '@spanchain/core';
import { runAgent } from './agent.mjs';
import { createLocalModel } from './model.mjs';
import { createCurrencyService, createWeatherService } from './tools.mjs';

const extra = (process.env.SPANCHAIN_PLUGINS ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name && name !== 'console');

// The currency service's key. The default is a made-up demo value shaped like a real key.
const apiKey = process.env.FX_API_KEY || 'sk-demo-0000000000000000000000000000';
// Keeps the key out of error messages and the tracer's own log lines too.
registerSecret(apiKey);

// Every number in the answer must come from a tool result. Annotates (a streamed answer is already
// with the reader when the check runs, so it could not be blocked anyway).
const groundedNumbers = guardrail({
  name: 'grounded-numbers',
  on: 'output',
  kinds: ['llm'],
  action: 'annotate',
  select: (step) => ({
    answer: String(step.output ?? ''),
    evidence: (step.inputMessages ?? [])
      .filter((m) => m.role === 'tool')
      .map((m) => m.content)
      .join(' '),
  }),
  check: ({ answer, evidence }) => {
    const unsupported = (answer.match(/\d+(?:\.\d+)?/g) ?? []).filter((n) => !evidence.includes(n));
    return unsupported.length === 0
      ? { decision: 'pass' }
      : { decision: 'block', reason: `numbers not in any tool result: ${unsupported.join(', ')}` };
  },
});

const tracer = createTracer({
  serviceName: 'agent-example',
  plugins: [createConsolePlugin(), ...extra],
  use: [
    // API-key-like strings (here: the currency key in the tool's arguments) never reach a plugin.
    redact({ patterns: { apiKeys: true } }),
    // Only the final answer is checked, not the planning turns.
    forKinds(['llm'], (step, next) => (step.name === 'answer' ? groundedNumbers(step, next) : next())),
  ],
});

const question =
  process.argv.slice(2).join(' ') ||
  "I'm flying to Lisbon on Friday: what's the weather there, and how much is 120 EUR in USD?";

try {
  await runAgent(tracer, {
    question,
    model: createLocalModel({ unavailable: ['local-large'] }),
    weather: createWeatherService(),
    currency: createCurrencyService(),
    apiKey,
    onToken: (word) => process.stdout.write(word),
  });
  process.stdout.write('\n');
} finally {
  // Delivers the trace: the waterfall goes to stderr when the agent's step ends.
  await tracer.shutdown();
}
