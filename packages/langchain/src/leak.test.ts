import type { Serialized } from '@langchain/core/load/serializable';
import { RunnableLambda } from '@langchain/core/runnables';
import { createTracer } from '@spanchain/core';
import { describe, expect, it } from 'vitest';
import { setup } from './__tests__/helpers.js';
import { LangChainRunEvictedError, SpanchainCallbackHandler } from './index.js';

const CHAIN: Serialized = { lc: 1, type: 'not_implemented', id: ['tests', 'Loop'] };

describe('the run map', () => {
  it('is empty after 100,000 runs that end or fail', () => {
    let ended = 0;
    const tracer = createTracer({
      plugins: [{ name: 'count', onEnd: () => void ended++ }],
      flushOnExit: false,
    });
    const handler = new SpanchainCallbackHandler(tracer);
    let peak = 0;
    for (let i = 0; i < 50_000; i++) {
      const parent = `p${i}`;
      const child = `c${i}`;
      handler.handleChainStart(CHAIN, { input: i }, parent);
      handler.handleToolStart(CHAIN, '{"i":1}', child, parent);
      peak = Math.max(peak, handler.stats().openRuns);
      if (i % 10 === 0) handler.handleToolError(new Error('boom'), child);
      else handler.handleToolEnd('ok', child);
      handler.handleChainEnd({ output: i }, parent);
    }
    expect(handler.stats()).toMatchObject({
      openRuns: 0,
      started: 100_000,
      ended: 100_000,
      evicted: 0,
      errors: 0,
    });
    expect(peak).toBe(2);
    expect(ended).toBe(100_000);
  });

  it('is empty after 2,000 real RunnableLambda invocations', async () => {
    const { tracer } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const lambda = RunnableLambda.from((n: number) => n);
    for (let i = 0; i < 2_000; i++) await lambda.invoke(i, { callbacks: [handler] });
    expect(handler.stats()).toMatchObject({ openRuns: 0, started: 2_000, ended: 2_000 });
  });

  it('is bounded: runs that never end are failed once maxRuns newer ones are open', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer, { maxRuns: 100 });
    for (let i = 0; i < 150; i++) handler.handleChainStart(CHAIN, { input: i }, `r${i}`);
    expect(handler.stats()).toMatchObject({ openRuns: 100, evicted: 50 });
    await tracer.flush();
    expect(memory.steps).toHaveLength(50);
    for (const step of memory.steps) {
      expect(step.status).toBe('error');
      expect(step.error?.type).toBe(new LangChainRunEvictedError(100).name);
    }
    expect(memory.steps.map((s) => s.input)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // The ends of evicted runs are ignored; the others still end normally.
    handler.handleChainEnd({ output: 'late' }, 'r0');
    handler.handleChainEnd({ output: 'ok' }, 'r149');
    await tracer.flush();
    expect(memory.steps).toHaveLength(51);
    expect(handler.stats().openRuns).toBe(99);
  });
});
