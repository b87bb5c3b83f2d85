// The README's demo, run as users run it: a child process over the built packages.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { traceUuid } from '@spanchain/langsmith';
import { describe, expect, it } from 'vitest';
import { startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { startOtlpReceiver } from '../support/otlp-receiver.js';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../../examples/quickstart/src/main.mjs', import.meta.url));

describe('the quickstart demo', () => {
  it('prints the waterfall of the whole RAG trace to stderr and the answer to stdout', async () => {
    const { stdout, stderr } = await run(process.execPath, [main, 'How do plugins reach several backends?'], {
      env: { ...process.env, FORCE_COLOR: '0', SPANCHAIN_PLUGINS: '' },
      timeout: 20_000,
    });
    expect(stdout).toContain('Sources:');
    expect(stdout.toLowerCase()).toContain('backend');
    const lines = stderr.trim().split('\n');
    expect(lines[0] ?? '').toMatch(/^rag-demo .* trace [0-9a-f]{32}$/);
    for (const [kind, name] of <[string, string][]>[
      ['agent', 'docs-assistant'],
      ['retrieval', 'search-docs'],
      ['embedding', 'embed-query'],
      ['prompt', 'build-prompt'],
      ['llm', 'answer'],
      ['guardrail', 'non-empty-answer'],
      ['tool', 'cite-sources'],
    ]) {
      expect(
        lines.some((l) => l.includes(`✓ ${kind}`) && l.includes(name)),
        `${kind} ${name}`,
      ).toBe(true);
    }
    expect(stderr).toMatch(/local-extractive-1 · \d+→\d+ tok/);
    expect(stderr).not.toContain('\u001b[');
  });

  it('masks the e-mail address in the question before any plugin sees it', async () => {
    const { stderr } = await run(process.execPath, [main], {
      env: { ...process.env, SPANCHAIN_CONSOLE_FORMAT: 'jsonl', SPANCHAIN_PLUGINS: '' },
      timeout: 20_000,
    });
    const steps = stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { name: string; input?: string; redacted?: string[] });
    const agent = steps.find((s) => s.name === 'docs-assistant');
    expect(agent?.input).toContain('[REDACTED:email]');
    expect(stderr).not.toContain('ana@example.com');
    expect(steps).toHaveLength(7);
  });

  it('also exports the trace over OTLP when SPANCHAIN_PLUGINS names otel', async () => {
    const receiver = await startOtlpReceiver({ grpc: false });
    try {
      const { stderr } = await run(process.execPath, [main], {
        env: {
          ...process.env,
          FORCE_COLOR: '0',
          SPANCHAIN_PLUGINS: 'otel',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpUrl,
          OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'SPAN_ONLY',
        },
        timeout: 20_000,
      });
      const traceId = /trace ([0-9a-f]{32})/.exec(stderr)?.[1];
      const spans = receiver.spans();
      expect(spans).toHaveLength(7);
      expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
      expect(spans.map((s) => s.name).sort()).toEqual([
        'build-prompt',
        'chat local-extractive-1',
        'embeddings hash-embedding-64',
        'execute_tool cite_sources',
        'invoke_agent docs-assistant',
        'non-empty-answer',
        'retrieval spanchain-docs',
      ]);
      // Redaction ran before the plugin: the address never went over the wire.
      for (const request of receiver.requests)
        expect(request.body.toString('latin1')).not.toContain('ana@example.com');
    } finally {
      await receiver.close();
    }
  });

  it('sends the same trace to Langfuse, LangSmith and Phoenix when SPANCHAIN_PLUGINS names them', async () => {
    const [langfuse, phoenix] = await Promise.all([
      startOtlpReceiver({ grpc: false }),
      startOtlpReceiver({ grpc: false }),
    ]);
    const langsmith = await startLangSmithReceiver();
    try {
      const { stderr } = await run(process.execPath, [main], {
        env: {
          ...process.env,
          FORCE_COLOR: '0',
          SPANCHAIN_PLUGINS: 'langfuse, langsmith, phoenix',
          LANGFUSE_PUBLIC_KEY: 'pk-lf-demo',
          LANGFUSE_SECRET_KEY: 'sk-lf-demo-secret',
          LANGFUSE_BASE_URL: langfuse.httpUrl,
          LANGSMITH_API_KEY: 'lsv2_demo_key_0123456789',
          LANGSMITH_ENDPOINT: langsmith.url,
          PHOENIX_COLLECTOR_ENDPOINT: phoenix.httpUrl,
        },
        timeout: 20_000,
      });
      const traceId = /trace ([0-9a-f]{32})/.exec(stderr)?.[1];
      expect(traceId).toBeDefined();
      for (const receiver of [langfuse, phoenix]) {
        expect(receiver.spans()).toHaveLength(7);
        expect(new Set(receiver.spans().map((s) => s.traceId))).toEqual(new Set([traceId]));
      }
      expect(langfuse.requests[0]?.path).toBe('/api/public/otel/v1/traces');
      expect(phoenix.spans().every((s) => s.attributes['openinference.span.kind'] !== undefined)).toBe(true);
      const runs = langsmith.runs();
      expect(runs).toHaveLength(7);
      expect(new Set(runs.map((r) => r.trace_id))).toEqual(new Set([traceUuid(traceId!)]));
      expect(langsmith.problems()).toEqual([]);
    } finally {
      await Promise.all([langfuse.close(), phoenix.close(), langsmith.close()]);
    }
  });

  it('pnpm demo runs the LangChain RAG example, then the agent, each with its waterfall', async () => {
    const script = fileURLToPath(new URL('../../scripts/demo.mjs', import.meta.url));
    const { stdout, stderr } = await run(process.execPath, [script], {
      env: { ...process.env, FORCE_COLOR: '0', SPANCHAIN_PLUGINS: '', OPENAI_API_KEY: '' },
      timeout: 30_000,
    });
    expect(stdout).toMatch(/Collector/);
    expect(stdout).toMatch(/Lisbon/);
    const roots = stderr.split('\n').filter((line) => /^\S.* trace [0-9a-f]{32}$/.test(line));
    expect(roots.map((line) => line.split(' ')[0])).toEqual(['rag', 'agent-demo']);
    expect(stderr).toMatch(/✓ llm\s+local-extractive-1/);
    expect(stderr).toMatch(/✓ agent\s+trip-assistant/);
  });
});
