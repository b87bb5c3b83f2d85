import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory';
import { Document } from '@langchain/core/documents';
import type { Serialized } from '@langchain/core/load/serializable';
import { AIMessage } from '@langchain/core/messages';
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate, PromptTemplate } from '@langchain/core/prompts';
import {
  type RunnableConfig,
  RunnableLambda,
  RunnableParallel,
  RunnableSequence,
} from '@langchain/core/runnables';
import { tool } from '@langchain/core/tools';
import { FakeListChatModel, SyntheticEmbeddings } from '@langchain/core/utils/testing';
import { SpanchainError } from '@spanchain/core';
import { formatTrees } from '@spanchain/core/testing';
import { describe, expect, it } from 'vitest';
import { ADD_SCHEMA, LegacyUsageModel, only, ScriptedChatModel, setup } from './__tests__/helpers.js';
import { SpanchainCallbackHandler } from './index.js';

describe('SpanchainCallbackHandler', () => {
  it('maps a RunnableSequence (prompt → chat model → parser) onto a tree of steps', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const prompt = ChatPromptTemplate.fromMessages([
      ['system', 'You answer in {language}.'],
      ['human', '{question}'],
    ]);
    const model = new FakeListChatModel({ responses: ['Bonjour'] });
    const chain = RunnableSequence.from([prompt, model, new StringOutputParser()]);
    const out = await chain.invoke({ language: 'French', question: 'Say hello' }, { callbacks: [handler] });
    await tracer.flush();
    expect(out).toBe('Bonjour');

    expect(formatTrees(memory.trees())).toEqual([
      'chain RunnableSequence',
      '  prompt ChatPromptTemplate',
      '  llm FakeListChatModel',
      '  chain StrOutputParser',
    ]);
    const root = only(memory, 'chain', 'RunnableSequence');
    const p = only(memory, 'prompt', 'ChatPromptTemplate');
    const llm = only(memory, 'llm', 'FakeListChatModel');
    const parser = only(memory, 'chain', 'StrOutputParser');
    for (const child of [p, llm, parser]) {
      expect(child.parentSpanId).toBe(root.spanId);
      expect(child.traceId).toBe(root.traceId);
      expect(child.status).toBe('ok');
    }
    expect(root.parentSpanId).toBeUndefined();
    expect(root.input).toEqual({ language: 'French', question: 'Say hello' });
    expect(root.output).toBe('Bonjour');

    if (p.kind !== 'prompt') throw new Error('expected a prompt step');
    expect(p.template).toEqual([
      { role: 'system', content: 'You answer in {language}.' },
      { role: 'user', content: '{question}' },
    ]);
    expect(p.variables).toEqual({ language: 'French', question: 'Say hello' });
    expect(p.messages).toEqual([
      { role: 'system', content: 'You answer in French.' },
      { role: 'user', content: 'Say hello' },
    ]);

    if (llm.kind !== 'llm') throw new Error('expected an llm step');
    expect(llm.inputMessages).toEqual(p.messages);
    expect(llm.outputMessages).toEqual([{ role: 'assistant', content: 'Bonjour' }]);
    expect(llm.output).toBe('Bonjour');
    expect(llm.metadata?.['langchain.run_type']).toBe('chat_model');

    expect(parser.metadata?.['langchain.run_type']).toBe('parser');
    // The parser's input is the model's message as plain data, not the class with its lc_kwargs.
    expect(parser.input).toEqual({ role: 'assistant', content: 'Bonjour' });
    expect(JSON.stringify(parser.input)).not.toContain('lc_kwargs');
    expect(parser.output).toBe('Bonjour');
    expect(handler.stats()).toMatchObject({ openRuns: 0, started: 4, ended: 4, errors: 0 });
  });

  it('records prompt values and messages given to chains as plain data', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const prompt = ChatPromptTemplate.fromMessages([['human', 'Hi {name}']]);
    const takesPrompt = RunnableLambda.from((value: unknown) => String(value).length).withConfig({
      runName: 'takes-prompt',
    });
    await RunnableSequence.from([prompt, takesPrompt]).invoke({ name: 'Ana' }, { callbacks: [handler] });
    const history = RunnableLambda.from(
      (input: { question: string; history: AIMessage[] }) => input.history.length,
    );
    await history.invoke(
      { question: 'q', history: [new AIMessage('earlier answer')] },
      { callbacks: [handler], runName: 'takes-history' },
    );
    const text = PromptTemplate.fromTemplate('Say {word}');
    await RunnableSequence.from([text, takesPrompt]).invoke({ word: 'yes' }, { callbacks: [handler] });
    await tracer.flush();
    const [chatInput, textInput] = memory.steps.filter((s) => s.name === 'takes-prompt').map((s) => s.input);
    expect(chatInput).toEqual({ messages: [{ role: 'user', content: 'Hi Ana' }] });
    expect(textInput).toBe('Say yes');
    expect(only(memory, 'chain', 'takes-history').input).toEqual({
      question: 'q',
      history: [{ role: 'assistant', content: 'earlier answer' }],
    });
    expect(JSON.stringify(memory.steps.map((s) => s.input))).not.toContain('lc_kwargs');
  });

  it('records a string PromptTemplate with its text', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const prompt = PromptTemplate.fromTemplate('Tell me about {topic}');
    await prompt.invoke({ topic: 'owls' }, { callbacks: [handler], runName: 'topic-prompt' });
    await tracer.flush();
    const p = only(memory, 'prompt', 'topic-prompt');
    if (p.kind !== 'prompt') throw new Error('expected a prompt step');
    expect(p.template).toBe('Tell me about {topic}');
    expect(p.text).toBe('Tell me about owls');
    expect(p.templateName).toBe('topic-prompt');
  });

  it('nests the branches of a RunnableParallel under it', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const upper = RunnableLambda.from((s: string) => s.toUpperCase()).withConfig({ runName: 'upper' });
    const length = RunnableLambda.from((s: string) => s.length).withConfig({ runName: 'length' });
    const parallel = RunnableParallel.from({ upper, length });
    const out = await parallel.invoke('abc', { callbacks: [handler], runName: 'fanout' });
    await tracer.flush();
    expect(out).toEqual({ upper: 'ABC', length: 3 });
    const root = only(memory, 'chain', 'fanout');
    const u = only(memory, 'chain', 'upper');
    const l = only(memory, 'chain', 'length');
    expect(u.parentSpanId).toBe(root.spanId);
    expect(l.parentSpanId).toBe(root.spanId);
    expect(u.input).toBe('abc');
    expect(u.output).toBe('ABC');
    expect(l.output).toBe(3);
    expect(root.output).toEqual({ upper: 'ABC', length: 3 });
  });

  it('records a retriever over a MemoryVectorStore with its query and documents', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const store = await MemoryVectorStore.fromDocuments(
      [
        new Document({
          pageContent: 'Refunds are possible within 30 days.',
          metadata: { source: 'refunds.md' },
        }),
        new Document({ pageContent: 'Shipping takes five days.', metadata: { source: 'shipping.md' } }),
        new Document({ pageContent: 'Support is open on weekdays.', metadata: { source: 'support.md' } }),
      ],
      new SyntheticEmbeddings({ vectorSize: 8 }),
    );
    const retriever = store.asRetriever(2);
    const chain = RunnableSequence.from([
      retriever,
      RunnableLambda.from((docs: Document[]) => docs.map((d) => d.pageContent).join('\n')).withConfig({
        runName: 'join',
      }),
    ]);
    await chain.invoke('refund policy', { callbacks: [handler], runName: 'rag' });
    await tracer.flush();
    const root = only(memory, 'chain', 'rag');
    const r = memory.byKind('retrieval');
    expect(r).toHaveLength(1);
    const step = r[0];
    if (!step) throw new Error('no retrieval step');
    expect(step.parentSpanId).toBe(root.spanId);
    expect(step.name).toBe('VectorStoreRetriever');
    expect(step.query).toBe('refund policy');
    expect(step.dataSource).toBe('VectorStoreRetriever');
    expect(step.tags).toContain('memory');
    expect(step.documents).toHaveLength(2);
    for (const doc of step.documents ?? []) {
      expect(typeof doc.content).toBe('string');
      expect(doc.metadata?.source).toMatch(/\.md$/);
    }
    expect(only(memory, 'chain', 'join').parentSpanId).toBe(root.spanId);
  });

  it('keeps document scores when the retriever reports them', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    handler.handleRetrieverStart({ lc: 1, type: 'not_implemented', id: ['x', 'Scored'] }, 'q', 'r1');
    handler.handleRetrieverEnd(
      [
        new Document({ pageContent: 'a', metadata: { score: 0.9 }, id: 'd1' }),
        new Document({ pageContent: 'b' }),
      ],
      'r1',
    );
    await tracer.flush();
    const step = memory.byKind('retrieval')[0];
    expect(step?.documents).toEqual([
      { id: 'd1', content: 'a', score: 0.9, metadata: { score: 0.9 } },
      { content: 'b', metadata: {} },
    ]);
  });

  it('records TTFT, the first-token event and the assembled output of a streamed chat', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const model = new FakeListChatModel({ responses: ['hello streaming world'], sleep: 2 });
    let text = '';
    for await (const chunk of await model.stream('hi', { callbacks: [handler] })) text += chunk.content;
    await tracer.flush();
    expect(text).toBe('hello streaming world');
    const step = only(memory, 'llm', 'FakeListChatModel');
    if (step.kind !== 'llm') throw new Error('expected an llm step');
    expect(step.timeToFirstTokenMs).toBeGreaterThanOrEqual(0);
    expect(step.timeToFirstTokenMs).toBeLessThan((step.endTime ?? 0) - step.startTime);
    const first = step.events.filter((e) => e.name === 'first-token');
    expect(first).toHaveLength(1);
    expect(first[0]?.time).toBeGreaterThanOrEqual(step.startTime);
    expect(step.outputMessages?.[0]?.content).toBe('hello streaming world');
    expect(step.attributes['langchain.stream.chunks']).toBe('hello streaming world'.length);
    expect(step.attributes['langchain.stream.tokens_per_second']).toBeGreaterThan(0);
    expect(step.inputMessages).toEqual([{ role: 'user', content: 'hi' }]);
  });

  it('builds the same tree through .stream() and .streamEvents() of a sequence', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const chain = RunnableSequence.from([
      ChatPromptTemplate.fromMessages([['human', '{q}']]),
      new FakeListChatModel({ responses: ['ab', 'cd'] }),
      new StringOutputParser(),
    ]);
    let streamed = '';
    for await (const c of await chain.stream({ q: 'x' }, { callbacks: [handler], runName: 'streamed' }))
      streamed += c;
    let events = 0;
    for await (const _e of chain.streamEvents(
      { q: 'y' },
      { version: 'v2', callbacks: [handler], runName: 'events' },
    ))
      events++;
    await tracer.flush();
    expect(streamed).toBe('ab');
    expect(events).toBeGreaterThan(0);
    const trees = memory.trees();
    expect(trees.map((t) => formatTrees([t]))).toEqual([
      ['chain streamed', '  prompt ChatPromptTemplate', '  llm FakeListChatModel', '  chain StrOutputParser'],
      ['chain events', '  prompt ChatPromptTemplate', '  llm FakeListChatModel', '  chain StrOutputParser'],
    ]);
    // Streamed runs report their inputs at the end: they are recorded all the same.
    const root = only(memory, 'chain', 'streamed');
    expect(root.input).toEqual({ q: 'x' });
    expect(root.output).toBe('ab');
    const llm = memory.byKind('llm')[1];
    expect(llm?.outputMessages?.[0]?.content).toBe('cd');
    expect(llm?.timeToFirstTokenMs).toBeGreaterThanOrEqual(0);
    expect(handler.stats()).toMatchObject({ openRuns: 0, errors: 0 });
  });

  it('records usage, response model, finish reasons and params from a chat model', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const model = new ScriptedChatModel([
      new AIMessage({
        content: 'four',
        id: 'chatcmpl-42',
        usage_metadata: {
          input_tokens: 20,
          output_tokens: 6,
          total_tokens: 26,
          input_token_details: { cache_read: 8 },
          output_token_details: { reasoning: 2 },
        },
        response_metadata: { model_name: 'scripted-1-2025', finish_reason: 'stop' },
      }),
    ]);
    await model.invoke('2+2?', { callbacks: [handler], metadata: { ls_provider: 'openai' } });
    await tracer.flush();
    const step = memory.byKind('llm')[0];
    if (!step) throw new Error('no llm step');
    expect(step.name).toBe('scripted-1');
    expect(step.model).toBe('scripted-1');
    expect(step.provider).toBe('openai');
    expect(step.params).toEqual({ temperature: 0.2, maxTokens: 64, stopSequences: ['END'] });
    expect(step.usage).toEqual({
      inputTokens: 20,
      outputTokens: 6,
      totalTokens: 26,
      cachedInputTokens: 8,
      reasoningTokens: 2,
    });
    expect(step.responseModel).toBe('scripted-1-2025');
    expect(step.responseId).toBe('chatcmpl-42');
    expect(step.finishReasons).toEqual(['stop']);
    expect(step.outputMessages).toEqual([{ role: 'assistant', content: 'four', finishReason: 'stop' }]);
  });

  it('reads usage from llmOutput.tokenUsage when messages carry none', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    await new LegacyUsageModel({}).invoke('q', { callbacks: [handler] });
    await tracer.flush();
    const step = memory.byKind('llm')[0];
    expect(step?.usage).toEqual({ inputTokens: 7, outputTokens: 5, totalTokens: 12 });
    expect(step?.finishReasons).toEqual(['length']);
  });

  it('fails the tool step with the error and still ends its parents', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const broken = tool(
      async () => {
        throw new RangeError('calculator exploded');
      },
      { name: 'calculator', description: 'adds', schema: ADD_SCHEMA },
    );
    const chain = RunnableSequence.from([
      RunnableLambda.from((x: { a: number }) => ({ a: x.a, b: 2 })).withConfig({ runName: 'prepare' }),
      broken,
    ]);
    await expect(chain.invoke({ a: 1 }, { callbacks: [handler], runName: 'calc' })).rejects.toThrow(
      'calculator exploded',
    );
    await tracer.flush();
    const t = only(memory, 'tool', 'calculator');
    if (t.kind !== 'tool') throw new Error('expected a tool step');
    const root = only(memory, 'chain', 'calc');
    expect(t.parentSpanId).toBe(root.spanId);
    expect(t.status).toBe('error');
    expect(t.error).toMatchObject({ type: 'RangeError', message: 'calculator exploded' });
    expect(t.toolName).toBe('calculator');
    expect(t.arguments).toEqual({ a: 1, b: 2 });
    expect(root.status).toBe('error');
    expect(root.endTime).toBeGreaterThanOrEqual(t.endTime ?? Number.POSITIVE_INFINITY);
    expect(only(memory, 'chain', 'prepare').status).toBe('ok');
    expect(handler.stats().openRuns).toBe(0);
  });

  it('records a tool called with a ToolCall: id, arguments and result', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const add = tool(async ({ a, b }: { a: number; b: number }) => String(a + b), {
      name: 'add',
      description: 'adds two numbers',
      schema: ADD_SCHEMA,
    });
    // The JSON-schema overload of tool() gives a union type; invoke it through a plain signature.
    const invoke = add.invoke.bind(add) as unknown as (
      input: unknown,
      config?: RunnableConfig,
    ) => Promise<unknown>;
    await invoke(
      { id: 'call_9', name: 'add', args: { a: 2, b: 3 }, type: 'tool_call' },
      { callbacks: [handler] },
    );
    await tracer.flush();
    const t = only(memory, 'tool', 'add');
    if (t.kind !== 'tool') throw new Error('expected a tool step');
    expect(t.toolCallId).toBe('call_9');
    expect(t.arguments).toEqual({ a: 2, b: 3 });
    expect(t.result).toBe('5');
  });

  it('nests a root run under the spanchain step active when it starts', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const inner = RunnableLambda.from((n: number) => n * 2).withConfig({ runName: 'inner' });
    const outer = RunnableLambda.from(async (n: number) => {
      // Invoked without config: LangChain finds the parent run through its own context.
      return (await inner.invoke(n)) + 1;
    }).withConfig({ runName: 'outer' });
    const result = await tracer.chain('app', async () => outer.invoke(3, { callbacks: [handler] }));
    await tracer.flush();
    expect(result).toBe(7);
    const app = only(memory, 'chain', 'app');
    const o = only(memory, 'chain', 'outer');
    const i = only(memory, 'chain', 'inner');
    expect(o.parentSpanId).toBe(app.spanId);
    expect(o.traceId).toBe(app.traceId);
    expect(i.parentSpanId).toBe(o.spanId);
    expect(formatTrees(memory.trees())).toEqual(['chain app', '  chain outer', '    chain inner']);
  });

  it('lets code inside a RunnableLambda nest its own steps under the run with stepFor(config)', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const lambda = RunnableLambda.from(async (n: number, config) => {
      const unparented = await tracer.custom('no-parent', async () => n);
      return tracer.custom(
        { name: 'with-parent', parent: handler.stepFor(config) },
        async () => unparented + 1,
      );
    }).withConfig({ runName: 'work' });
    await lambda.invoke(1, { callbacks: [handler] });
    await tracer.flush();
    const work = only(memory, 'chain', 'work');
    // The lambda does not run inside its step's context: a plain step does not nest…
    expect(only(memory, 'custom', 'no-parent').parentSpanId).toBeUndefined();
    // …unless it names the run's step as its parent.
    expect(only(memory, 'custom', 'with-parent').parentSpanId).toBe(work.spanId);
  });

  it('applies per-invocation trace options from metadata.spanchain to the root run', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const chain = RunnableSequence.from([
      ChatPromptTemplate.fromMessages([['human', '{q}']]),
      new FakeListChatModel({ responses: ['ok'] }),
    ]);
    const existingTraceId = '0af7651916cd43dd8448eb211c80319c';
    await chain.invoke(
      { q: 'hi' },
      {
        callbacks: [handler],
        runName: 'joined',
        metadata: {
          tenant: 'acme',
          spanchain: {
            existingTraceId,
            userId: 'u-1',
            sessionId: 's-1',
            tags: ['beta'],
            metadata: { plan: 'pro' },
          },
        },
      },
    );
    await tracer.flush();
    expect(memory.steps).toHaveLength(3);
    for (const step of memory.steps) {
      expect(step.traceId).toBe(existingTraceId);
      expect(step.trace).toMatchObject({
        userId: 'u-1',
        sessionId: 's-1',
        tags: ['beta'],
        metadata: { plan: 'pro' },
      });
      // The options themselves are not copied into each step's metadata; the app's are.
      expect(step.metadata?.spanchain).toBeUndefined();
      expect(step.metadata?.tenant).toBe('acme');
    }
    const root = only(memory, 'chain', 'joined');
    expect(root.parentIsRemote).toBe(true);
  });

  it('records agent actions and finishes as events on the run', async () => {
    const { tracer, memory } = setup();
    const handler = new SpanchainCallbackHandler(tracer);
    const serialized: Serialized = { lc: 1, type: 'not_implemented', id: ['x', 'AgentExecutor'] };
    handler.handleChainStart(serialized, { input: 'q' }, 'agent-run');
    handler.handleAgentAction({ tool: 'search', toolInput: { query: 'owls' }, log: '' }, 'agent-run');
    handler.handleAgentEnd({ returnValues: { output: 'Owls hoot.' }, log: '' }, 'agent-run');
    handler.handleChainEnd({ output: 'Owls hoot.' }, 'agent-run');
    await tracer.flush();
    const step = only(memory, 'chain', 'AgentExecutor');
    expect(step.events.map((e) => [e.name, e.attributes])).toEqual([
      ['agent-action', { tool: 'search', 'tool.input': '{"query":"owls"}' }],
      ['agent-finish', { output: 'Owls hoot.' }],
    ]);
  });

  it('validates its options', () => {
    const { tracer } = setup();
    expect(() => new SpanchainCallbackHandler(tracer, { maxRuns: 0 })).toThrow(SpanchainError);
    expect(() => new SpanchainCallbackHandler(tracer, { maxRuns: 0 })).toThrow(/maxRuns/);
    expect(() => new SpanchainCallbackHandler(tracer, { nope: true } as never)).toThrow(/nope/);
    expect(new SpanchainCallbackHandler(tracer, { name: 'mine' }).name).toBe('mine');
  });
});
