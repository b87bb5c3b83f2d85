// examples/rag, run as users run it: a child process over the built packages, its trace read back.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startOtlpReceiver } from '../support/otlp-receiver.js';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../../examples/rag/src/main.mjs', import.meta.url));
const QUESTION = 'How do I send traces to an OpenTelemetry collector?';

interface JsonStep {
  kind: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  status: string;
  model?: string;
  usage?: { inputTokens?: number; outputTokens?: number };
  timeToFirstTokenMs?: number;
  documents?: { content?: string; metadata?: Record<string, unknown> }[];
  query?: string;
  templateName?: string;
  variables?: Record<string, unknown>;
  messages?: unknown[];
  output?: unknown;
  trace: { userId?: string; sessionId?: string; tags?: string[] };
}

const baseEnv = { ...process.env, FORCE_COLOR: '0', SPANCHAIN_PLUGINS: '', OPENAI_API_KEY: '' };

describe('examples/rag', () => {
  it('streams the answer and traces the LangChain chain as one tree of typed steps', async () => {
    const { stdout, stderr } = await run(process.execPath, [main, QUESTION], {
      env: { ...baseEnv, SPANCHAIN_CONSOLE_FORMAT: 'jsonl' },
      timeout: 20_000,
    });
    expect(stdout).toMatch(/Collector/);
    const steps = stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as JsonStep);
    const byId = new Map(steps.map((s) => [s.spanId, s]));
    const one = (kind: string, name?: string) => {
      const found = steps.filter((s) => s.kind === kind && (name === undefined || s.name === name));
      expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
      return found[0] as JsonStep;
    };

    // One trace, one root: the chain; every other step's parent is in the trace.
    expect(new Set(steps.map((s) => s.traceId)).size).toBe(1);
    const root = one('chain', 'rag');
    expect(root.parentSpanId).toBeUndefined();
    for (const step of steps) {
      if (step !== root) expect(byId.has(step.parentSpanId ?? ''), `${step.kind} ${step.name}`).toBe(true);
      expect(step.status).toBe('ok');
      expect(step.trace).toMatchObject({
        userId: 'demo-user',
        sessionId: 'session-1',
        tags: ['rag-example'],
      });
    }

    const retrieval = one('retrieval');
    expect(retrieval.query).toBe(QUESTION);
    expect(retrieval.documents).toHaveLength(3);
    expect(retrieval.documents?.every((d) => typeof d.metadata?.source === 'string')).toBe(true);

    const prompt = one('prompt');
    expect(prompt.parentSpanId).toBe(root.spanId);
    expect(prompt.variables).toMatchObject({ question: QUESTION });
    expect(prompt.messages).toHaveLength(2);

    const llm = one('llm');
    expect(llm.parentSpanId).toBe(root.spanId);
    expect(llm.model).toBe('local-extractive-1');
    expect(llm.usage?.inputTokens).toBeGreaterThan(0);
    expect(llm.usage?.outputTokens).toBeGreaterThan(0);
    expect(llm.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(String(llm.output ?? '')).toContain(stdout.trim().split(' ')[0]);

    // The retriever runs inside the map's context branch, under the root.
    let ancestor = byId.get(retrieval.parentSpanId ?? '');
    while (ancestor && ancestor !== root) ancestor = byId.get(ancestor.parentSpanId ?? '');
    expect(ancestor).toBe(root);
  });

  it('sends the same tree over OTLP when SPANCHAIN_PLUGINS names otel', async () => {
    const receiver = await startOtlpReceiver({ grpc: false });
    try {
      const { stderr } = await run(process.execPath, [main, QUESTION], {
        env: { ...baseEnv, SPANCHAIN_PLUGINS: 'otel', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpUrl },
        timeout: 20_000,
      });
      const traceId = /trace ([0-9a-f]{32})/.exec(stderr)?.[1];
      const spans = receiver.spans();
      expect(spans.length).toBeGreaterThanOrEqual(7);
      expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
      const names = spans.map((s) => s.name);
      expect(names).toContain('chat local-extractive-1');
      expect(names).toContain('rag');
      expect(names.some((n) => n.startsWith('retrieval'))).toBe(true);
    } finally {
      await receiver.close();
    }
  });
});
