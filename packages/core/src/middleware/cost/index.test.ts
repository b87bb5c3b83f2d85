import { describe, expect, it } from 'vitest';
import type { InternalErrorReport } from '../../error-handler.js';
import { SpanchainError } from '../../errors.js';
import { MemoryPlugin } from '../../testing/memory-plugin.js';
import { createTracer } from '../../tracer.js';
import { type CostOptions, cost } from './index.js';

function setup(options?: CostOptions) {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], use: [cost(options)], flushOnExit: false });
  // An observer chain hands the caller the function's own promise; the step is delivered after.
  const delivered = async () => {
    await tracer.flush();
    return memory;
  };
  return { memory, tracer, delivered };
}

describe('cost()', () => {
  it('prices an llm step with cached input tokens', async () => {
    const { tracer, delivered } = setup();
    await tracer.llm({ name: 'answer', model: 'gpt-4o' }, async (step) => {
      step.update({ usage: { inputTokens: 1000, cachedInputTokens: 400, outputTokens: 200 } });
      return 'hi';
    });
    // 600 × 2.5 + 400 × 1.25 = 2,000 per 1M input; 200 × 10 = 2,000 per 1M output.
    const memory = await delivered();
    expect(memory.byKind('llm')[0]?.cost).toEqual({
      input: 0.002,
      output: 0.002,
      total: 0.004,
      currency: 'USD',
    });
  });

  it('prices the model that answered before the one requested', async () => {
    const { tracer, delivered } = setup();
    await tracer.llm({ model: 'gpt-4o' }, async (step) => {
      step.update({
        responseModel: 'gpt-4o-mini-2024-07-18',
        usage: { inputTokens: 1_000_000, outputTokens: 0 },
      });
    });
    const memory = await delivered();
    expect(memory.byKind('llm')[0]?.cost?.total).toBe(0.15);
  });

  it('falls back to the requested model when the response model is unknown', async () => {
    const { tracer, delivered } = setup();
    await tracer.llm({ model: 'gpt-4o-mini' }, async (step) => {
      step.update({ responseModel: 'some-proxy-alias', usage: { inputTokens: 1_000_000 } });
    });
    const memory = await delivered();
    expect(memory.byKind('llm')[0]?.cost?.total).toBe(0.15);
  });

  it('prices an embedding step', async () => {
    const { tracer, delivered } = setup();
    await tracer.embedding({ model: 'text-embedding-3-small', usage: { inputTokens: 500_000 } }, async () => [
      [0.1],
    ]);
    const memory = await delivered();
    expect(memory.byKind('embedding')[0]?.cost).toEqual({
      input: 0.01,
      output: 0,
      total: 0.01,
      currency: 'USD',
    });
  });

  it('prices a synchronous function, whose value the caller gets at once', async () => {
    const { tracer, delivered } = setup();
    const value = tracer.llm({ model: 'gpt-4o', usage: { outputTokens: 100_000 } }, () => 'sync');
    expect(value).toBe('sync');
    const memory = await delivered();
    expect(memory.byKind('llm')[0]?.cost?.total).toBe(1);
  });

  it('keeps a cost the caller set', async () => {
    const { tracer, delivered } = setup();
    const own = { total: 42, currency: 'EUR' };
    await tracer.llm({ model: 'gpt-4o', usage: { inputTokens: 1000 } }, async (step) => {
      step.update({ cost: own });
    });
    const memory = await delivered();
    expect(memory.byKind('llm')[0]?.cost).toEqual(own);
  });

  it('uses price overrides and the currency label', async () => {
    const { tracer, delivered } = setup({
      prices: { 'gpt-4o': { input: 1, output: 2 }, 'acme-large': { input: 10, output: 20 } },
      currency: 'EUR',
    });
    await tracer.llm(
      { name: 'override', model: 'gpt-4o', usage: { inputTokens: 1_000_000 } },
      async () => 'a',
    );
    await tracer.llm(
      { name: 'added', model: 'acme-large-2025-01-01', usage: { outputTokens: 500_000 } },
      async () => 'b',
    );
    const memory = await delivered();
    expect(memory.one('override')).toMatchObject({
      cost: { input: 1, output: 0, total: 1, currency: 'EUR' },
    });
    expect(memory.one('added')).toMatchObject({ cost: { input: 0, output: 10, total: 10, currency: 'EUR' } });
  });

  it('sets nothing for an unknown model or a step without usage', async () => {
    const { tracer, delivered } = setup();
    await expect(
      tracer.llm({ name: 'unknown', model: 'no-such-model', usage: { inputTokens: 10 } }, async () => 'ok'),
    ).resolves.toBe('ok');
    await tracer.llm({ name: 'no-usage', model: 'gpt-4o' }, async () => 'ok');
    const memory = await delivered();
    expect(memory.one('unknown')).not.toHaveProperty('cost');
    expect(memory.one('no-usage')).not.toHaveProperty('cost');
    expect(memory.one('unknown').status).toBe('ok');
  });

  it('reports usage that cannot be read and leaves the step without cost', async () => {
    const memory = new MemoryPlugin();
    const reports: InternalErrorReport[] = [];
    const tracer = createTracer({
      plugins: [memory],
      use: [cost()],
      onError: (report) => reports.push(report),
      flushOnExit: false,
    });
    const usage = {
      get inputTokens(): number {
        throw new Error('usage getter failed');
      },
    };
    await expect(tracer.llm({ model: 'gpt-4o', usage }, async () => 'ok')).resolves.toBe('ok');
    await tracer.flush();
    expect(memory.byKind('llm')[0]).toMatchObject({ status: 'ok' });
    expect(memory.byKind('llm')[0]).not.toHaveProperty('cost');
    expect(reports.map((r) => r.source)).toEqual(['middleware:cost']);
  });

  it('prices a failed call and rethrows its error unchanged', async () => {
    const { tracer, delivered } = setup();
    const error = new Error('rate limited');
    await expect(
      tracer.llm({ model: 'gpt-4o' }, async (step) => {
        step.update({ usage: { inputTokens: 1_000_000 } });
        throw error;
      }),
    ).rejects.toBe(error);
    const memory = await delivered();
    expect(memory.byKind('llm')[0]).toMatchObject({ status: 'error', cost: { total: 2.5 } });
  });

  it('prices a stream once it was consumed, with usage reported during the stream', async () => {
    const { memory, tracer } = setup();
    const stream = await tracer.llm({ model: 'gpt-4o-mini' }, async (step) => {
      async function* chunks() {
        yield 'Hel';
        yield 'lo';
        step.update({ usage: { inputTokens: 2_000_000, outputTokens: 1_000_000 } });
      }
      return chunks();
    });
    // No flush here: it would end the stream nobody has consumed yet.
    expect(memory.byKind('llm')).toHaveLength(0);
    let text = '';
    for await (const chunk of stream) text += chunk;
    expect(text).toBe('Hello');
    await memory.waitFor((m) => m.byKind('llm').length === 1);
    const step = memory.byKind('llm')[0];
    expect(step?.stream?.state).toBe('completed');
    expect(step?.cost).toEqual({ input: 0.3, output: 0.6, total: 0.9, currency: 'USD' });
  });

  it('prices each attempt of a retried call, where the usage is reported', async () => {
    const { tracer, delivered } = setup();
    let calls = 0;
    await tracer.llm(
      { name: 'answer', model: 'gpt-4o', retry: { maxRetries: 1, initialDelayMs: 1 } },
      async (step) => {
        step.update({ usage: { inputTokens: 1_000_000 } });
        if (++calls === 1) throw new Error('timeout after reading the prompt');
        return 'ok';
      },
    );
    const memory = await delivered();
    const steps = memory.byKind('llm');
    expect(steps.filter((s) => s.attempt !== undefined).map((s) => s.cost?.total)).toEqual([2.5, 2.5]);
    expect(steps.find((s) => s.attempt === undefined)).not.toHaveProperty('cost');
  });

  it('applies only to its kinds', async () => {
    const { tracer, delivered } = setup({ kinds: ['llm'] });
    await tracer.tool(
      { name: 'lookup', model: 'gpt-4o', usage: { inputTokens: 1000 } } as never,
      async () => 1,
    );
    await tracer.embedding({ model: 'text-embedding-3-small', usage: { inputTokens: 1000 } }, async () => []);
    await tracer.llm({ model: 'gpt-4o', usage: { inputTokens: 1000 } }, async () => 'x');
    const memory = await delivered();
    expect(memory.one('lookup')).not.toHaveProperty('cost');
    expect(memory.byKind('embedding')[0]).not.toHaveProperty('cost');
    expect(memory.byKind('llm')[0]?.cost?.total).toBe(0.0025);
  });

  it('is an observer scoped to its kinds', () => {
    const middleware = cost({ kinds: ['llm', 'rerank'] });
    expect([...middleware.kinds]).toEqual(['llm', 'rerank']);
    expect((middleware as { observer?: boolean }).observer).toBe(true);
  });

  it('rejects bad options at construction', () => {
    expect(() => cost({ prices: { x: { input: -1, output: 1 } } })).toThrow(SpanchainError);
    expect(() => cost({ prices: { x: { input: 1 } } } as never)).toThrow(/prices\.x\.output/);
    expect(() => cost({ kinds: ['llmm'] } as never)).toThrow(/kinds\.0/);
    expect(() => cost({ currencies: 'EUR' } as never)).toThrow(/Invalid cost options/);
  });
});
