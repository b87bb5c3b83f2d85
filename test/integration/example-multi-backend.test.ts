// examples/multi-backend run as users run it, with four loopback stand-ins for its backends: three
// OTLP receivers (collector, Langfuse, Phoenix) and a LangSmith one. One run must reach all four
// with the same trace ids, each with its own redaction and sampling.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isTraceSampled, REDACTED } from '@spanchain/core';
import { traceUuid } from '@spanchain/langsmith';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LangSmithReceiver, startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { type OtlpReceiver, type OtlpSpan, startOtlpReceiver } from '../support/otlp-receiver.js';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../../examples/multi-backend/src/main.mjs', import.meta.url));

const LANGSMITH_KEY = 'lsv2_pt_example_multi_backend_0123456789';
const LANGFUSE_SECRET = 'sk-lf-example-multi-backend-secret';
const API_KEY_IN_QUESTION = 'sk-live-0123456789abcdefghij';
const EMAIL = 'ana@example.com';
const DOCUMENT_TEXT = 'Refunds are paid within 5 working days';

let collector: OtlpReceiver;
let langfuse: OtlpReceiver;
let phoenix: OtlpReceiver;
let langsmith: LangSmithReceiver;
let stdout = '';
let traces: string[] = [];

beforeAll(async () => {
  [collector, langfuse, phoenix, langsmith] = await Promise.all([
    startOtlpReceiver(),
    startOtlpReceiver(),
    startOtlpReceiver(),
    startLangSmithReceiver(),
  ]);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.httpUrl,
    LANGFUSE_PUBLIC_KEY: 'pk-lf-example',
    LANGFUSE_SECRET_KEY: LANGFUSE_SECRET,
    LANGFUSE_BASE_URL: langfuse.httpUrl,
    LANGSMITH_API_KEY: LANGSMITH_KEY,
    LANGSMITH_ENDPOINT: langsmith.url,
    LANGSMITH_PROJECT: 'support-bot',
    PHOENIX_COLLECTOR_ENDPOINT: phoenix.httpUrl,
  };
  // The trace ids are random, as in any run: LangSmith keeps each of the six with probability
  // 0.5, so one run in 64 sends it nothing and its redaction could not be seen. Such a run is
  // run again (up to three times: one series in 260,000 would still see nothing).
  for (let attempt = 0; attempt < 3; attempt++) {
    for (const r of [collector, langfuse, phoenix, langsmith]) r.clear();
    ({ stdout } = await run(process.execPath, [main], { env, timeout: 20_000, killSignal: 'SIGKILL' }));
    traces = [...stdout.matchAll(/^trace ([0-9a-f]{32}) {2}LangSmith ([0-9a-f-]{36})$/gm)].map((m) => {
      expect(m[2]).toBe(traceUuid(m[1]!));
      return m[1]!;
    });
    if (traces.some((t) => isTraceSampled(t, 0.5))) break;
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([collector?.close(), langfuse?.close(), phoenix?.close(), langsmith?.close()]);
});

const traceIdsOf = (spans: OtlpSpan[]) => new Set(spans.map((s) => s.traceId));
const text = (value: unknown) => JSON.stringify(value);

describe('examples/multi-backend', () => {
  it('runs six traces and says what every plugin did', () => {
    expect(traces).toHaveLength(6);
    for (const name of ['otel', 'langfuse', 'langsmith', 'phoenix']) {
      expect(stdout).toMatch(new RegExp(`^${name}: received 36, exported \\d+`, 'm'));
    }
  });

  it('the collector and Langfuse get every trace, whole, under the same trace ids', () => {
    for (const receiver of [collector, langfuse]) {
      const spans = receiver.spans();
      expect(traceIdsOf(spans)).toEqual(new Set(traces));
      expect(spans).toHaveLength(36);
    }
  });

  it('LangSmith and Phoenix get the traces their rates keep, each whole, Phoenix a subset of LangSmith', () => {
    const keptBy = (rate: number) => new Set(traces.filter((t) => isTraceSampled(t, rate)));
    const runs = langsmith.runs();
    expect(new Set(runs.map((r) => r.trace_id))).toEqual(new Set([...keptBy(0.5)].map(traceUuid)));
    expect(runs).toHaveLength(keptBy(0.5).size * 6);
    const phoenixTraces = traceIdsOf(phoenix.spans());
    expect(phoenixTraces).toEqual(keptBy(0.25));
    expect(phoenix.spans()).toHaveLength(keptBy(0.25).size * 6);
    for (const t of phoenixTraces) expect(keptBy(0.5).has(t)).toBe(true);
    // The root run of each kept trace is the trace id itself, as in every other backend.
    for (const t of keptBy(0.5)) expect(runs.some((r) => r.id === traceUuid(t))).toBe(true);
  });

  it('each backend gets its own redaction; the API key reaches none', () => {
    const collectorText = text(collector.spans().map((s) => s.attributes));
    expect(collectorText).toContain(DOCUMENT_TEXT);
    expect(collectorText).not.toContain(EMAIL);

    // Langfuse: the retriever's documents are masked (their text still reaches it inside the
    // prompt built from them: field redaction masks fields, not the content copied elsewhere).
    const retrievals = langfuse
      .spans()
      .filter((s) => s.attributes['langfuse.observation.type'] === 'retriever');
    expect(retrievals).toHaveLength(6);
    for (const span of retrievals) {
      expect(text(span.attributes)).not.toContain(DOCUMENT_TEXT);
      expect(text(span.attributes)).toContain(REDACTED);
    }
    expect(text(langfuse.spans().map((s) => s.attributes))).toContain('How long do refunds take?');

    const runs = langsmith.runs();
    expect(runs.length).toBeGreaterThan(0);
    const langsmithText = text(runs);
    expect(langsmithText).not.toContain(DOCUMENT_TEXT);
    expect(langsmithText).not.toContain('How long do refunds take?');
    expect(langsmithText).toContain(REDACTED);
    // Structure, models and tokens still arrive.
    const llm = runs.find((r) => r.run_type === 'llm');
    expect(llm && text(llm)).toContain('local-support-1');

    if (phoenix.spans().length > 0) expect(text(phoenix.spans())).toContain('Answer from the context.');

    for (const receiver of [collector, langfuse, phoenix]) {
      expect(text(receiver.spans())).not.toContain(API_KEY_IN_QUESTION);
    }
    expect(langsmithText).not.toContain(API_KEY_IN_QUESTION);
  });

  it('credentials travel only to their own backend', () => {
    expect(langsmith.requests.every((r) => r.headers['x-api-key'] === LANGSMITH_KEY)).toBe(true);
    for (const receiver of [collector, phoenix]) {
      expect(text(receiver.requests.map((r) => r.headers))).not.toContain(LANGSMITH_KEY);
      expect(receiver.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
    }
    expect(langfuse.requests.every((r) => r.headers.authorization?.startsWith('Basic '))).toBe(true);
    expect(stdout).not.toContain(LANGSMITH_KEY);
    expect(stdout).not.toContain(LANGFUSE_SECRET);
  });
});
