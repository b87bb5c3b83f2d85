// Context isolation under 1,000 concurrent runs: each run is an agent with parallel tool calls,
// timers, immediates, microtasks, an event emitter, a consumed stream, a manual step and a nested
// chain, interleaving with all the others. Inside, the active step, the injected traceparent and
// the trace fields must always be the run's own; afterwards every step (in memory, at the OTLP sink
// and at the LangSmith sink) must sit in its run's trace, under the right parent.
import { EventEmitter } from 'node:events';
import { createTracer, type Step, type Tracer } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LangSmithReceiver, startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';
import { exportingPlugins } from './support/plugins.js';
import { PROFILE } from './support/profile.js';
import { report } from './support/report.js';

let otlp: OtlpReceiver;
let langsmith: LangSmithReceiver;
beforeAll(async () => {
  otlp = await startOtlpReceiver({ grpc: false });
  langsmith = await startLangSmithReceiver();
});
afterAll(async () => {
  await Promise.allSettled([otlp?.close(), langsmith?.close()]);
});

const STEPS_PER_RUN = 8; // agent, 2 tools, stream, manual, chain, retrieval, llm
const randomDelay = () => new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 5)));

async function run(tracer: Tracer, r: number, wrong: string[]): Promise<string> {
  const user = `user-${r}`;
  return tracer.agent({ name: 'run', trace: { userId: user }, metadata: { run: r } }, async (agent) => {
    const check = (where: string) => {
      const active = tracer.activeStep();
      if (active?.traceId !== agent.traceId) wrong.push(`${r} ${where}: active step of another trace`);
      if (active?.trace.userId !== user) wrong.push(`${r} ${where}: trace fields of ${active?.trace.userId}`);
      const traceparent = tracer.inject<Record<string, string>>({}).traceparent ?? '';
      if (!traceparent.includes(agent.traceId)) wrong.push(`${r} ${where}: traceparent ${traceparent}`);
    };
    check('start');
    await randomDelay();
    check('after a timer');
    const [a, b] = await Promise.all([
      tracer.tool({ name: 'lookup', toolName: 'lookup' }, async () => {
        await new Promise((resolve) => setImmediate(resolve));
        check('tool a');
        return r;
      }),
      tracer.tool({ name: 'compute', toolName: 'compute' }, async () => {
        await randomDelay();
        await Promise.resolve();
        check('tool b');
        return r * 2;
      }),
    ]);
    const emitter = new EventEmitter();
    const heard = new Promise<void>((resolve) =>
      emitter.once('ready', () => {
        check('event listener');
        resolve();
      }),
    );
    setTimeout(() => emitter.emit('ready'), Math.floor(Math.random() * 3));
    await heard;
    const chunks: string[] = [];
    const stream = tracer.llm({ name: 'stream', model: 'm', provider: 'openai' }, async function* () {
      for (let i = 0; i < 3; i++) {
        await randomDelay();
        check('inside the stream');
        yield `${r}:${i}`;
      }
    });
    for await (const chunk of stream) chunks.push(chunk);
    const manual = tracer.startStep('custom', { name: 'manual' });
    queueMicrotask(() => manual.end(`manual ${r}`));
    await randomDelay();
    const nested = await tracer.chain({ name: 'nested' }, async () => {
      const docs = await tracer.retrieval({ query: `q${r}` }, async () => {
        await randomDelay();
        check('nested retrieval');
        return [`doc ${r}`];
      });
      return tracer.llm({ model: 'gpt-4o', provider: 'openai' }, async () => `${docs[0]} answered`);
    });
    check('end');
    return `${a}/${b}/${chunks.join(',')}/${nested}`;
  });
}

describe('context isolation', () => {
  it(`${PROFILE.concurrentRuns} concurrent runs never see each other's context`, async () => {
    const memory = new MemoryPlugin();
    const tracer = createTracer({
      flushOnExit: false,
      plugins: [
        // Queues that hold the whole burst: this test is about context, not about queue bounds.
        ...exportingPlugins(
          { otlp: otlp.httpUrl, langsmith: langsmith.url },
          {
            otel: { batch: { maxQueueSize: 20_000, scheduledDelayMillis: 20 } },
            langsmith: { maxQueueRuns: 20_000 },
          },
        ),
        memory,
      ],
    });
    const runs = PROFILE.concurrentRuns;
    const wrong: string[] = [];
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: runs }, (_, r) => run(tracer, r, wrong)));
    const took = Date.now() - started;
    const flushed = await tracer.flush({ timeoutMs: 30_000 });

    // Results are each run's own.
    const badResults = results.filter((v, r) => v !== `${r}/${r * 2}/${r}:0,${r}:1,${r}:2/doc ${r} answered`);
    // Every step in memory: in its run's trace, with the run's trace fields, its parent in the trace.
    const byTrace = new Map<string, Step[]>();
    for (const step of memory.steps) byTrace.set(step.traceId, [...(byTrace.get(step.traceId) ?? []), step]);
    const badTraces: string[] = [];
    for (const [traceId, steps] of byTrace) {
      const root = steps.find((s) => s.name === 'run');
      const ids = new Set(steps.map((s) => s.spanId));
      const users = new Set(steps.map((s) => s.trace.userId));
      if (
        !root ||
        steps.length !== STEPS_PER_RUN ||
        users.size !== 1 ||
        !users.has(`user-${root.metadata?.run}`)
      )
        badTraces.push(`${traceId}: ${steps.length} steps, users ${[...users].join(',')}`);
      for (const s of steps)
        if (s !== root && !ids.has(s.parentSpanId ?? '')) badTraces.push(`${traceId}: orphan ${s.name}`);
    }
    // The same at the sinks: spans per trace and one user per trace; runs per LangSmith trace.
    const spansByTrace = new Map<string, Set<unknown>>();
    let otelSpans = 0;
    for (const span of otlp.spans()) {
      if (span.scope.name !== '@spanchain/otel') continue;
      otelSpans++;
      const users = spansByTrace.get(span.traceId) ?? new Set();
      users.add(span.attributes['user.id']);
      spansByTrace.set(span.traceId, users);
    }
    const mixedAtSink = [...spansByTrace.values()].filter((users) => users.size !== 1).length;
    const runsByTrace = new Map<string, Set<unknown>>();
    for (const r of langsmith.runs()) {
      const users = runsByTrace.get(String(r.trace_id)) ?? new Set();
      users.add((r.extra as { metadata?: { user_id?: unknown } }).metadata?.user_id);
      runsByTrace.set(String(r.trace_id), users);
    }
    const mixedAtLangSmith = [...runsByTrace.values()].filter((users) => users.size !== 1).length;

    report(
      'context isolation',
      `${runs} concurrent runs × ${STEPS_PER_RUN} steps in ${took} ms: ${wrong.length} wrong contexts seen inside, ${badResults.length} wrong results, ` +
        `${byTrace.size} traces in memory (${badTraces.length} wrong), OTLP ${spansByTrace.size} traces / ${otelSpans} spans (${mixedAtSink} mixing users), ` +
        `LangSmith ${runsByTrace.size} traces / ${langsmith.runs().length} runs (${mixedAtLangSmith} mixing users); flush ok ${flushed.ok}`,
    );
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(badResults).toEqual([]);
    expect(byTrace.size).toBe(runs);
    expect(badTraces.slice(0, 5)).toEqual([]);
    expect(spansByTrace.size).toBe(runs);
    expect(otelSpans).toBe(runs * STEPS_PER_RUN);
    expect(mixedAtSink).toBe(0);
    expect(runsByTrace.size).toBe(runs);
    expect(langsmith.runs()).toHaveLength(runs * STEPS_PER_RUN);
    expect(mixedAtLangSmith).toBe(0);
  });
});
