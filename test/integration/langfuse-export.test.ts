// End-to-end contract of @spanchain/langfuse against the loopback OTLP receiver standing in for
// Langfuse's /api/public/otel/v1/traces (CONTRACTS §3): path, auth and ingestion headers, both
// encodings, gzip, lowercase ids in JSON, observation types, trace attributes on every span,
// generation details, levels, and trace continuation with updateTraceKeys and masks.
import { createTracer, REDACTED, redact, type Tracer } from '@spanchain/core';
import { createTraceId, type LangfusePluginOptions, langfuse } from '@spanchain/langfuse';
import { describe, expect, it } from 'vitest';
import type { OtlpSpan } from '../support/otlp-receiver.js';
import { useOtlpReceiver } from '../support/receiver-fixture.js';

const PK = 'pk-lf-0a1b2c3d4e5f60718293';
const SK = 'sk-lf-9f8e7d6c5b4a39281706-export';
const BASIC = `Basic ${Buffer.from(`${PK}:${SK}`).toString('base64')}`;
const TRACE_PATH = '/api/public/otel/v1/traces';

const fixture = useOtlpReceiver({ grpc: false });
const { tracers } = fixture;

function startTracer(options: LangfusePluginOptions = {}, use = [redact()]): Tracer {
  const tracer = createTracer({
    serviceName: 'support-bot',
    flushOnExit: false,
    use,
    plugins: [
      langfuse(
        {
          publicKey: PK,
          secretKey: SK,
          baseUrl: fixture.receiver.httpUrl,
          flushIntervalMillis: 10,
          ...options,
        },
        {},
      ),
    ],
  });
  tracers.push(tracer);
  return tracer;
}

const TRACE = {
  name: 'support-request',
  userId: 'user-42',
  sessionId: 'session-7',
  tags: ['beta', 'eu'],
  metadata: { plan: 'pro', seats: 3 },
  input: { question: 'refund window?' },
  environment: 'staging',
  release: 'r-2025.1',
};

class ToolDown extends Error {}

/** One step of each kind under a root chain; the tool fails, the guardrail blocks. */
async function pipeline(tracer: Tracer): Promise<string> {
  return tracer.chain({ name: 'support', trace: TRACE, input: 'refund window?' }, async (root) => {
    await tracer.retrieval({ name: 'search', dataSource: 'kb', query: 'refund window' }, async (s) => {
      s.update({ documents: [{ id: 'doc-1', content: '30 days', score: 0.92 }] });
      return [];
    });
    await tracer.rerank(
      { name: 'rerank', model: 'rerank-v3', query: 'refund', documents: [{ id: 'doc-1' }] },
      async () => 1,
    );
    await tracer.embedding(
      { name: 'embed', model: 'text-embedding-3-small', texts: ['refund'] },
      async (s) => {
        s.update({ usage: { inputTokens: 3 } });
        return [[0.1]];
      },
    );
    await tracer.prompt(
      { name: 'build-prompt', templateName: 'answer', variables: { q: 'refund' } },
      async () => 'p',
    );
    await tracer.llm(
      {
        name: 'answer',
        model: 'gpt-4o',
        provider: 'openai',
        inputMessages: [{ role: 'user', content: 'refund window?' }],
        params: { temperature: 0.1 },
        promptName: 'answer',
        promptVersion: 4,
      },
      async (s) => {
        s.update({
          responseModel: 'gpt-4o-2024-08-06',
          outputMessages: [{ role: 'assistant', content: '30 days' }],
          usage: { inputTokens: 50, outputTokens: 10, totalTokens: 60, cachedInputTokens: 20 },
          cost: { input: 0.0002, output: 0.0001, total: 0.0003, currency: 'USD' },
          timeToFirstTokenMs: 120,
        });
        return '30 days';
      },
    );
    await tracer
      .tool({ name: 'ticket', toolName: 'create_ticket', arguments: { id: 1 } }, async () => {
        throw new ToolDown('ticket service down');
      })
      .catch(() => undefined);
    await tracer.guardrail({ name: 'pii', decision: 'block', reason: 'email in answer' }, async () => 'x');
    await tracer.agent({ name: 'helper', agentName: 'helper' }, async () => 'ok');
    await tracer.custom('misc', async () => 1);
    root.update({ output: '30 days' });
    return '30 days';
  });
}
const PIPELINE_SPANS = 10;

const byName = (spans: OtlpSpan[], name: string): OtlpSpan => {
  const span = spans.find((s) => s.name === name);
  if (!span) throw new Error(`no span ${name} in ${spans.map((s) => s.name).join(', ')}`);
  return span;
};
const json = (value: unknown): unknown => JSON.parse(String(value));

async function runPipeline(options: LangfusePluginOptions = {}): Promise<OtlpSpan[]> {
  const tracer = startTracer(options);
  expect(await pipeline(tracer)).toBe('30 days');
  const report = await tracer.flush();
  expect(report.timedOut).toBe(false);
  await fixture.receiver.waitFor({ spans: PIPELINE_SPANS }, 5000);
  return fixture.receiver.spans();
}

describe.each(['http/protobuf', 'http/json'] as const)('over %s', (protocol) => {
  it('posts to /api/public/otel/v1/traces with Basic auth, ingestion version 4 and gzip', async () => {
    await runPipeline({ protocol, compression: 'gzip' });
    const requests = fixture.receiver.requests;
    expect(requests.length).toBeGreaterThan(0);
    for (const request of requests) {
      expect(request.signal).toBe('traces');
      expect(request.path).toBe(TRACE_PATH);
      expect(request.headers.authorization).toBe(BASIC);
      expect(request.headers['x-langfuse-ingestion-version']).toBe('4');
      expect(request.headers['x-langfuse-public-key']).toBe(PK);
      expect(request.headers['x-langfuse-sdk-name']).toBe('@spanchain/langfuse');
      expect(request.headers['x-langfuse-sdk-version']).toMatch(/^\d+\.\d+\.\d+/);
      expect(request.contentType).toBe(
        protocol === 'http/json' ? 'application/json' : 'application/x-protobuf',
      );
      expect(request.contentEncoding).toBe('gzip');
      expect(request.body.includes(SK)).toBe(false);
      expect(request.outcome?.kind).toBe('accepted');
    }
    // No metrics or logs go to Langfuse (it drops the one and rejects the other).
    expect(requests.filter((r) => r.signal !== 'traces')).toEqual([]);
  });

  it('gives each kind its observation type and every span the trace attributes, failures included', async () => {
    const spans = await runPipeline({ protocol });
    expect(spans).toHaveLength(PIPELINE_SPANS);
    const types = Object.fromEntries(spans.map((s) => [s.name, s.attributes['langfuse.observation.type']]));
    expect(types).toEqual({
      support: 'chain',
      search: 'retriever',
      rerank: 'retriever',
      embed: 'embedding',
      'build-prompt': 'span',
      answer: 'generation',
      ticket: 'tool',
      pii: 'guardrail',
      helper: 'agent',
      misc: 'span',
    });
    const traceId = byName(spans, 'support').traceId;
    for (const span of spans) {
      const a = span.attributes;
      expect(span.traceId, span.name).toBe(traceId);
      expect(span.scope.name).toBe('@spanchain/langfuse');
      expect(a['langfuse.trace.name'], span.name).toBe('support-request');
      expect(a['user.id']).toBe('user-42');
      expect(a['session.id']).toBe('session-7');
      expect(a['langfuse.trace.tags']).toEqual(['beta', 'eu']);
      expect(a['langfuse.trace.metadata.plan']).toBe('pro');
      expect(a['langfuse.trace.metadata.seats']).toBe('3');
      expect(json(a['langfuse.trace.input'])).toEqual({ question: 'refund window?' });
      expect(a['langfuse.environment']).toBe('staging');
      expect(a['langfuse.release']).toBe('r-2025.1');
    }
    // Only generations and embeddings carry a model.
    const withModel = spans.filter((s) =>
      ['langfuse.observation.model.name', 'gen_ai.request.model', 'gen_ai.response.model'].some(
        (k) => s.attributes[k] !== undefined,
      ),
    );
    expect(withModel.map((s) => s.name).sort()).toEqual(['answer', 'embed']);
  });

  it('sends generation details, levels and content as Langfuse reads them', async () => {
    const spans = await runPipeline({ protocol });
    const answer = byName(spans, 'answer').attributes;
    expect(answer['langfuse.observation.model.name']).toBe('gpt-4o-2024-08-06');
    expect(json(answer['langfuse.observation.usage_details'])).toEqual({
      input: 30,
      output: 10,
      total: 60,
      input_cached_tokens: 20,
    });
    expect(json(answer['langfuse.observation.cost_details'])).toEqual({
      input: 0.0002,
      output: 0.0001,
      total: 0.0003,
    });
    expect(json(answer['langfuse.observation.model.parameters'])).toEqual({ temperature: 0.1 });
    expect(answer['langfuse.observation.prompt.name']).toBe('answer');
    expect(answer['langfuse.observation.prompt.version']).toBe(4);
    expect(Date.parse(String(answer['langfuse.observation.completion_start_time']))).toBeGreaterThan(0);
    expect(json(answer['langfuse.observation.input'])).toEqual([{ role: 'user', content: 'refund window?' }]);
    expect(json(answer['langfuse.observation.output'])).toEqual({ role: 'assistant', content: '30 days' });
    expect(answer['gen_ai.input.messages']).toBeUndefined();
    expect(answer['langfuse.observation.level']).toBe('DEFAULT');

    const ticket = byName(spans, 'ticket');
    expect(ticket.status.code).toBe(2);
    expect(ticket.attributes['langfuse.observation.level']).toBe('ERROR');
    expect(ticket.attributes['langfuse.observation.status_message']).toBe('ticket service down');
    expect(json(ticket.attributes['langfuse.observation.input'])).toEqual({ id: 1 });

    const pii = byName(spans, 'pii').attributes;
    expect(pii['langfuse.observation.level']).toBe('WARNING');
    expect(pii['langfuse.observation.status_message']).toBe('email in answer');

    const search = byName(spans, 'search').attributes;
    expect(search['langfuse.observation.input']).toBe('refund window');
    expect(json(search['langfuse.observation.output'])).toEqual([
      { id: 'doc-1', content: '30 days', score: 0.92 },
    ]);
    expect(byName(spans, 'support').attributes['langfuse.observation.output']).toBe('30 days');
  });
});

it('writes lowercase hex ids in OTLP/JSON bodies, as sent', async () => {
  await runPipeline({ protocol: 'http/json', compression: 'none' });
  const ids: string[] = [];
  for (const request of fixture.receiver.requests) {
    expect(request.contentEncoding).toBe('');
    const body = request.decoded as {
      resourceSpans: {
        scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string }[] }[];
      }[];
    };
    for (const rs of body.resourceSpans)
      for (const ss of rs.scopeSpans)
        for (const s of ss.spans) ids.push(s.traceId, s.spanId, ...(s.parentSpanId ? [s.parentSpanId] : []));
  }
  expect(ids.length).toBeGreaterThanOrEqual(PIPELINE_SPANS * 2);
  for (const id of ids) expect(id).toMatch(/^([0-9a-f]{32}|[0-9a-f]{16})$/);
});

describe('continuing an existing trace', () => {
  const existing = createTraceId('ticket-4711');

  it('without updateTraceKeys: same trace id, no trace name, tags, metadata, input or output', async () => {
    const tracer = startTracer();
    await tracer.chain(
      {
        name: 'follow-up',
        existingTraceId: existing,
        existingParentSpanId: '00f067aa0ba902b7',
        trace: TRACE,
      },
      async () => tracer.llm({ name: 'answer', model: 'gpt-4o' }, async () => 'ok'),
    );
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 2 }, 5000);
    const spans = fixture.receiver.spans();
    expect(existing).toMatch(/^[0-9a-f]{32}$/);
    for (const span of spans) {
      expect(span.traceId).toBe(existing);
      for (const key of [
        'langfuse.trace.name',
        'langfuse.trace.tags',
        'langfuse.trace.metadata.plan',
        'langfuse.trace.input',
        'langfuse.trace.output',
        'user.id',
        'session.id',
      ]) {
        expect(span.attributes[key], `${span.name} ${key}`).toBeUndefined();
      }
      expect(span.attributes['langfuse.environment']).toBe('staging');
    }
    expect(byName(spans, 'follow-up').parentSpanId).toBe('00f067aa0ba902b7');
  });

  it('joined by trace id alone, the first step is not sent as the trace’s root', async () => {
    const tracer = startTracer();
    await tracer.chain({ name: 'late-job', existingTraceId: existing, trace: TRACE }, async () => 'ok');
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 1 }, 5000);
    const span = byName(fixture.receiver.spans(), 'late-job');
    expect(span.traceId).toBe(existing);
    // A parent Langfuse never receives: the span joins the trace without becoming its root.
    expect(span.parentSpanId).toMatch(/^[0-9a-f]{16}$/);
    expect(span.flags & 0x300).toBe(0x300);
  });

  it('with updateTraceKeys and masks: only the listed keys, masked values as the marker', async () => {
    const tracer = startTracer();
    await tracer.chain(
      {
        name: 'follow-up',
        existingTraceId: existing,
        existingParentSpanId: '00f067aa0ba902b7',
        trace: { ...TRACE, input: 'the raw private question', output: 'raw final answer' },
        updateTraceKeys: ['input', 'output', 'metadata'],
        maskInput: true,
      },
      async () => tracer.tool({ name: 'lookup' }, async () => 'found'),
    );
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 2 }, 5000);
    const spans = fixture.receiver.spans();
    for (const span of spans) {
      const a = span.attributes;
      expect(a['langfuse.trace.input'], span.name).toBe(REDACTED);
      expect(a['langfuse.trace.output']).toBe('raw final answer');
      expect(a['langfuse.trace.metadata.plan']).toBe('pro');
      expect(a['langfuse.trace.name']).toBeUndefined();
      expect(a['langfuse.trace.tags']).toBeUndefined();
      expect(a['user.id']).toBeUndefined();
    }
    for (const request of fixture.receiver.requests)
      expect(request.body.includes('the raw private question')).toBe(false);
  });
});
