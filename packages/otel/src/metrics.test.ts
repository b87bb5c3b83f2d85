import { ValueType } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { createTracer, type Step, type StepKind, type StepOf } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createGenAiMetrics,
  GEN_AI_DURATION_BUCKETS,
  GEN_AI_TOKEN_BUCKETS,
  GenAiMetrics,
  type GenAiMetricsOptions,
  METRIC_NAMES,
} from './metrics.js';

// Copied from CONTRACTS 2.6 (GenAI semantic conventions v1.41.0, docs/gen-ai/gen-ai-metrics.md).
const SPEC_TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
const SPEC_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

const resource = resourceFromAttributes({ 'service.name': 'metrics-test' });
const open: GenAiMetrics[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.shutdown()));
});

function setup(options: Partial<GenAiMetricsOptions> = {}) {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // A long interval: tests collect with forceFlush only.
  const metrics = new GenAiMetrics({ resource, exporter, exportIntervalMillis: 3_600_000, ...options });
  open.push(metrics);
  const collect = async (): Promise<MetricData[]> => {
    const result = await metrics.forceFlush();
    expect(result).toEqual({ ok: true });
    const all = exporter.getMetrics();
    const last = all[all.length - 1];
    return last ? last.scopeMetrics.flatMap((s) => s.metrics) : [];
  };
  return { exporter, metrics, collect };
}

function setupTracer() {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], flushOnExit: false });
  return { memory, tracer };
}

function metric(all: MetricData[], name: string): MetricData | undefined {
  return all.find((m) => m.descriptor.name === name);
}

function histogramPoints(all: MetricData[], name: string) {
  const m = metric(all, name);
  if (!m) return [];
  expect(m.dataPointType).toBe(DataPointType.HISTOGRAM);
  return m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value as Histogram }));
}

function sumPoints(all: MetricData[], name: string) {
  const m = metric(all, name);
  if (!m) return [];
  expect(m.dataPointType).toBe(DataPointType.SUM);
  return m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value as number }));
}

let spanCounter = 0;
/** A plain ended step record with exact times. */
function makeStep<K extends StepKind>(kind: K, fields: Partial<StepOf<K>> = {}): Step {
  spanCounter++;
  const base = {
    kind,
    name: `${kind}-step`,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: spanCounter.toString(16).padStart(16, '0'),
    parentIsRemote: false,
    traceFlags: 1,
    sampled: true,
    startTime: 1_700_000_000_000,
    endTime: 1_700_000_001_500,
    status: 'ok',
    trace: {},
    traceKeys: [],
    events: [],
    attributes: {},
    serviceName: 'test',
  };
  return { ...base, ...fields } as unknown as Step;
}

function allAttributeText(all: MetricData[]): string {
  return JSON.stringify(all.flatMap((m) => m.dataPoints.map((p) => p.attributes)));
}

describe('instruments', () => {
  it('have the names, units, value types and bucket boundaries of the conventions', async () => {
    const { metrics, collect } = setup();
    metrics.record(
      makeStep('llm', {
        provider: 'openai',
        model: 'gpt-4o',
        usage: { inputTokens: 10, outputTokens: 20 },
        cost: { total: 0.5, currency: 'USD' },
        timeToFirstTokenMs: 100,
        stream: { state: 'completed', chunks: 3, firstChunkTime: 1_700_000_000_100 },
      }),
    );
    metrics.record(makeStep('chain'));
    const all = await collect();

    expect(all.map((m) => m.descriptor.name).sort()).toEqual(
      [
        'gen_ai.client.operation.duration',
        'gen_ai.client.operation.time_per_output_chunk',
        'gen_ai.client.operation.time_to_first_chunk',
        'gen_ai.client.token.usage',
        'spanchain.client.cost',
        'spanchain.step.duration',
      ].sort(),
    );
    expect(Object.values(METRIC_NAMES).sort()).toEqual(all.map((m) => m.descriptor.name).sort());

    const tokens = metric(all, 'gen_ai.client.token.usage')!;
    expect(tokens.descriptor.unit).toBe('{token}');
    expect(tokens.descriptor.valueType).toBe(ValueType.INT);
    for (const name of [
      'gen_ai.client.operation.duration',
      'gen_ai.client.operation.time_to_first_chunk',
      'gen_ai.client.operation.time_per_output_chunk',
      'spanchain.step.duration',
    ]) {
      const m = metric(all, name)!;
      expect(m.descriptor.unit, name).toBe('s');
      expect(m.descriptor.valueType, name).toBe(ValueType.DOUBLE);
      for (const p of histogramPoints(all, name)) {
        expect(p.value.buckets.boundaries, name).toEqual([...GEN_AI_DURATION_BUCKETS]);
        expect(p.value.buckets.boundaries, name).toEqual(SPEC_DURATION_BUCKETS);
        expect(p.value.buckets.counts).toHaveLength(SPEC_DURATION_BUCKETS.length + 1);
      }
    }
    for (const p of histogramPoints(all, 'gen_ai.client.token.usage')) {
      expect(p.value.buckets.boundaries).toEqual([...GEN_AI_TOKEN_BUCKETS]);
      expect(p.value.buckets.boundaries).toEqual(SPEC_TOKEN_BUCKETS);
    }
    const cost = metric(all, 'spanchain.client.cost')!;
    expect(cost.descriptor.unit).toBe('USD');
    expect(cost.descriptor.valueType).toBe(ValueType.DOUBLE);
    expect(cost.dataPointType).toBe(DataPointType.SUM);
    expect((cost as { isMonotonic?: boolean }).isMonotonic).toBe(true);
  });

  it('exports the bucket constants exactly as CONTRACTS 2.6 lists them', () => {
    expect(GEN_AI_TOKEN_BUCKETS).toEqual(SPEC_TOKEN_BUCKETS);
    expect(GEN_AI_DURATION_BUCKETS).toEqual(SPEC_DURATION_BUCKETS);
    expect(Object.isFrozen(GEN_AI_TOKEN_BUCKETS)).toBe(true);
  });
});

describe('token usage and duration of real steps', () => {
  it('splits input and output tokens, with low-cardinality attributes only', async () => {
    const { metrics, collect } = setup();
    const { memory, tracer } = setupTracer();
    await tracer.agent(
      { name: 'support-agent', trace: { userId: 'user-4711', sessionId: 'session-0815' } },
      async () => {
        await tracer.llm(
          {
            name: 'answer-question-for-user-4711',
            model: 'gpt-4o',
            provider: 'openai',
            serverAddress: 'api.openai.com',
            serverPort: 443,
          },
          async (s) => {
            s.update({
              usage: { inputTokens: 120, outputTokens: 35, totalTokens: 155 },
              responseModel: 'gpt-4o-2024-08-06',
            });
            return 'answer';
          },
        );
      },
    );
    for (const step of memory.steps) metrics.record(step);
    const all = await collect();

    const llm = memory.one('answer-question-for-user-4711');
    const common = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'server.address': 'api.openai.com',
      'server.port': 443,
    };
    const tokens = histogramPoints(all, 'gen_ai.client.token.usage');
    expect(tokens).toHaveLength(2);
    const input = tokens.find((p) => p.attributes['gen_ai.token.type'] === 'input')!;
    const output = tokens.find((p) => p.attributes['gen_ai.token.type'] === 'output')!;
    expect(input.attributes).toEqual({ ...common, 'gen_ai.token.type': 'input' });
    expect(output.attributes).toEqual({ ...common, 'gen_ai.token.type': 'output' });
    expect([input.value.count, input.value.sum]).toEqual([1, 120]);
    expect([output.value.count, output.value.sum]).toEqual([1, 35]);
    // 120 falls in (64, 256], the 5th bucket; 35 in (16, 64], the 4th.
    expect(input.value.buckets.counts[4]).toBe(1);
    expect(output.value.buckets.counts[3]).toBe(1);

    const durations = histogramPoints(all, 'gen_ai.client.operation.duration');
    const chat = durations.find((p) => p.attributes['gen_ai.operation.name'] === 'chat')!;
    expect(chat.attributes).toEqual(common);
    expect(chat.value.count).toBe(1);
    expect(chat.value.sum).toBeCloseTo((llm.endTime! - llm.startTime) / 1000, 9);
    const agent = durations.find((p) => p.attributes['gen_ai.operation.name'] === 'invoke_agent')!;
    expect(agent.attributes).toEqual({ 'gen_ai.operation.name': 'invoke_agent' });

    const text = allAttributeText(all);
    for (const forbidden of [
      'user-4711',
      'session-0815',
      llm.traceId,
      llm.spanId,
      'support-agent',
      'answer-question',
    ]) {
      expect(text).not.toContain(forbidden);
    }
    for (const m of all) {
      for (const p of m.dataPoints) {
        for (const key of Object.keys(p.attributes)) {
          expect(key).toMatch(
            /^(gen_ai\.(operation\.name|provider\.name|request\.model|response\.model|token\.type)|server\.(address|port)|error\.type|spanchain\.step\.kind)$/,
          );
        }
      }
    }
    await tracer.shutdown();
  });

  it('records only the token types that were reported, and no tokens without usage', async () => {
    const { metrics, collect } = setup();
    metrics.record(
      makeStep('embedding', {
        provider: 'openai',
        model: 'text-embedding-3-small',
        usage: { inputTokens: 8 },
      }),
    );
    metrics.record(makeStep('llm', { provider: 'openai', model: 'gpt-4o' }));
    metrics.record(
      makeStep('llm', {
        provider: 'openai',
        model: 'gpt-4o',
        usage: { inputTokens: -3, outputTokens: Number.NaN },
      }),
    );
    const tokens = histogramPoints(await collect(), 'gen_ai.client.token.usage');
    expect(tokens).toHaveLength(1);
    expect(tokens[0]!.attributes).toEqual({
      'gen_ai.operation.name': 'embeddings',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'text-embedding-3-small',
      'gen_ai.token.type': 'input',
    });
    expect(tokens[0]!.value.sum).toBe(8);
  });

  it('maps each kind to its operation, and the other kinds to spanchain.step.duration', async () => {
    const { metrics, collect } = setup();
    const kinds: StepKind[] = [
      'agent',
      'chain',
      'retrieval',
      'prompt',
      'llm',
      'tool',
      'embedding',
      'rerank',
      'guardrail',
      'custom',
    ];
    for (const kind of kinds) metrics.record(makeStep(kind));
    metrics.record(makeStep('rerank', { provider: 'cohere', model: 'rerank-v3.5' }));
    const all = await collect();
    const ops = histogramPoints(all, 'gen_ai.client.operation.duration').map((p) => p.attributes);
    expect(ops.map((a) => a['gen_ai.operation.name']).sort()).toEqual(
      ['chat', 'embeddings', 'execute_tool', 'invoke_agent', 'retrieval'].sort(),
    );
    for (const a of ops) expect(Object.keys(a)).toEqual(['gen_ai.operation.name']);
    const steps = histogramPoints(all, 'spanchain.step.duration');
    expect(steps.map((p) => p.attributes['spanchain.step.kind']).sort()).toEqual(
      ['chain', 'custom', 'guardrail', 'prompt', 'rerank', 'rerank'].sort(),
    );
    expect(steps.map((p) => p.attributes)).toContainEqual({
      'spanchain.step.kind': 'rerank',
      'gen_ai.provider.name': 'cohere',
      'gen_ai.request.model': 'rerank-v3.5',
    });
    for (const p of steps) {
      expect(p.attributes['gen_ai.operation.name']).toBeUndefined();
      expect(p.value.sum).toBeCloseTo(1.5, 9);
    }
  });

  it('omits gen_ai.provider.name when the step names no provider', async () => {
    const { metrics, collect } = setup();
    metrics.record(makeStep('llm', { model: 'local-llama', usage: { outputTokens: 3 } }));
    const all = await collect();
    for (const name of ['gen_ai.client.operation.duration', 'gen_ai.client.token.usage']) {
      const points = histogramPoints(all, name);
      expect(points).toHaveLength(1);
      expect(points[0]!.attributes).not.toHaveProperty('gen_ai.provider.name');
      expect(points[0]!.attributes['gen_ai.request.model']).toBe('local-llama');
    }
  });

  it('lets the plugin name the operation like its spans do', async () => {
    const { metrics, collect } = setup({
      operationName: (step) =>
        step.kind === 'llm' && step.model === 'davinci-002' ? 'text_completion' : undefined,
    });
    metrics.record(makeStep('llm', { model: 'davinci-002' }));
    metrics.record(makeStep('llm', { model: 'gpt-4o' }));
    const ops = histogramPoints(await collect(), 'gen_ai.client.operation.duration').map(
      (p) => p.attributes['gen_ai.operation.name'],
    );
    expect(ops.sort()).toEqual(['chat', 'text_completion']);
  });
});

describe('errors', () => {
  it('puts error.type on the duration of a failed step, not on its tokens', async () => {
    class RateLimitError extends Error {
      override name = 'RateLimitError';
    }
    const { metrics, collect } = setup();
    const { memory, tracer } = setupTracer();
    await expect(
      tracer.llm({ name: 'failing', model: 'gpt-4o', provider: 'openai' }, async (s) => {
        s.update({ usage: { inputTokens: 50 } });
        throw new RateLimitError('slow down');
      }),
    ).rejects.toThrow('slow down');
    await tracer.tool({ name: 'lookup', toolName: 'lookup' }, () => 1);
    for (const step of memory.steps) metrics.record(step);
    metrics.record(makeStep('tool', { status: 'error' }));
    const all = await collect();

    const durations = histogramPoints(all, 'gen_ai.client.operation.duration').map((p) => p.attributes);
    expect(durations).toContainEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'error.type': 'RateLimitError',
    });
    expect(durations).toContainEqual({ 'gen_ai.operation.name': 'execute_tool' });
    expect(durations).toContainEqual({ 'gen_ai.operation.name': 'execute_tool', 'error.type': '_OTHER' });
    const tokens = histogramPoints(all, 'gen_ai.client.token.usage');
    expect(tokens).toHaveLength(1);
    expect(tokens[0]!.attributes).not.toHaveProperty('error.type');
    await tracer.shutdown();
  });

  it('never lets a failure inside record() reach the caller, and counts it', async () => {
    const onError = vi.fn(() => {
      throw new Error('the error handler fails too');
    });
    const { metrics, collect } = setup({ onError });
    const hostile = makeStep('llm', { model: 'gpt-4o' });
    Object.defineProperty(hostile, 'usage', {
      get() {
        throw new Error('getter exploded');
      },
    });
    expect(() => metrics.record(hostile)).not.toThrow();
    expect(() => metrics.record(null as unknown as Step)).not.toThrow();
    expect(metrics.failures).toBe(2);
    expect(metrics.stats()).toMatchObject({ failures: 2, recorded: 0 });
    expect(onError).toHaveBeenCalledTimes(2);
    expect((onError.mock.calls[0] as unknown[])[0]).toMatchObject({ message: 'getter exploded' });
    // A good step afterwards is still recorded.
    metrics.record(makeStep('chain'));
    expect(metrics.stats().recorded).toBe(1);
    expect(histogramPoints(await collect(), 'spanchain.step.duration')).toHaveLength(1);
  });
});

describe('streaming', () => {
  it('records time to first chunk and the mean time per output chunk once per call', async () => {
    const { metrics, collect } = setup();
    const start = 1_700_000_000_000;
    metrics.record(
      makeStep('llm', {
        provider: 'anthropic',
        model: 'claude',
        startTime: start,
        endTime: start + 2250,
        stream: { state: 'completed', chunks: 5, firstChunkTime: start + 250 },
      }),
    );
    // timeToFirstTokenMs wins over the stream's first chunk time.
    metrics.record(
      makeStep('llm', {
        provider: 'anthropic',
        model: 'claude',
        startTime: start,
        endTime: start + 1000,
        timeToFirstTokenMs: 40,
        stream: { state: 'cancelled', chunks: 1, firstChunkTime: start + 900 },
      }),
    );
    metrics.record(makeStep('llm', { provider: 'anthropic', model: 'claude' }));
    const all = await collect();

    const ttfc = histogramPoints(all, 'gen_ai.client.operation.time_to_first_chunk');
    expect(ttfc).toHaveLength(1);
    expect(ttfc[0]!.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude',
    });
    expect(ttfc[0]!.value.count).toBe(2);
    expect(ttfc[0]!.value.sum).toBeCloseTo(0.25 + 0.04, 9);

    const perChunk = histogramPoints(all, 'gen_ai.client.operation.time_per_output_chunk');
    expect(perChunk).toHaveLength(1);
    expect(perChunk[0]!.value.count).toBe(1);
    // (2250 − 250) ms over 4 gaps.
    expect(perChunk[0]!.value.sum).toBeCloseTo(0.5, 9);
  });

  it('records the streaming metrics of a real streamed step', async () => {
    const { metrics, collect } = setup();
    const { memory, tracer } = setupTracer();
    const stream = tracer.llm({ name: 'gen', model: 'gpt-4o', provider: 'openai' }, async function* () {
      yield 'a';
      await new Promise((r) => setTimeout(r, 5));
      yield 'b';
      yield 'c';
    });
    let text = '';
    for await (const chunk of stream) text += chunk;
    expect(text).toBe('abc');
    const step = memory.one('gen') as StepOf<'llm'>;
    expect(step.stream?.chunks).toBe(3);
    metrics.record(step);
    const all = await collect();
    const ttfc = histogramPoints(all, 'gen_ai.client.operation.time_to_first_chunk');
    expect(ttfc).toHaveLength(1);
    expect(ttfc[0]!.value.sum).toBeCloseTo(step.timeToFirstTokenMs! / 1000, 9);
    const perChunk = histogramPoints(all, 'gen_ai.client.operation.time_per_output_chunk');
    expect(perChunk).toHaveLength(1);
    expect(perChunk[0]!.value.sum).toBeCloseTo((step.endTime! - step.stream!.firstChunkTime!) / 2 / 1000, 9);
    expect(perChunk[0]!.value.sum!).toBeGreaterThan(0);
    await tracer.shutdown();
  });
});

describe('cost', () => {
  it('adds USD costs of llm and embedding steps, and ignores other currencies', async () => {
    const { metrics, collect } = setup();
    const { memory, tracer } = setupTracer();
    await tracer.llm({ name: 'priced', model: 'gpt-4o', provider: 'openai' }, (s) => {
      s.update({ cost: { total: 0.25, input: 0.05, output: 0.2, currency: 'USD' } });
    });
    for (const step of memory.steps) metrics.record(step);
    metrics.record(
      makeStep('llm', { model: 'gpt-4o', provider: 'openai', cost: { total: 0.5, currency: 'USD' } }),
    );
    metrics.record(
      makeStep('llm', { model: 'gpt-4o', provider: 'openai', cost: { total: 9, currency: 'EUR' } }),
    );
    metrics.record(
      makeStep('embedding', {
        model: 'text-embedding-3-small',
        provider: 'openai',
        cost: { total: 0.01, currency: 'USD' },
      }),
    );
    const points = sumPoints(await collect(), 'spanchain.client.cost');
    const chat = points.find((p) => p.attributes['gen_ai.operation.name'] === 'chat')!;
    expect(chat.value).toBeCloseTo(0.75, 12);
    expect(chat.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
    });
    const embeddings = points.find((p) => p.attributes['gen_ai.operation.name'] === 'embeddings')!;
    expect(embeddings.value).toBeCloseTo(0.01, 12);
    expect(points).toHaveLength(2);
    await tracer.shutdown();
  });
});

describe('retries', () => {
  it('records each attempt once and nothing for the container step', async () => {
    const { metrics, collect } = setup();
    const { memory, tracer } = setupTracer();
    let calls = 0;
    const result = await tracer.llm(
      {
        name: 'retried',
        model: 'gpt-4o',
        provider: 'openai',
        retry: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2 },
      },
      async (s) => {
        calls++;
        if (calls === 1) throw new TypeError('flaky');
        s.update({ usage: { inputTokens: 10, outputTokens: 2 } });
        return 'ok';
      },
    );
    expect(result).toBe('ok');
    expect(memory.steps.filter((s) => s.kind === 'llm')).toHaveLength(3);
    for (const step of memory.steps) metrics.record(step);
    const all = await collect();
    const durations = histogramPoints(all, 'gen_ai.client.operation.duration');
    expect(durations.reduce((n, p) => n + p.value.count, 0)).toBe(2);
    expect(durations.map((p) => p.attributes['error.type'])).toEqual(
      expect.arrayContaining(['TypeError', undefined]),
    );
    const tokens = histogramPoints(all, 'gen_ai.client.token.usage');
    expect(tokens.reduce((n, p) => n + (p.value.sum ?? 0), 0)).toBe(12);
    await tracer.shutdown();
  });
});

describe('attribute cache', () => {
  it('reuses one attribute set per combination', async () => {
    const { metrics, collect } = setup();
    for (let i = 0; i < 50; i++) metrics.record(makeStep('llm', { provider: 'openai', model: 'gpt-4o' }));
    expect(metrics.stats().cachedAttributeSets).toBe(1);
    const points = histogramPoints(await collect(), 'gen_ai.client.operation.duration');
    expect(points).toHaveLength(1);
    expect(points[0]!.value.count).toBe(50);
  });

  it('counts each combination under its own attributes when consecutive steps of a kind differ in any field', async () => {
    const { metrics, collect } = setup();
    // Each field in turn differs from the step before (of the same kind), then goes back.
    const variants: Array<Partial<StepOf<'llm'>>> = [
      { provider: 'openai', model: 'gpt-4o' },
      { provider: 'openai', model: 'gpt-4o-mini' },
      { provider: 'anthropic', model: 'gpt-4o' },
      { provider: 'openai', model: 'gpt-4o', responseModel: 'gpt-4o-2024' },
      { provider: 'openai', model: 'gpt-4o', serverAddress: 'api.example', serverPort: 443 },
      { provider: 'openai', model: 'gpt-4o', serverAddress: 'api.example', serverPort: 8443 },
      { provider: 'openai', model: 'gpt-4o', status: 'error', error: { type: 'TimeoutError', message: 'x' } },
      { provider: 'openai', model: 'gpt-4o' },
    ];
    for (const fields of variants) {
      metrics.record(makeStep('llm', fields));
      // Another kind in between must not disturb the llm steps' combination.
      metrics.record(makeStep('tool', { toolName: 't' }));
    }
    const durations = histogramPoints(await collect(), 'gen_ai.client.operation.duration');
    const chat = durations.filter((p) => p.attributes['gen_ai.operation.name'] === 'chat');
    expect(chat).toHaveLength(7);
    const count = (attributes: Record<string, unknown>) =>
      chat.find((p) => JSON.stringify(p.attributes) === JSON.stringify(attributes))?.value.count;
    const base = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
    };
    expect(count(base)).toBe(2);
    expect(count({ ...base, 'gen_ai.request.model': 'gpt-4o-mini' })).toBe(1);
    expect(count({ ...base, 'gen_ai.provider.name': 'anthropic' })).toBe(1);
    expect(count({ ...base, 'gen_ai.response.model': 'gpt-4o-2024' })).toBe(1);
    expect(count({ ...base, 'server.address': 'api.example', 'server.port': 443 })).toBe(1);
    expect(count({ ...base, 'server.address': 'api.example', 'server.port': 8443 })).toBe(1);
    expect(count({ ...base, 'error.type': 'TimeoutError' })).toBe(1);
    expect(durations.find((p) => p.attributes['gen_ai.operation.name'] === 'execute_tool')?.value.count).toBe(
      8,
    );
  });

  it('stays bounded and still counts every step past the bound, under the overflow set', async () => {
    const { metrics, collect } = setup();
    for (let i = 0; i < 1200; i++)
      metrics.record(makeStep('llm', { provider: 'openai', model: `model-${i}` }));
    expect(metrics.stats().cachedAttributeSets).toBe(1000);
    expect(metrics.stats().recorded).toBe(1200);
    const points = histogramPoints(await collect(), 'gen_ai.client.operation.duration');
    expect(points.reduce((n, p) => n + p.value.count, 0)).toBe(1200);
    expect(points).toHaveLength(1001);
    expect(points.map((p) => p.attributes['gen_ai.request.model'])).not.toContain('model-1199');
    const overflow = points.find((p) => p.attributes['otel.metric.overflow'] === true);
    expect(overflow?.value.count).toBe(200);
  });
});

describe('temporality', () => {
  it('accumulates across exports when cumulative, and starts over each export when delta', async () => {
    for (const temporality of ['cumulative', 'delta'] as const) {
      const { metrics, collect } = setup({ temporality });
      metrics.record(makeStep('tool'));
      metrics.record(makeStep('tool'));
      const first = await collect();
      metrics.record(makeStep('tool'));
      const second = await collect();
      const count = (all: MetricData[]) =>
        histogramPoints(all, 'gen_ai.client.operation.duration').reduce((n, p) => n + p.value.count, 0);
      expect(count(first), temporality).toBe(2);
      expect(count(second), temporality).toBe(temporality === 'cumulative' ? 3 : 1);
      const data = metric(second, 'gen_ai.client.operation.duration');
      expect(data?.aggregationTemporality).toBe(
        temporality === 'cumulative' ? AggregationTemporality.CUMULATIVE : AggregationTemporality.DELTA,
      );
      // A delta interval starts where the previous one ended.
      const [p1] = metric(first, 'gen_ai.client.operation.duration')?.dataPoints ?? [];
      const [p2] = data?.dataPoints ?? [];
      if (temporality === 'delta') expect(p2?.startTime).toEqual(p1?.endTime);
      else expect(p2?.startTime).toEqual(p1?.startTime);
    }
  });
});

describe('providers and lifecycle', () => {
  it('records into the app MeterProvider and never shuts it down', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const appProvider = new MeterProvider({ resource, readers: [reader] });
    const metrics = createGenAiMetrics({ meterProvider: appProvider });
    metrics.record(makeStep('tool'));
    expect(await metrics.shutdown()).toEqual({ ok: true });
    // Recording after shutdown is ignored.
    metrics.record(makeStep('agent'));
    // The app's provider still works: its own meter exports.
    appProvider.getMeter('app').createCounter('app.requests').add(1);
    await appProvider.forceFlush();
    const names = exporter
      .getMetrics()
      .at(-1)!
      .scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name));
    expect(names).toContain('app.requests');
    const durations = exporter
      .getMetrics()
      .at(-1)!
      .scopeMetrics.flatMap((s) => s.metrics)
      .find((m) => m.descriptor.name === 'gen_ai.client.operation.duration')!;
    expect(durations.dataPoints.map((p) => p.attributes['gen_ai.operation.name'])).toEqual(['execute_tool']);
    await appProvider.shutdown();
  });

  it('stamps the resource and the scope on what it exports', async () => {
    const { metrics, exporter } = setup();
    metrics.record(makeStep('chain'));
    await metrics.forceFlush();
    const rm: ResourceMetrics = exporter.getMetrics().at(-1)!;
    expect(rm.resource.attributes['service.name']).toBe('metrics-test');
    expect(rm.scopeMetrics[0]!.scope.name).toBe('@spanchain/otel');
  });

  it('clamps an export timeout larger than the interval instead of throwing', () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const metrics = new GenAiMetrics({
      resource,
      exporter,
      exportIntervalMillis: 1000,
      exportTimeoutMillis: 5000,
    });
    open.push(metrics);
    expect(metrics).toBeInstanceOf(GenAiMetrics);
  });

  it('never rejects: a failing exporter, a rejecting provider and a hanging exporter all resolve', async () => {
    // The SDK reports failed exports to its global error handler and resolves the flush.
    const failing: PushMetricExporter = {
      export: (_m, done: (r: ExportResult) => void) => done({ code: 1, error: new Error('collector down') }),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const a = new GenAiMetrics({ resource, exporter: failing, exportIntervalMillis: 3_600_000 });
    a.record(makeStep('chain'));
    expect(typeof (await a.forceFlush()).ok).toBe('boolean');
    expect(typeof (await a.shutdown()).ok).toBe('boolean');
    expect(await a.shutdown()).toEqual({ ok: true });

    const appProvider = new MeterProvider();
    appProvider.forceFlush = () => Promise.reject(new Error('app flush failed'));
    const c = new GenAiMetrics({ meterProvider: appProvider });
    const rejected = await c.forceFlush();
    expect(rejected.ok).toBe(false);
    expect(rejected.error).toMatchObject({ message: 'app flush failed' });
    expect((await c.shutdown()).ok).toBe(false);

    const hanging: PushMetricExporter = {
      export: () => {},
      forceFlush: () => new Promise(() => {}),
      shutdown: () => new Promise(() => {}),
    };
    const b = new GenAiMetrics({ resource, exporter: hanging, exportIntervalMillis: 3_600_000 });
    b.record(makeStep('chain'));
    const started = Date.now();
    const result = await b.forceFlush({ timeoutMillis: 50 });
    expect(result.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(5_000);
    const shutResult = await b.shutdown({ timeoutMillis: 50 });
    expect(shutResult.ok).toBe(false);
  });
});
