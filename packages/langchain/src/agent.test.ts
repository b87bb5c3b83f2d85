import { AIMessage } from '@langchain/core/messages';
import { formatTrees } from '@spanchain/core/testing';
import { createAgent, tool } from 'langchain';
import { describe, expect, it } from 'vitest';
import { ADD_SCHEMA, only, ScriptedChatModel, setup, toolCallMessage } from './__tests__/helpers.js';
import { SpanchainCallbackHandler } from './index.js';

describe('createAgent (langchain v1) with tools', () => {
  it('records the agent, its model calls and its tool call as one tree', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const add = tool(async ({ a, b }: { a: number; b: number }) => String(a + b), {
      name: 'add',
      description: 'adds two numbers',
      schema: ADD_SCHEMA,
    });
    const model = new ScriptedChatModel([
      toolCallMessage('add', { a: 1, b: 2 }),
      new AIMessage('The sum is 3.'),
    ]);
    const agent = createAgent({ model, tools: [add], name: 'calculator-agent' });
    const result = await agent.invoke(
      { messages: [{ role: 'user', content: 'What is 1 + 2?' }] },
      { callbacks: [handler], metadata: { spanchain: { userId: 'u-7' } } },
    );
    await tracer.flush();
    expect(result.messages.at(-1)?.content).toBe('The sum is 3.');

    // LangGraph's hidden bookkeeping runs (`__start__`, channel writes) are left out.
    expect(formatTrees(memory.trees())).toEqual([
      'agent calculator-agent',
      '  chain model_request',
      '    llm scripted-1',
      '    chain RunnableLambda',
      '  chain tools',
      '    tool add',
      '  chain model_request',
      '    llm scripted-1',
      '    chain RunnableLambda',
    ]);
    const root = only(memory, 'agent', 'calculator-agent');
    if (root.kind !== 'agent') throw new Error('expected an agent step');
    expect(root.agentName).toBe('calculator-agent');
    expect(root.status).toBe('ok');
    for (const step of memory.steps) {
      expect(step.traceId).toBe(root.traceId);
      expect(step.trace.userId).toBe('u-7');
    }

    const tools = memory.byKind('tool');
    expect(tools).toHaveLength(1);
    const t = tools[0];
    if (!t) throw new Error('no tool step');
    expect(t.toolName).toBe('add');
    expect(t.toolCallId).toBe('call_1');
    expect(t.arguments).toEqual({ a: 1, b: 2 });
    expect(t.result).toBe('3');
    expect(t.parentSpanId).toBe(only(memory, 'chain', 'tools').spanId);

    const llms = memory.byKind('llm');
    expect(llms).toHaveLength(2);
    expect(llms[0]?.toolCalls).toEqual([{ id: 'call_1', name: 'add', arguments: { a: 1, b: 2 } }]);
    expect(llms[0]?.provider).toBe('openai');
    expect(llms[1]?.inputMessages?.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(llms[1]?.inputMessages?.[2]).toMatchObject({ role: 'tool', toolCallId: 'call_1', content: '3' });
    expect(llms[1]?.outputMessages).toEqual([{ role: 'assistant', content: 'The sum is 3.' }]);
    for (const llm of llms) {
      const parent = memory.steps.find((s) => s.spanId === llm.parentSpanId);
      expect(parent?.name).toBe('model_request');
      expect(parent?.parentSpanId).toBe(root.spanId);
    }
    expect(handler.stats()).toMatchObject({ openRuns: 0, errors: 0 });
  });

  it('fails the tool step when the tool throws, and every parent still ends', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const broken = tool(
      async () => {
        throw new Error('database is down');
      },
      { name: 'lookup', description: 'looks things up', schema: ADD_SCHEMA },
    );
    const model = new ScriptedChatModel([toolCallMessage('lookup', { a: 1, b: 1 }), new AIMessage('Sorry.')]);
    const agent = createAgent({ model, tools: [broken] });
    // createAgent turns the tool's error into a message for the model and goes on.
    const result = await agent.invoke(
      { messages: [{ role: 'user', content: 'look' }] },
      { callbacks: [handler] },
    );
    expect(result.messages.at(-1)?.content).toBe('Sorry.');
    await tracer.flush();
    const t = only(memory, 'tool', 'lookup');
    expect(t.status).toBe('error');
    expect(t.error?.message).toContain('database is down');
    const root = memory.byKind('agent')[0];
    expect(root?.status).toBe('ok');
    expect(t.parentSpanId).toBe(only(memory, 'chain', 'tools').spanId);
    expect(only(memory, 'chain', 'tools').status).toBe('ok');
    for (const step of memory.steps) expect(step.endTime).toBeGreaterThanOrEqual(step.startTime);
    expect(memory.started.length).toBe(memory.steps.length);
    expect(handler.stats()).toMatchObject({ openRuns: 0, errors: 0 });
  });
});
