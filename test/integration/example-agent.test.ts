// examples/agent run as users run it: a child process over the built packages, its steps read
// back from the console plugin's JSON lines.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startOtlpReceiver } from '../support/otlp-receiver.js';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../../examples/agent/src/main.mjs', import.meta.url));

interface JsonStep {
  kind: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  status: string;
  error?: { type: string; message: string; code?: string | number };
  output?: unknown;
  events?: { name: string; attributes?: Record<string, unknown> }[];
  attempt?: { number: number; fallback?: string };
  attempts?: { retries: number; maxRetries: number; fallbacks: number };
  redacted?: string[];
  stream?: { state: string; chunks: number };
  startTime: number;
  endTime: number;
  // kind fields read below
  provider?: string;
  model?: string;
  usage?: { inputTokens?: number; outputTokens?: number };
  inputMessages?: { role: string }[];
  toolCalls?: { name: string; id?: string }[];
  arguments?: Record<string, unknown>;
  timeToFirstTokenMs?: number;
  guardrailName?: string;
  decision?: string;
}

/** A fresh key per run, shaped like a real one, so a leak of this very value is what is tested. */
const secret = () => `sk-test-${randomBytes(16).toString('hex')}`;

async function runAgent(env: Record<string, string>) {
  return run(process.execPath, [main], {
    env: { ...process.env, FORCE_COLOR: '0', SPANCHAIN_PLUGINS: '', ...env },
    timeout: 8_000,
  });
}

describe('examples/agent', () => {
  it('traces planning, a retried tool, a redacted key, a fallback, a guardrail and a streamed answer', async () => {
    const key = secret();
    const { stdout, stderr } = await runAgent({ SPANCHAIN_CONSOLE_FORMAT: 'jsonl', FX_API_KEY: key });
    expect(stdout.trim()).toBe(
      'Lisbon on Friday: sunny, 24 °C, wind light. 120 EUR is about 130.80 USD (rate 1.09).',
    );
    const steps = stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as JsonStep);
    const byId = new Map(steps.map((s) => [s.spanId, s]));
    const named = (name: string) => steps.filter((s) => s.name === name);
    const container = (name: string) => {
      const found = named(name).filter((s) => s.attempt === undefined);
      expect(found, name).toHaveLength(1);
      return found[0] as JsonStep;
    };
    const parentOf = (step: JsonStep) => (step.parentSpanId ? byId.get(step.parentSpanId) : undefined);

    expect(steps).toHaveLength(11);
    expect(new Set(steps.map((s) => s.traceId)).size).toBe(1);

    const agent = container('trip-assistant');
    expect(agent.kind).toBe('agent');
    expect(agent.parentSpanId).toBeUndefined();
    // Every other step hangs off a step of this trace.
    for (const step of steps) if (step !== agent) expect(parentOf(step), step.name).toBeDefined();

    const plan = container('plan');
    expect(plan).toMatchObject({ kind: 'llm', provider: 'local', model: 'local-planner-1', status: 'ok' });
    expect(parentOf(plan)).toBe(agent);
    expect(plan.usage?.inputTokens).toBeGreaterThan(0);
    expect(plan.usage?.outputTokens).toBeGreaterThan(0);
    expect(plan.inputMessages?.map((m) => m.role)).toEqual(['system', 'user']);
    expect(plan.toolCalls?.map((c) => c.name)).toEqual(['get_weather', 'convert_currency']);

    // The flaky tool: a failed first attempt, a successful retry, both children of the tool step.
    const weather = container('get_weather');
    expect(weather).toMatchObject({ kind: 'tool', status: 'ok', attempts: { retries: 1, fallbacks: 0 } });
    expect(parentOf(weather)).toBe(agent);
    expect(weather.events?.map((e) => e.name)).toContain('retry');
    const weatherTries = named('get_weather')
      .filter((s) => s.attempt !== undefined)
      .sort((a, b) => (a.attempt?.number ?? 0) - (b.attempt?.number ?? 0));
    expect(weatherTries.map((s) => [s.attempt?.number, s.status])).toEqual([
      [0, 'error'],
      [1, 'ok'],
    ]);
    expect(weatherTries[0]?.error?.code).toBe('ETIMEDOUT');
    for (const attempt of weatherTries) expect(parentOf(attempt)).toBe(weather);

    // The key in the currency tool's arguments was masked before the console plugin saw it.
    const fx = container('convert_currency');
    expect(fx).toMatchObject({ kind: 'tool', status: 'ok' });
    expect(parentOf(fx)).toBe(agent);
    expect(fx.redacted).toContain('arguments');
    expect(fx.arguments).toMatchObject({ amount: 120, from: 'EUR', to: 'USD', apiKey: '[REDACTED:key]' });
    expect(stderr).not.toContain(key);
    expect(stdout).not.toContain(key);

    // The fallback: the primary model threw, the small one answered, both as attempts of `reflect`.
    const reflect = container('reflect');
    expect(reflect).toMatchObject({ kind: 'llm', status: 'ok', attempts: { retries: 0, fallbacks: 1 } });
    expect(parentOf(reflect)).toBe(agent);
    const reflectTries = named('reflect').filter((s) => s.attempt !== undefined);
    expect(reflectTries).toHaveLength(2);
    const primary = reflectTries.find((s) => s.attempt?.fallback === undefined);
    const fallback = reflectTries.find((s) => s.attempt?.fallback !== undefined);
    expect(primary).toMatchObject({ model: 'local-large', status: 'error', attempt: { number: 0 } });
    expect(primary?.error).toMatchObject({ type: 'ModelUnavailableError', code: 'model_overloaded' });
    expect(fallback).toMatchObject({
      model: 'local-small',
      status: 'ok',
      attempt: { number: 1, fallback: 'local-small' },
    });
    for (const attempt of reflectTries) expect(parentOf(attempt)).toBe(reflect);

    // The streamed answer: consumed to the end, with a time to first token inside its duration.
    const answer = container('answer');
    expect(answer).toMatchObject({ kind: 'llm', model: 'local-writer-1', status: 'ok' });
    expect(parentOf(answer)).toBe(agent);
    expect(answer.stream?.state).toBe('completed');
    expect(answer.stream?.chunks).toBe(stdout.trim().split(' ').length);
    expect(answer.output).toBe(stdout.trim());
    const ttft = answer.timeToFirstTokenMs ?? -1;
    expect(ttft).toBeGreaterThan(0);
    expect(ttft).toBeLessThanOrEqual(answer.endTime - answer.startTime);

    // The guardrail checked the answer only, as its child step.
    const guards = steps.filter((s) => s.kind === 'guardrail');
    expect(guards).toHaveLength(1);
    expect(guards[0]).toMatchObject({
      name: 'grounded-numbers',
      guardrailName: 'grounded-numbers',
      decision: 'pass',
    });
    expect(parentOf(guards[0] as JsonStep)).toBe(answer);
  });

  it('prints a waterfall with the attempts, the redaction and the TTFT in tree mode', async () => {
    const { stderr } = await runAgent({});
    expect(stderr).toMatch(/^agent-demo .* trace [0-9a-f]{32}$/m);
    expect(stderr).toMatch(/get_weather .* attempt 1 · Error \[ETIMEDOUT\]/);
    expect(stderr).toMatch(/convert_currency .* redacted/);
    expect(stderr).toMatch(/reflect .* fallback local-small/);
    expect(stderr).toMatch(/answer .* ttft [\d.]+ ms/);
    expect(stderr).toMatch(/guardrail grounded-numbers .* pass/);
  });

  it('exports one trace over OTLP with SPANCHAIN_PLUGINS=otel, without the key', async () => {
    const receiver = await startOtlpReceiver({ grpc: false });
    try {
      const key = secret();
      const { stderr } = await runAgent({
        SPANCHAIN_CONSOLE_FORMAT: 'jsonl',
        SPANCHAIN_PLUGINS: 'otel',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpUrl,
        // Content capture on, so that tool arguments do go over the wire (masked).
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'SPAN_ONLY',
        FX_API_KEY: key,
      });
      const traceIds = new Set(
        stderr
          .trim()
          .split('\n')
          .map((line) => (JSON.parse(line) as JsonStep).traceId),
      );
      expect(traceIds.size).toBe(1);
      const spans = receiver.spans();
      expect(spans).toHaveLength(11);
      expect(new Set(spans.map((s) => s.traceId))).toEqual(traceIds);
      const names = spans.map((s) => s.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'invoke_agent trip-assistant',
          'chat local-planner-1',
          'chat local-large',
          'chat local-small',
          'chat local-writer-1',
          'execute_tool get_weather',
          'execute_tool convert_currency',
          'grounded-numbers',
        ]),
      );
      const root = spans.find((s) => s.name === 'invoke_agent trip-assistant');
      expect(root?.parentSpanId).toBe('');
      const ids = new Set(spans.map((s) => s.spanId));
      for (const span of spans) if (span !== root) expect(ids.has(span.parentSpanId), span.name).toBe(true);
      const fx = spans.find((s) => s.name === 'execute_tool convert_currency');
      expect(String(fx?.attributes['gen_ai.tool.call.arguments'])).toContain('[REDACTED:key]');
      expect(receiver.requests.length).toBeGreaterThan(0);
      for (const request of receiver.requests) expect(request.body.toString('latin1')).not.toContain(key);
    } finally {
      await receiver.close();
    }
  });
});
