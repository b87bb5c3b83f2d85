// GenAI metrics and step log records of @spanchain/otel as an OTLP receiver gets them: names, units,
// instruments and bucket boundaries from the conventions' model (test/fixtures/genai-semconv), no
// high-cardinality attributes, temporality, and log records correlated with the steps' spans.
import { cost, createTracer, type Tracer } from '@spanchain/core';
import { type OtelPluginOptions, type OtlpProtocol, otel, VERSION } from '@spanchain/otel';
import { describe, expect, it } from 'vitest';
import type { OtlpDataPoint, OtlpLogRecord, OtlpMetric } from '../support/otlp-receiver.js';
import { useOtlpReceiver } from '../support/receiver-fixture.js';
import { GEN_AI_BUCKET_BOUNDARIES, genAiMetrics, validateGenAiJson } from '../support/semconv.js';

const fixture = useOtlpReceiver();
const { tracers } = fixture;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function startTracer(options: OtelPluginOptions = {}, use: Parameters<typeof createTracer>[0] = {}): Tracer {
  const protocol = options.protocol ?? 'http/protobuf';
  const tracer = createTracer({
    serviceName: 'metrics-service',
    flushOnExit: false,
    ...use,
    plugins: [
      otel({
        endpoint: protocol === 'grpc' ? fixture.receiver.grpcUrl : fixture.receiver.httpUrl,
        batch: { scheduledDelayMillis: 10 },
        ...options,
      }),
    ],
  });
  tracers.push(tracer);
  return tracer;
}

const TOKEN_USAGE = 'gen_ai.client.token.usage';
const DURATION = 'gen_ai.client.operation.duration';
const TTFC = 'gen_ai.client.operation.time_to_first_chunk';
const TPOC = 'gen_ai.client.operation.time_per_output_chunk';
const COST = 'spanchain.client.cost';

/** The README's low-cardinality metric attributes, plus the token type of token.usage. */
const METRIC_ATTRIBUTES = new Set([
  'gen_ai.operation.name',
  'gen_ai.provider.name',
  'gen_ai.request.model',
  'gen_ai.response.model',
  'server.address',
  'server.port',
  'error.type',
  'spanchain.step.kind',
  'gen_ai.token.type',
]);

/** The most recent export of a metric (cumulative exports repeat everything recorded so far). */
function latest(name: string): OtlpMetric {
  const metric = fixture.receiver
    .metrics()
    .filter((m) => m.name === name)
    .at(-1);
  if (!metric) {
    const names = [...new Set(fixture.receiver.metrics().map((m) => m.name))].join(', ');
    throw new Error(`no metric ${name}; got ${names || 'none'}`);
  }
  return metric;
}

function point(metric: OtlpMetric, attributes: Record<string, unknown>): OtlpDataPoint {
  const found = metric.dataPoints.filter((p) =>
    Object.entries(attributes).every(([k, v]) =>
      v === undefined ? !(k in p.attributes) : p.attributes[k] === v,
    ),
  );
  if (found.length !== 1) {
    throw new Error(
      `${found.length} points of ${metric.name} match ${JSON.stringify(attributes)}: ${JSON.stringify(
        metric.dataPoints.map((p) => p.attributes),
      )}`,
    );
  }
  return found[0]!;
}

/** An error with a string code: the span's error.type is the code. */
class RateLimitError extends Error {
  readonly code = 'rate_limit_exceeded';
}

/** An error without a code: error.type is the class name. */
class ProviderDownError extends Error {}

const TRACE = { userId: 'user-42', sessionId: 'sess-7' };

interface MixedIds {
  traceId: string;
  spanIds: string[];
}

/** chain → retrieval, an llm with usage, an llm that fails, a tool. */
async function runMixed(tracer: Tracer): Promise<MixedIds> {
  const ids: MixedIds = { traceId: '', spanIds: [] };
  await tracer.chain({ name: 'answer', trace: TRACE }, async (root) => {
    ids.traceId = root.traceId;
    ids.spanIds.push(root.spanId);
    await tracer.retrieval({ query: 'refunds', dataSource: 'kb' }, async (s) => {
      ids.spanIds.push(s.spanId);
      return [];
    });
    await tracer.llm(
      { model: 'gpt-4o', provider: 'openai', inputMessages: [{ role: 'user', content: 'hi' }] },
      async (s) => {
        ids.spanIds.push(s.spanId);
        s.update({
          responseModel: 'gpt-4o-2024-08-06',
          usage: { inputTokens: 120, outputTokens: 24 },
          outputMessages: [{ role: 'assistant', content: 'hello' }],
          finishReasons: ['stop'],
        });
        return 'hello';
      },
    );
    await tracer
      .llm({ model: 'gpt-4o', provider: 'openai' }, async (s) => {
        ids.spanIds.push(s.spanId);
        throw new ProviderDownError('503 from provider');
      })
      .catch(() => 'degraded');
    await tracer.tool({ toolName: 'notify' }, async (s) => {
      ids.spanIds.push(s.spanId);
      return true;
    });
  });
  return ids;
}

function expectConventionMetric(metric: OtlpMetric): void {
  const model = genAiMetrics().get(metric.name);
  expect(model, `${metric.name} in metrics.yaml`).toBeDefined();
  expect(metric.type).toBe(model!.instrument);
  expect(metric.unit).toBe(model!.unit);
  expect(model!.bucketBoundaries).toBeDefined();
  const allowed = new Set(model!.attributes.map((a) => a.name));
  for (const p of metric.dataPoints) {
    expect(p.explicitBounds, metric.name).toEqual([...GEN_AI_BUCKET_BOUNDARIES[metric.name]!]);
    expect(p.explicitBounds).toEqual([...model!.bucketBoundaries!]);
    expect(p.bucketCounts).toHaveLength(p.explicitBounds!.length + 1);
    expect(p.bucketCounts!.reduce((a, b) => a + b, 0)).toBe(p.count);
    for (const key of Object.keys(p.attributes))
      expect(allowed.has(key), `${metric.name}: ${key}`).toBe(true);
    // Required by the model.
    expect(typeof p.attributes['gen_ai.operation.name']).toBe('string');
  }
}

describe('GenAI metrics', () => {
  it('are pushed on the export interval with the conventions’ names, units and buckets', async () => {
    const tracer = startTracer({ metrics: { exportIntervalMillis: 100 } });
    await runMixed(tracer);
    // No flush: the periodic reader must deliver on its own.
    await fixture.receiver.waitFor(
      (r) =>
        r.metrics().some((m) => m.name === TOKEN_USAGE) &&
        r.metrics().some((m) => m.name === DURATION && m.dataPoints.length >= 4) &&
        r.metrics().some((m) => m.name === 'spanchain.step.duration'),
      3000,
    );

    const usage = latest(TOKEN_USAGE);
    expect(usage.type).toBe('histogram');
    expect(usage.unit).toBe('{token}');
    expect(usage.temporality).toBe(2);
    const model = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
    };
    const input = point(usage, { ...model, 'gen_ai.token.type': 'input' });
    const output = point(usage, { ...model, 'gen_ai.token.type': 'output' });
    expect([input.count, input.sum]).toEqual([1, 120]);
    expect([output.count, output.sum]).toEqual([1, 24]);
    expect(input.attributes['gen_ai.response.model']).toBe('gpt-4o-2024-08-06');
    expect(input.explicitBounds).toEqual([...GEN_AI_BUCKET_BOUNDARIES[TOKEN_USAGE]!]);
    // 120 tokens fall in (64, 256], the fifth bucket.
    expect(input.bucketCounts!.indexOf(1)).toBe(4);
    expect(usage.dataPoints).toHaveLength(2);

    const duration = latest(DURATION);
    expect(duration.unit).toBe('s');
    expect(duration.type).toBe('histogram');
    const failed = point(duration, { 'gen_ai.operation.name': 'chat', 'error.type': 'ProviderDownError' });
    const ok = point(duration, { 'gen_ai.operation.name': 'chat', 'error.type': undefined });
    expect([failed.count, ok.count]).toEqual([1, 1]);
    expect(point(duration, { 'gen_ai.operation.name': 'retrieval' }).count).toBe(1);
    expect(point(duration, { 'gen_ai.operation.name': 'execute_tool' }).count).toBe(1);
    for (const p of duration.dataPoints) {
      expect(p.sum).toBeGreaterThanOrEqual(0);
      expect(p.sum).toBeLessThan(5);
    }
    // The chain is no GenAI operation: it gets spanchain's own histogram.
    expect(point(latest('spanchain.step.duration'), { 'spanchain.step.kind': 'chain' }).count).toBe(1);

    const conventionMetrics = [...new Set(fixture.receiver.metrics().map((m) => m.name))].filter((n) =>
      n.startsWith('gen_ai.'),
    );
    expect(conventionMetrics.sort()).toEqual([DURATION, TOKEN_USAGE]);
    for (const name of conventionMetrics) expectConventionMetric(latest(name));
    for (const request of fixture.receiver.requests.filter((r) => r.signal === 'metrics')) {
      expect(request.path).toBe('/v1/metrics');
      expect(request.contentType).toBe('application/x-protobuf');
    }
  });

  it('never carry user, session, trace or span ids', async () => {
    const tracer = startTracer();
    const ids = await runMixed(tracer);
    await tracer.flush();
    await fixture.receiver.waitFor((r) => r.metrics().some((m) => m.name === TOKEN_USAGE), 3000);
    const forbidden = [TRACE.userId, TRACE.sessionId, ids.traceId, ...ids.spanIds];
    expect(ids.spanIds).toHaveLength(5);
    const points = fixture.receiver
      .metrics()
      .flatMap((m) => m.dataPoints.map((p) => ({ metric: m.name, p })));
    expect(points.length).toBeGreaterThan(5);
    for (const { metric, p } of points) {
      for (const [key, value] of Object.entries(p.attributes)) {
        expect(METRIC_ATTRIBUTES.has(key), `${metric}: ${key}`).toBe(true);
        for (const id of forbidden) expect(String(value), `${metric}: ${key}`).not.toContain(id);
      }
    }
    for (const request of fixture.receiver.requests.filter((r) => r.signal === 'metrics')) {
      for (const id of [TRACE.userId, TRACE.sessionId]) expect(request.body.includes(id)).toBe(false);
    }
  });

  it('time streamed LLM calls: time to first chunk and time per output chunk', async () => {
    const tracer = startTracer();
    let spanId = '';
    const stream = tracer.llm({ model: 'gpt-4o-mini', provider: 'openai' }, async function* (s) {
      spanId = s.spanId;
      for (const piece of ['Hel', 'lo', ' there', '!']) {
        await sleep(15);
        yield piece;
      }
    });
    let text = '';
    for await (const chunk of stream) text += chunk;
    expect(text).toBe('Hello there!');
    await tracer.flush();
    await fixture.receiver.waitFor(
      (r) => r.metrics().some((m) => m.name === TTFC) && r.spans().length === 1,
      3000,
    );

    const span = fixture.receiver.spans()[0]!;
    expect(span.spanId).toBe(spanId);
    expect(span.attributes['gen_ai.request.stream']).toBe(true);
    expect(span.attributes['spanchain.stream.chunks']).toBe(4);
    const ttfcSpan = span.attributes['gen_ai.response.time_to_first_chunk'] as number;
    expect(ttfcSpan).toBeGreaterThan(0.005);

    const ttfc = latest(TTFC);
    const tpoc = latest(TPOC);
    for (const metric of [ttfc, tpoc]) {
      expect(metric.unit).toBe('s');
      expect(metric.dataPoints).toHaveLength(1);
      expect(metric.dataPoints[0]!.count).toBe(1);
      expect(metric.dataPoints[0]!.attributes['gen_ai.request.model']).toBe('gpt-4o-mini');
      expectConventionMetric(metric);
    }
    // The metric and the span attribute are the same measurement.
    expect(ttfc.dataPoints[0]!.sum).toBeCloseTo(ttfcSpan, 6);
    // Three gaps of ~15 ms after the first chunk.
    expect(tpoc.dataPoints[0]!.sum).toBeGreaterThan(0.005);
    expect(tpoc.dataPoints[0]!.sum).toBeLessThan(1);
    const duration = point(latest(DURATION), { 'gen_ai.request.model': 'gpt-4o-mini' });
    expect(duration.sum!).toBeGreaterThanOrEqual(ttfc.dataPoints[0]!.sum!);
  });

  it('count cost in USD as spanchain.client.cost (from the cost() middleware), not other currencies', async () => {
    const tracer = startTracer({}, { use: [cost()] });
    const ids: string[] = [];
    await tracer.chain('costly', async () => {
      await tracer.llm({ model: 'gpt-4o', provider: 'openai' }, async (s) => {
        ids.push(s.spanId);
        s.update({ usage: { inputTokens: 1000, outputTokens: 500 } });
        return 'a';
      });
      await tracer.llm({ model: 'gpt-4o', provider: 'openai' }, async (s) => {
        ids.push(s.spanId);
        s.update({ usage: { inputTokens: 10, outputTokens: 5 }, cost: { total: 0.5, currency: 'EUR' } });
        return 'b';
      });
    });
    await tracer.flush();
    await fixture.receiver.waitFor(
      (r) => r.metrics().some((m) => m.name === COST) && r.spans().length === 3,
      3000,
    );

    const usd = fixture.receiver.spans().find((s) => s.spanId === ids[0])!;
    const eur = fixture.receiver.spans().find((s) => s.spanId === ids[1])!;
    expect(usd.attributes['spanchain.cost.currency']).toBe('USD');
    expect(eur.attributes['spanchain.cost.currency']).toBe('EUR');
    const usdTotal = usd.attributes['spanchain.cost.total'] as number;
    expect(usdTotal).toBeGreaterThan(0);

    const metric = latest(COST);
    expect(metric.type).toBe('sum');
    expect(metric.isMonotonic).toBe(true);
    expect(metric.unit).toBe('USD');
    expect(metric.dataPoints).toHaveLength(1);
    expect(Number(metric.dataPoints[0]!.value)).toBeCloseTo(usdTotal, 12);
    expect(metric.dataPoints[0]!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
    });
  });

  it.each([
    ['cumulative (default)', undefined, 2, 2],
    ['delta', 'delta' as const, 1, 1],
  ])('use %s temporality', async (_label, temporality, wire, secondCount) => {
    const tracer = startTracer({ metrics: temporality ? { temporality } : true });
    const call = () =>
      tracer.llm({ model: 'gpt-4o', provider: 'openai' }, async (s) => {
        s.update({ usage: { inputTokens: 3, outputTokens: 2 } });
        return 'x';
      });
    await call();
    await tracer.flush();
    await fixture.receiver.waitFor((r) => r.metrics().some((m) => m.name === TOKEN_USAGE), 3000);
    const first = fixture.receiver.metrics().length;
    await call();
    await tracer.flush();
    await fixture.receiver.waitFor(
      (r) =>
        r
          .metrics()
          .slice(first)
          .some((m) => m.name === TOKEN_USAGE),
      3000,
    );

    for (const metric of fixture.receiver.metrics()) {
      if (metric.type === 'histogram' || metric.type === 'sum')
        expect(metric.temporality, metric.name).toBe(wire);
    }
    const input = point(latest(TOKEN_USAGE), { 'gen_ai.token.type': 'input' });
    // Delta: the second export holds only the second call; cumulative: both.
    expect(input.count).toBe(secondCount);
    expect(input.sum).toBe(3 * secondCount);
  });

  it.each(['http/json', 'grpc'] as OtlpProtocol[])('are exported over %s too', async (protocol) => {
    const tracer = startTracer({ protocol });
    await runMixed(tracer);
    await tracer.flush();
    await fixture.receiver.waitFor((r) => r.metrics().some((m) => m.name === TOKEN_USAGE), 3000);
    const requests = fixture.receiver.requests.filter((r) => r.signal === 'metrics');
    expect(requests.length).toBeGreaterThan(0);
    for (const request of requests) {
      if (protocol === 'grpc') {
        expect(request.path).toBe('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export');
      } else {
        expect(request.path).toBe('/v1/metrics');
        expect(request.contentType).toBe('application/json');
      }
    }
    expect(point(latest(TOKEN_USAGE), { 'gen_ai.token.type': 'output' }).sum).toBe(24);
    expect(latest(DURATION).unit).toBe('s');
  });
});

// ---------------------------------------------------------------------------------------------

const DETAILS = 'gen_ai.client.inference.operation.details';
const EXCEPTION = 'gen_ai.client.operation.exception';

const stepRecords = (logs: OtlpLogRecord[]) => logs.filter((l) => l.eventName === '');

/** An llm call with every content field, inside a chain. */
async function runChat(tracer: Tracer): Promise<{ traceId: string; rootId: string; llmId: string }> {
  const out = { traceId: '', rootId: '', llmId: '' };
  await tracer.chain('chat-turn', async (root) => {
    out.traceId = root.traceId;
    out.rootId = root.spanId;
    await tracer.llm(
      {
        model: 'gpt-4o',
        provider: 'openai',
        systemInstructions: 'Be brief.',
        tools: [{ name: 'lookup', description: 'Looks things up', parameters: { type: 'object' } }],
        inputMessages: [
          { role: 'user', content: 'Refund window?' },
          { role: 'assistant', toolCalls: [{ id: 'c1', name: 'lookup', arguments: { q: 'refund' } }] },
          { role: 'tool', toolCallId: 'c1', content: '30 days' },
        ],
      },
      async (s) => {
        out.llmId = s.spanId;
        s.update({
          outputMessages: [{ role: 'assistant', content: '30 days.' }],
          finishReasons: ['stop'],
          usage: { inputTokens: 40, outputTokens: 4 },
        });
        return '30 days.';
      },
    );
  });
  return out;
}

describe('log records', () => {
  it('one record per step, with the step’s trace and span ids, plus an exception event for a failed call', async () => {
    const tracer = startTracer({ metrics: false, logs: true });
    const ids = await runMixed(tracer);
    await tracer.flush();
    await fixture.receiver.waitFor((r) => stepRecords(r.logs()).length >= 5, 3000);

    const records = stepRecords(fixture.receiver.logs());
    expect(records).toHaveLength(5);
    expect(new Set(records.map((r) => r.spanId))).toEqual(new Set(ids.spanIds));
    for (const record of records) {
      expect(record.traceId).toBe(ids.traceId);
      expect(typeof record.body).toBe('string');
      expect(record.scope.name).toBe('@spanchain/otel');
      expect(record.resource['service.name']).toBe('metrics-service');
      expect(typeof record.attributes['spanchain.step.kind']).toBe('string');
    }
    const failed = records.filter((r) => r.severityNumber === 17);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.attributes['error.type']).toBe('ProviderDownError');
    expect(failed[0]!.body).toEqual(expect.stringContaining('503 from provider'));
    expect(records.filter((r) => r.severityNumber === 9)).toHaveLength(4);

    const exceptions = fixture.receiver.logs().filter((l) => l.eventName === EXCEPTION);
    expect(exceptions).toHaveLength(1);
    expect(exceptions[0]!.spanId).toBe(failed[0]!.spanId);
    expect(exceptions[0]!.severityNumber).toBe(13);
    expect(exceptions[0]!.attributes).toMatchObject({
      'exception.type': 'ProviderDownError',
      'exception.message': '503 from provider',
    });
    // Content capture is off by default: no details event.
    expect(fixture.receiver.logs().filter((l) => l.eventName === DETAILS)).toEqual([]);
    for (const request of fixture.receiver.requests.filter((r) => r.signal === 'logs')) {
      expect(request.path).toBe('/v1/logs');
    }
  });

  it("captureContent 'event': the llm call yields a details event with structured content, the span none", async () => {
    const tracer = startTracer({ metrics: false, logs: true, captureContent: 'event' });
    const ids = await runChat(tracer);
    await tracer.flush();
    await fixture.receiver.waitFor(
      (r) => r.logs().some((l) => l.eventName === DETAILS) && r.spans().length === 2,
      3000,
    );

    const details = fixture.receiver.logs().filter((l) => l.eventName === DETAILS);
    expect(details).toHaveLength(1);
    const event = details[0]!;
    expect([event.traceId, event.spanId]).toEqual([ids.traceId, ids.llmId]);
    const kinds = {
      'gen_ai.input.messages': 'input-messages',
      'gen_ai.output.messages': 'output-messages',
      'gen_ai.system_instructions': 'system-instructions',
      'gen_ai.tool.definitions': 'tool-definitions',
    } as const;
    for (const [key, kind] of Object.entries(kinds)) {
      const value = event.attributes[key];
      // Structured on events (kvlist/array on the wire), never a JSON string.
      expect(Array.isArray(value), key).toBe(true);
      expect(validateGenAiJson(kind, value).errors, key).toEqual([]);
    }
    expect(event.attributes['gen_ai.input.messages']).toEqual([
      { role: 'user', parts: [{ type: 'text', content: 'Refund window?' }] },
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'c1', name: 'lookup', arguments: { q: 'refund' } }],
      },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'c1', response: '30 days' }] },
    ]);
    expect(event.attributes['gen_ai.request.model']).toBe('gpt-4o');

    const llm = fixture.receiver.spans().find((s) => s.spanId === ids.llmId)!;
    for (const key of Object.keys(kinds)) expect(llm.attributes[key], key).toBeUndefined();
    expect(llm.attributes['gen_ai.usage.input_tokens']).toBe(40);
  });

  it("captureContent 'span': content on the span, no details event", async () => {
    const tracer = startTracer({ metrics: false, logs: true, captureContent: 'span' });
    const ids = await runChat(tracer);
    await tracer.flush();
    await fixture.receiver.waitFor((r) => stepRecords(r.logs()).length >= 2 && r.spans().length === 2, 3000);

    const llm = fixture.receiver.spans().find((s) => s.spanId === ids.llmId)!;
    const input = JSON.parse(llm.attributes['gen_ai.input.messages'] as string);
    expect(validateGenAiJson('input-messages', input).errors).toEqual([]);
    expect(typeof llm.attributes['gen_ai.output.messages']).toBe('string');
    expect(fixture.receiver.logs().filter((l) => l.eventName === DETAILS)).toEqual([]);
    expect(stepRecords(fixture.receiver.logs())).toHaveLength(2);
  });

  // The details event extends gen_ai.common: the operation name is required, error.type when the call failed.
  it('the details event carries the required gen_ai.operation.name, and error.type for a failed call', async () => {
    const tracer = startTracer({ metrics: false, logs: true, captureContent: 'event' });
    await runChat(tracer);
    await tracer
      .llm(
        { model: 'gpt-4o', provider: 'openai', inputMessages: [{ role: 'user', content: 'x' }] },
        async () => {
          throw new RateLimitError('429');
        },
      )
      .catch(() => undefined);
    await tracer.flush();
    await fixture.receiver.waitFor((r) => r.logs().filter((l) => l.eventName === DETAILS).length >= 2, 3000);
    const [ok, failed] = fixture.receiver.logs().filter((l) => l.eventName === DETAILS);
    expect(ok!.attributes['gen_ai.operation.name']).toBe('chat');
    expect(failed!.attributes['gen_ai.operation.name']).toBe('chat');
    expect(failed!.attributes['error.type']).toBe('rate_limit_exceeded');
  });
});

// CONTRACTS §2.5: the same error.type on the span and the metric (and the log records).
it('a failed call has the same error.type on its span, its duration metric and its log records', async () => {
  const tracer = startTracer({ logs: true });
  let llmId = '';
  await tracer
    .llm({ model: 'gpt-4o', provider: 'openai' }, async (s) => {
      llmId = s.spanId;
      throw new RateLimitError('429 Too Many Requests');
    })
    .catch(() => undefined);
  await tracer.flush();
  await fixture.receiver.waitFor(
    (r) => r.spans().length === 1 && r.metrics().length > 0 && r.logs().length >= 2,
    3000,
  );
  const spanType = fixture.receiver.spans()[0]!.attributes['error.type'];
  expect(fixture.receiver.spans()[0]!.spanId).toBe(llmId);
  expect(spanType).toBe('rate_limit_exceeded');
  expect(point(latest(DURATION), { 'gen_ai.operation.name': 'chat' }).attributes['error.type']).toBe(
    spanType,
  );
  const records = fixture.receiver.logs().filter((l) => l.spanId === llmId && 'error.type' in l.attributes);
  expect(records.length).toBeGreaterThanOrEqual(2); // the step record and the exception event
  for (const record of records) expect(record.attributes['error.type'], record.eventName).toBe(spanType);
});

// One instrumentation scope, with its version, for all three signals.
it('metrics and log records name the same instrumentation scope (with version) as spans', async () => {
  const tracer = startTracer({ logs: true });
  await runChat(tracer);
  await tracer.flush();
  await fixture.receiver.waitFor(
    (r) => r.spans().length > 0 && r.metrics().length > 0 && r.logs().length > 0,
    3000,
  );
  const scopes = [
    ...fixture.receiver.spans().map((s) => s.scope),
    ...fixture.receiver.metrics().map((m) => m.scope),
    ...fixture.receiver.logs().map((l) => l.scope),
  ];
  expect(fixture.receiver.spans()[0]!.scope).toEqual({ name: '@spanchain/otel', version: VERSION });
  for (const scope of scopes) expect(scope).toEqual({ name: '@spanchain/otel', version: VERSION });
});
