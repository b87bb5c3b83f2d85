// Runs mapped by @spanchain/langsmith, from a real tracer run with a step of every kind, validated
// against LangSmith's API schema (`runs.Run` in test/fixtures/langsmith/openapi.json).
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { createTracer, type Plugin, STEP_KINDS, type Step, type Tracer } from '@spanchain/core';
import { SpanchainCallbackHandler } from '@spanchain/langchain';
import { type MapOptions, RUN_TYPES, type Run, RunLinks, toRun } from '@spanchain/langsmith';
import { describe, expect, it } from 'vitest';
import { dottedOrderProblems, runTypeEnum, validateRun } from '../support/langsmith-schema.js';

class RunPlugin implements Plugin {
  readonly name = 'langsmith-runs';
  readonly links = new RunLinks();
  readonly runs: Run[] = [];
  constructor(private readonly options: MapOptions) {}
  onStart(step: Step): void {
    this.links.start(step);
  }
  onEnd(step: Step): void {
    const link = this.links.end(step);
    if (link) this.runs.push(toRun(step, link, this.options));
  }
}

async function pipeline(tracer: Tracer): Promise<void> {
  await tracer.agent(
    {
      name: 'support-agent',
      agentName: 'support',
      trace: { userId: 'u1', sessionId: 'thread-1', tags: ['prod'], metadata: { tenant: 'acme' } },
      identity: { team: 'search', keyAlias: 'k1' },
      input: 'Where is my refund?',
    },
    async () => {
      await tracer.guardrail(
        { name: 'input-check', guardrailName: 'pii', decision: 'pass' },
        async () => true,
      );
      const docs = await tracer.retrieval(
        { name: 'search', query: 'refund', dataSource: 'kb' },
        async (step) => {
          const documents = [
            { id: 'd1', content: 'Refunds take 5 days.', score: 0.9, metadata: { source: 'faq' } },
          ];
          step.update({ documents });
          return documents;
        },
      );
      await tracer.rerank({ name: 'rerank', model: 'rerank-3', query: 'refund' }, async (step) => {
        step.update({ documents: docs, rerankedDocuments: docs });
      });
      await tracer.embedding({ name: 'embed', model: 'e3', texts: ['refund'] }, async () => [[0.1, 0.2]]);
      await tracer.prompt(
        { name: 'prompt', templateName: 'qa', variables: { q: 'refund' } },
        async (step) => {
          step.update({ messages: [{ role: 'user', content: 'Q: refund' }] });
        },
      );
      await tracer.llm(
        {
          name: 'chat',
          provider: 'openai',
          model: 'gpt-4o',
          params: { temperature: 0 },
          systemInstructions: 'be brief',
          inputMessages: [{ role: 'user', content: 'Q: refund' }],
          tools: [{ name: 'lookup', parameters: { type: 'object' } }],
        },
        async (step) => {
          step.update({
            outputMessages: [
              { role: 'assistant', toolCalls: [{ id: 'c1', name: 'lookup', arguments: { id: 7 } }] },
            ],
            usage: { inputTokens: 10, outputTokens: 5, cachedInputTokens: 2 },
            cost: { total: 0.001, currency: 'USD' },
          });
        },
      );
      await tracer.tool({ name: 'lookup', toolName: 'lookup', arguments: '{"id":7}' }, async () => 'shipped');
      const stream = tracer.llm({ name: 'stream', model: 'gpt-4o' }, async function* () {
        yield 'Refunds ';
        yield 'take 5 days.';
      });
      for await (const _ of stream) {
        // consume
      }
      await tracer.chain({ name: 'parser', metadata: { 'langchain.run_type': 'parser' } }, async () => ({
        ok: 1,
      }));
      await tracer.custom({ name: 'custom', input: [1, 2] }, async () => 'x');
      await tracer
        .tool('failing', async () => {
          throw new RangeError('out of range');
        })
        .catch(() => undefined);
    },
  );
  // A remote parent, and a step joining an existing LangSmith trace by id.
  tracer
    .startStep('chain', { name: 'remote-child', parent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` })
    .end(1);
  tracer.chain({ name: 'joined', existingTraceId: '0192f7a3-2b6c-7d10-8e4f-5a6b7c8d9e0f' }, () => 'ok');
}

async function mapped(options: MapOptions = {}): Promise<Run[]> {
  const plugin = new RunPlugin(options);
  const tracer = createTracer({ flushOnExit: false, plugins: [plugin] });
  await pipeline(tracer);
  await tracer.flush();
  return plugin.runs;
}

describe('mapped runs against LangSmith’s runs.Run schema', () => {
  it('has the run types the package knows, and no other', () => {
    expect([...runTypeEnum()].sort()).toEqual([...RUN_TYPES].sort());
  });

  for (const [label, options] of [
    ['default', {}],
    ['hidden inputs and outputs', { hideInputs: true, hideOutputs: true }],
    ['tight limits', { limits: { maxStringLength: 8, maxBytes: 200, maxArrayLength: 1 } }],
  ] as const) {
    it(`validates every run of a pipeline with every step kind (${label})`, async () => {
      const runs = await mapped(options);
      const kinds = new Set(runs.map((r) => r.extra?.metadata?.spanchain_kind ?? r.run_type));
      for (const kind of STEP_KINDS) expect(kinds.has(kind), kind).toBe(true);
      expect(runs).toHaveLength(14);
      for (const run of runs) {
        // What goes on the wire is JSON: validate exactly that.
        const wire = JSON.parse(JSON.stringify({ ...run, session_name: 'default' }));
        expect(validateRun(wire), run.name).toEqual([]);
        expect(runTypeEnum()).toContain(run.run_type);
        expect(dottedOrderProblems(run), run.name).toEqual([]);
        expect(typeof wire.inputs).toBe('object');
        expect(Array.isArray(wire.inputs)).toBe(false);
        if (wire.outputs !== undefined) expect(Array.isArray(wire.outputs)).toBe(false);
      }
      const byName = new Map(runs.map((r) => [r.name, r]));
      expect(byName.get('search')?.run_type).toBe('retriever');
      expect(byName.get('parser')?.run_type).toBe('parser');
      expect(byName.get('support-agent')?.id).toBe(byName.get('support-agent')?.trace_id);
      expect(byName.get('failing')?.error).toMatch(/^RangeErr/);
    });
  }

  it('maps a LangChain chain traced by @spanchain/langchain to prompt, llm and parser runs', async () => {
    const plugin = new RunPlugin({});
    const tracer = createTracer({ flushOnExit: false, plugins: [plugin] });
    const chain = ChatPromptTemplate.fromMessages([['human', 'Q: {question}']])
      .pipe(new FakeListChatModel({ responses: ['5 days.'] }))
      .pipe(new StringOutputParser());
    const handler = new SpanchainCallbackHandler(tracer);
    expect(await chain.invoke({ question: 'refund?' }, { callbacks: [handler] })).toBe('5 days.');
    await tracer.flush();
    const types = plugin.runs.map((r) => r.run_type).sort();
    expect(types).toEqual(['chain', 'llm', 'parser', 'prompt']);
    for (const run of plugin.runs) {
      expect(validateRun(JSON.parse(JSON.stringify(run))), run.name).toEqual([]);
      expect(dottedOrderProblems(run), run.name).toEqual([]);
    }
    const llm = plugin.runs.find((r) => r.run_type === 'llm')!;
    expect(llm.inputs).toMatchObject({ messages: [{ role: 'user', content: 'Q: refund?' }] });
    const prompt = plugin.runs.find((r) => r.run_type === 'prompt')!;
    expect(prompt.inputs).toEqual({ question: 'refund?' });
  });

  it('catches what LangSmith would reject', () => {
    const good = {
      id: '0e01bf50-474d-4536-810f-67d3ee7ea3e7',
      trace_id: '0e01bf50-474d-4536-810f-67d3ee7ea3e7',
      dotted_order: '20240919T171648521001Z0e01bf50-474d-4536-810f-67d3ee7ea3e7',
      name: 'x',
      run_type: 'chain',
      start_time: '2024-09-19T17:16:48.521001Z',
      inputs: {},
    };
    expect(validateRun(good)).toEqual([]);
    expect(validateRun({ ...good, run_type: 'agent' }).length).toBeGreaterThan(0);
    expect(validateRun({ ...good, inputs: 'a string' }).length).toBeGreaterThan(0);
    expect(validateRun({ ...good, tags: [1] }).length).toBeGreaterThan(0);
    expect(validateRun({ ...good, surprise: 1 })).toEqual(['/surprise is not a property of runs.Run']);
    expect(validateRun({ ...good, surprise: 1 }, { allowUnknown: true })).toEqual([]);
    expect(dottedOrderProblems({ ...good, parent_run_id: good.id })).toContain(
      'the penultimate uuid is not the parent run id',
    );
    expect(dottedOrderProblems({ ...good, id: 'a8024e23-5b82-47fd-970e-f6a5ba3f5097' })).toContain(
      'the last uuid is not the run id',
    );
  });
});
