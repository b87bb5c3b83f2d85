import { RunnableLambda, RunnableSequence } from '@langchain/core/runnables';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { formatTrees } from '@spanchain/core/testing';
import { describe, expect, it } from 'vitest';
import { setup } from './__tests__/helpers.js';
import { enableLangChainTracing, SpanchainCallbackHandler } from './index.js';

describe('enableLangChainTracing', () => {
  it('traces runs with no callbacks passed, and stops when disabled', async () => {
    const { tracer, memory } = setup();
    const chain = RunnableSequence.from([
      RunnableLambda.from((q: string) => q.trim()).withConfig({ runName: 'clean' }),
      new FakeListChatModel({ responses: ['one', 'two'] }),
    ]).withConfig({ runName: 'global' });

    const disable = enableLangChainTracing(tracer);
    expect(disable.handler).toBeInstanceOf(SpanchainCallbackHandler);
    await chain.invoke(' hi ');
    await tracer.flush();
    expect(formatTrees(memory.trees())).toEqual(['chain global', '  chain clean', '  llm FakeListChatModel']);

    // A handler passed by hand under the same name is not added twice.
    await chain.invoke(' again ', { callbacks: [new SpanchainCallbackHandler(tracer)] });
    await tracer.flush();
    expect(memory.steps).toHaveLength(6);
    expect(memory.trees()).toHaveLength(2);

    disable();
    await chain.invoke(' bye ');
    await tracer.flush();
    expect(memory.steps).toHaveLength(6);
    expect(disable.handler.stats().openRuns).toBe(0);
  });

  it('applies in async flows started after it, and a second enable replaces the first', async () => {
    const { tracer: first, memory: m1 } = setup();
    const { tracer: second, memory: m2 } = setup();
    const lambda = RunnableLambda.from((n: number) => n + 1).withConfig({ runName: 'inc' });
    const d1 = enableLangChainTracing(first);
    await Promise.all([lambda.invoke(1), (async () => lambda.invoke(2))()]);
    const d2 = enableLangChainTracing(second);
    await lambda.invoke(3);
    await Promise.all([first.flush(), second.flush()]);
    expect(m1.steps.map((s) => s.output)).toEqual([2, 3]);
    expect(m2.steps.map((s) => s.output)).toEqual([4]);
    d2();
    d1();
  });
});
