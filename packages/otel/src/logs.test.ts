import { SeverityNumber } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  type LogRecordExporter,
  type ReadableLogRecord,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import { createTracer, type Step, type StepKind, type StepOf } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStepLogs, LOG_EVENT_NAMES, StepLogs, type StepLogsOptions } from './logs.js';

const resource = resourceFromAttributes({ 'service.name': 'logs-test' });
const open: StepLogs[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.shutdown()));
});

function setup(options: Partial<StepLogsOptions> = {}) {
  const exporter = new InMemoryLogRecordExporter();
  const logs = new StepLogs({ resource, exporter, batch: false, ...options });
  open.push(logs);
  const records = async (): Promise<ReadableLogRecord[]> => {
    expect(await logs.forceFlush()).toEqual({ ok: true });
    return exporter.getFinishedLogRecords();
  };
  return { exporter, logs, records };
}

function setupTracer() {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], flushOnExit: false });
  return { memory, tracer };
}

function makeStep<K extends StepKind>(kind: K, fields: Partial<StepOf<K>> = {}): Step {
  const base = {
    kind,
    name: `${kind}-step`,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    parentIsRemote: false,
    traceFlags: 1,
    sampled: true,
    startTime: 1_700_000_000_000,
    endTime: 1_700_000_000_123.456,
    status: 'ok',
    trace: {},
    traceKeys: [],
    events: [],
    attributes: {},
    serviceName: 'test',
  };
  return { ...base, ...fields } as unknown as Step;
}

const summaries = (records: ReadableLogRecord[]) => records.filter((r) => r.eventName === undefined);
const events = (records: ReadableLogRecord[], name: string) => records.filter((r) => r.eventName === name);

describe('per-step records', () => {
  it('emits one INFO record per ok step, with the step ids, end time and summary attributes', async () => {
    const { logs, records } = setup();
    const { memory, tracer } = setupTracer();
    await tracer.chain('rag', async () => {
      await tracer.retrieval({ name: 'search', query: 'refund policy' }, async () => ['doc']);
    });
    for (const step of memory.steps) logs.emit(step);
    const all = await records();
    expect(all).toHaveLength(2);

    const search = memory.one('search');
    const record = all.find((r) => r.attributes['spanchain.step.name'] === 'search')!;
    expect(record.spanContext).toMatchObject({
      traceId: search.traceId,
      spanId: search.spanId,
      traceFlags: search.traceFlags,
    });
    expect(record.severityNumber).toBe(SeverityNumber.INFO);
    expect(record.severityNumber).toBe(9);
    expect(record.severityText).toBe('INFO');
    expect(record.eventName).toBeUndefined();
    expect(record.body).toMatch(/^retrieval search ok in \d+\.\d ms$/);
    const durationMs = search.endTime! - search.startTime;
    expect(record.attributes).toEqual({
      'spanchain.step.kind': 'retrieval',
      'spanchain.step.name': 'search',
      'spanchain.step.status': search.status,
      'gen_ai.operation.name': 'retrieval',
      'spanchain.step.duration_ms': durationMs,
    });
    const endNs = record.hrTime[0] * 1e9 + record.hrTime[1];
    expect(Math.abs(endNs / 1e6 - search.endTime!)).toBeLessThan(0.01);
    expect(record.resource.attributes['service.name']).toBe('logs-test');
    expect(record.instrumentationScope.name).toBe('@spanchain/otel');

    const chain = all.find((r) => r.attributes['spanchain.step.name'] === 'rag')!;
    expect(chain.attributes).not.toHaveProperty('gen_ai.operation.name');
    expect(chain.spanContext?.spanId).toBe(memory.one('rag').spanId);
    // The query is content: it is not on the record.
    expect(JSON.stringify(all.map((r) => [r.body, r.attributes]))).not.toContain('refund policy');
    await tracer.shutdown();
  });

  it('converts the end time exactly, without the SDK guessing between epoch and uptime', async () => {
    const { logs, records } = setup();
    logs.emit(makeStep('custom'));
    const [record] = await records();
    expect(record!.hrTime).toEqual([1_700_000_000, 123_456_000]);
    expect(record!.body).toBe('custom custom-step ok in 123.5 ms');
    expect(record!.spanContext).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
    });
  });

  it('keeps the flags of an unsampled parent', async () => {
    const { logs, records } = setup();
    logs.emit(makeStep('tool', { traceFlags: 0 }));
    const [record] = await records();
    expect(record!.spanContext?.traceFlags).toBe(0);
  });
});

describe('failed steps', () => {
  class RateLimitError extends Error {
    override name = 'RateLimitError';
  }

  it('emits an ERROR record and a WARN gen_ai.client.operation.exception event for a failed llm step', async () => {
    const { logs, records } = setup();
    const { memory, tracer } = setupTracer();
    await expect(
      tracer.llm(
        {
          name: 'chat-call',
          model: 'gpt-4o',
          provider: 'openai',
          inputMessages: [{ role: 'user', content: 'my secret question' }],
        },
        async () => {
          throw new RateLimitError('rate limited');
        },
      ),
    ).rejects.toThrow('rate limited');
    const step = memory.one('chat-call');
    logs.emit(step);
    const all = await records();
    expect(all).toHaveLength(2);

    const [summary] = summaries(all);
    expect(summary!.severityNumber).toBe(17);
    expect(summary!.severityText).toBe('ERROR');
    expect(summary!.body).toBe('llm chat-call failed: rate limited');
    expect(summary!.attributes).toMatchObject({
      'spanchain.step.status': 'error',
      'error.type': 'RateLimitError',
      'gen_ai.operation.name': 'chat',
    });

    const [exception] = events(all, 'gen_ai.client.operation.exception');
    expect(exception!.severityNumber).toBe(SeverityNumber.WARN);
    expect(exception!.severityNumber).toBe(13);
    expect(exception!.attributes['exception.type']).toBe('RateLimitError');
    expect(exception!.attributes['exception.message']).toBe('rate limited');
    expect(String(exception!.attributes['exception.stacktrace'])).toContain('RateLimitError: rate limited');
    expect(exception!.spanContext).toMatchObject({ traceId: step.traceId, spanId: step.spanId });
    // No content without contentAttributes.
    expect(events(all, 'gen_ai.client.inference.operation.details')).toHaveLength(0);
    expect(JSON.stringify(all.map((r) => [r.body, r.attributes]))).not.toContain('my secret question');
    await tracer.shutdown();
  });

  it('emits no exception event for failed steps that are no model call, and uses _OTHER without a type', async () => {
    const { logs, records } = setup();
    logs.emit(makeStep('tool', { status: 'error', error: { type: 'TypeError', message: 'bad args' } }));
    logs.emit(makeStep('chain', { status: 'error' }));
    const all = await records();
    expect(all).toHaveLength(2);
    expect(all.every((r) => r.eventName === undefined && r.severityNumber === 17)).toBe(true);
    expect(all.map((r) => r.attributes['error.type']).sort()).toEqual(['TypeError', '_OTHER']);
    expect(all.map((r) => r.body)).toContain('chain chain-step failed: _OTHER');
  });

  it('masks credentials in error messages and stacks', async () => {
    const { logs, records } = setup();
    const key = 'sk-proj-abcdefghijklmnopqrstuvwx';
    logs.emit(
      makeStep('llm', {
        status: 'error',
        error: {
          type: 'AuthError',
          message: `invalid key ${key}`,
          stack: `AuthError: invalid key ${key}\n    at x`,
        },
      }),
    );
    const all = await records();
    const text = JSON.stringify(all.map((r) => [r.body, r.attributes]));
    expect(text).not.toContain(key);
    expect(text).toContain('[REDACTED]');
  });

  it('emits the events for the attempts of a retried call, not for its container', async () => {
    const { logs, records } = setup();
    const { memory, tracer } = setupTracer();
    await expect(
      tracer.llm(
        { name: 'retried', model: 'gpt-4o', retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 2 } },
        async () => {
          throw new RateLimitError('still limited');
        },
      ),
    ).rejects.toThrow('still limited');
    const llmSteps = memory.byKind('llm');
    expect(llmSteps).toHaveLength(3);
    for (const step of llmSteps) logs.emit(step, { contentAttributes: { 'gen_ai.operation.name': 'chat' } });
    const all = await records();
    expect(summaries(all)).toHaveLength(3);
    expect(events(all, 'gen_ai.client.operation.exception')).toHaveLength(2);
    expect(events(all, 'gen_ai.client.inference.operation.details')).toHaveLength(2);
    const container = llmSteps.find((s) => s.attempts !== undefined)!;
    const eventSpans = all.filter((r) => r.eventName !== undefined).map((r) => r.spanContext?.spanId);
    expect(eventSpans).not.toContain(container.spanId);
    await tracer.shutdown();
  });
});

describe('inference details event', () => {
  it('carries the given attributes, structured values included, for llm steps only', async () => {
    const { logs, records } = setup();
    const contentAttributes = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.input.messages': [{ role: 'user', parts: [{ type: 'text', content: 'hi' }] }],
      'gen_ai.usage.input_tokens': 3,
    };
    const llm = makeStep('llm', { model: 'gpt-4o', provider: 'openai' });
    logs.emit(llm, { contentAttributes });
    logs.emit(makeStep('tool'), { contentAttributes });
    const all = await records();
    expect(all).toHaveLength(3);
    const details = events(all, LOG_EVENT_NAMES.inferenceDetails);
    expect(LOG_EVENT_NAMES.inferenceDetails).toBe('gen_ai.client.inference.operation.details');
    expect(details).toHaveLength(1);
    expect(details[0]!.attributes).toEqual(contentAttributes);
    expect(details[0]!.severityNumber).toBe(SeverityNumber.INFO);
    expect(details[0]!.spanContext).toMatchObject({ traceId: llm.traceId, spanId: llm.spanId });
    expect(details[0]!.hrTime).toEqual([1_700_000_000, 123_456_000]);
  });
});

describe('robustness and lifecycle', () => {
  it('never lets a failure inside emit() reach the caller, and counts it', async () => {
    const onError = vi.fn();
    const { logs, records } = setup({ onError });
    const hostile = makeStep('llm');
    Object.defineProperty(hostile, 'traceId', {
      get() {
        throw new Error('getter exploded');
      },
    });
    expect(() => logs.emit(hostile)).not.toThrow();
    expect(() => logs.emit(undefined as unknown as Step)).not.toThrow();
    expect(logs.failures).toBe(2);
    expect(onError).toHaveBeenCalledTimes(2);
    logs.emit(makeStep('chain'));
    expect(logs.stats()).toEqual({ emitted: 1, failures: 2 });
    expect(await records()).toHaveLength(1);
  });

  it('batches by default and exports on forceFlush', async () => {
    const exporter = new InMemoryLogRecordExporter();
    const logs = createStepLogs({ resource, exporter });
    open.push(logs);
    logs.emit(makeStep('chain'));
    expect(exporter.getFinishedLogRecords()).toHaveLength(0);
    expect(await logs.forceFlush()).toEqual({ ok: true });
    expect(exporter.getFinishedLogRecords()).toHaveLength(1);
  });

  it('exports what is left on shutdown and ignores steps afterwards', async () => {
    // The in-memory exporter forgets its records when shut down: keep them aside.
    const exported: ReadableLogRecord[] = [];
    const exporter: LogRecordExporter = {
      export: (batch, done) => {
        exported.push(...batch);
        done({ code: 0 });
      },
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const logs = new StepLogs({ resource, exporter });
    logs.emit(makeStep('chain'));
    expect(exported).toHaveLength(0);
    expect(await logs.shutdown()).toEqual({ ok: true });
    expect(exported).toHaveLength(1);
    logs.emit(makeStep('chain'));
    expect(logs.stats().emitted).toBe(1);
    expect(await logs.shutdown()).toEqual({ ok: true });
  });

  it('emits into the app LoggerProvider and never shuts it down', async () => {
    const exporter = new InMemoryLogRecordExporter();
    const appProvider = new LoggerProvider({
      resource,
      processors: [new SimpleLogRecordProcessor({ exporter })],
    });
    const logs = new StepLogs({ loggerProvider: appProvider });
    logs.emit(makeStep('agent'));
    expect(await logs.shutdown()).toEqual({ ok: true });
    appProvider.getLogger('app').emit({ body: 'app still logs' });
    await appProvider.forceFlush();
    expect(exporter.getFinishedLogRecords().map((r) => r.body)).toEqual([
      'agent agent-step ok in 123.5 ms',
      'app still logs',
    ]);
    await appProvider.shutdown();
  });

  it('resolves flush and shutdown when the app provider rejects or hangs', async () => {
    const rejecting = new LoggerProvider();
    rejecting.forceFlush = () => Promise.reject(new Error('flush failed'));
    const a = new StepLogs({ loggerProvider: rejecting });
    expect(await a.forceFlush()).toMatchObject({ ok: false, error: { message: 'flush failed' } });

    const hanging = new LoggerProvider();
    hanging.forceFlush = () => new Promise(() => {});
    const b = new StepLogs({ loggerProvider: hanging });
    const started = Date.now();
    expect((await b.shutdown({ timeoutMillis: 50 })).ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
