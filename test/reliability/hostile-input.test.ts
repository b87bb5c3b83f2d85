// The hostile-input corpus (support/hostile.ts) through every plugin at once — OTel (with content
// capture on), Langfuse, Phoenix, LangSmith (loopback sinks up), console and memory — as input,
// output, metadata, trace metadata, attributes, tags, tool arguments and results, message content,
// documents, and as the thing thrown. Nothing may throw into the app or go unhandled; the app gets
// back exactly what it returned or threw, unchanged; what a plugin cannot take is reported, not
// thrown; the plain steps around each hostile one all arrive; every payload the sinks receive is
// well-formed; and the accounting identity holds.
import { inspect } from 'node:util';
import { createTracer, type InternalErrorReport, type Tracer } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LangSmithReceiver, startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';
import { describeAccounts, identityGap } from './support/accounting.js';
import { hostileCorpus } from './support/hostile.js';
import { exportingPlugins, localPlugins } from './support/plugins.js';
import { PROFILE } from './support/profile.js';
import { ms, report } from './support/report.js';
import { DeliveryLedger, PLUGINS, pluginOfSpan, seqOfRun, seqOfSpan } from './support/sinks.js';
import { longestTurn } from './support/turns.js';

let otlp: OtlpReceiver;
let langsmith: LangSmithReceiver;
const ledger = new DeliveryLedger();

beforeAll(async () => {
  otlp = await startOtlpReceiver({
    grpc: false,
    retain: false,
    // The sinks take requests of any size here, so that this test is about crashes and isolation;
    // sizes are limits.test.ts's subject.
    maxBodyBytes: 1024 * 2 ** 20,
    onData: ({ spans }) => {
      for (const span of spans) {
        const plugin = pluginOfSpan(span);
        const seq = plugin && seqOfSpan(span, plugin);
        if (plugin && seq !== undefined) ledger.record(plugin, seq);
      }
    },
  });
  langsmith = await startLangSmithReceiver({
    retain: false,
    maxBodyBytes: 1024 * 2 ** 20,
    onRuns: (posts) => {
      for (const run of posts) {
        const seq = seqOfRun(run);
        if (seq !== undefined) ledger.record('langsmith', seq);
      }
    },
  });
});
afterAll(async () => {
  await Promise.allSettled([otlp?.close(), langsmith?.close()]);
});

/** A description of a value that reads no getter and calls no user code where it can help it. */
function fingerprint(value: unknown): string {
  try {
    return inspect(value, {
      depth: 2,
      getters: false,
      customInspect: false,
      showProxy: true,
      maxArrayLength: 5,
      maxStringLength: 64,
    });
  } catch {
    return '(cannot be inspected)';
  }
}

const asRecord = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : { value };

describe('the hostile-input corpus through every plugin', () => {
  it('nothing throws into the app, results are untouched, plain steps all arrive, payloads are well-formed', async () => {
    const hugeBytes = PROFILE.name === 'full' ? 50 * 2 ** 20 : 16 * 2 ** 20;
    const corpus = hostileCorpus(hugeBytes);
    const errors: InternalErrorReport[] = [];
    const lines: string[] = [];
    const { console: consolePlugin, memory } = localPlugins(lines);
    const tracer: Tracer = createTracer({
      flushOnExit: false,
      onError: (r) => errors.push(r),
      plugins: [
        ...exportingPlugins(
          { otlp: otlp.httpUrl, langsmith: langsmith.url },
          { otel: { captureContent: true } },
        ),
        consolePlugin,
        memory,
      ],
    });

    let seq = 0;
    const plain = async () => {
      const n = seq++;
      expect(await tracer.chain({ name: 'plain', metadata: { seq: n } }, async () => n)).toBe(n);
    };
    const mismatches: string[] = [];
    let hostileSteps = 0;
    for (const { label, value, throwable, unreadable } of corpus) {
      const before = fingerprint(value);
      await plain();
      // What the async steps return: the value itself, or (when even `then` cannot be read) a box.
      const result = unreadable ? { value } : value;
      const same = (what: string, got: unknown) => {
        if (got !== result) mismatches.push(`${label}: ${what} returned something else`);
      };
      same(
        'chain',
        await tracer.chain(
          {
            name: 'hostile',
            input: value,
            // The value as the metadata record itself (its keys become attributes, within the
            // count limit; binary data, arrays and class instances are not walked key by key).
            metadata: asRecord(value),
            trace: { metadata: { value }, userId: 'hostile-user' },
            attributes: { 'app.value': value as never },
            tags: ['hostile', value as never],
          },
          async () => result,
        ),
      );
      same(
        'tool',
        await tracer.tool({ name: 'tool', arguments: value, toolName: 'probe' }, async () => result),
      );
      same(
        'llm',
        await tracer.llm(
          {
            model: 'gpt-4o',
            provider: 'openai',
            // The value as the content itself (a list is cut before it is mapped) and in a part.
            inputMessages: [
              { role: 'user', content: value as never },
              { role: 'user', content: [{ type: 'data', value } as never] },
            ],
            metadata: { nested: value },
          },
          async () => result,
        ),
      );
      same(
        'retrieval',
        await tracer.retrieval(
          {
            query: value as never,
            documents: [{ id: 'doc', content: value as never, metadata: asRecord(value) }],
          },
          async () => result,
        ),
      );
      // A synchronous function's value comes back as it is, whatever it is.
      const sync = tracer.custom({ name: 'sync', input: value }, () => value);
      if (sync !== value) mismatches.push(`${label}: sync custom returned something else`);
      hostileSteps += 5;
      if (throwable) {
        let caught: unknown = 'nothing thrown';
        try {
          await tracer.custom({ name: 'throws' }, async () => {
            throw value;
          });
        } catch (error) {
          caught = error;
        }
        if (caught !== value) mismatches.push(`${label}: the thrown value came back changed`);
        hostileSteps++;
      }
      await plain();
      if (fingerprint(value) !== before) mismatches.push(`${label}: the value was modified`);
    }
    const flushed = await tracer.flush({ timeoutMs: 30_000 });
    const stats = tracer.stats().plugins;
    const plainCount = seq;
    const invalidOtlp = otlp.requests.filter((r) => r.outcome?.kind === 'invalid');
    const bySource: Record<string, number> = {};
    for (const e of errors) bySource[e.source] = (bySource[e.source] ?? 0) + 1;

    report(
      'hostile input',
      `${corpus.length} values × ${(hostileSteps / corpus.length) | 0}+ steps through 6 plugins: ${mismatches.length} changed results, ` +
        `flush ok ${flushed.ok}; plain steps delivered ${PLUGINS.map((p) => `${p} ${ledger.range(p, 0, plainCount).once}/${plainCount}`).join(', ')}; ` +
        `reported, not thrown: ${JSON.stringify(bySource)} (a \`.map\` report: a step sent with ids, times and status only); hook errors ${stats.map((p) => `${p.name} ${p.hookErrors}`).join(', ')}; ` +
        `invalid requests at the sinks: OTLP ${invalidOtlp.length}, LangSmith ${langsmith.problems().length}; ` +
        `${stats
          .filter((p) => PLUGINS.includes(p.name as never))
          .map(describeAccounts)
          .join('; ')}`,
    );

    expect(mismatches).toEqual([]);
    expect(flushed.timedOut).toBe(false);
    for (const plugin of PLUGINS) {
      expect(
        ledger.range(plugin, 0, plainCount),
        `${plugin}: ${ledger.problems(plugin, 0, plainCount).join(' ')}`,
      ).toEqual({
        once: plainCount,
        missing: 0,
        duplicated: 0,
      });
    }
    for (const p of stats) {
      expect(p.hookErrors, p.name).toBe(0);
      expect(p.received, p.name).toBe(plainCount + hostileSteps);
      if (PLUGINS.includes(p.name as never)) {
        expect(identityGap(p), describeAccounts(p)).toBe(0);
        expect(p.queued, describeAccounts(p)).toBe(0);
        // Hostile steps are sent (with what could be read), not dropped: every plugin cuts tags,
        // metadata and content to its budgets, so not even the 50 MiB tag makes a run too large.
        expect(p.exported, describeAccounts(p)).toBe(plainCount + hostileSteps);
        expect(p.dropped).toEqual({});
      }
    }
    expect(invalidOtlp.map((r) => r.outcome)).toEqual([]);
    expect(langsmith.problems()).toEqual([]);
    expect(memory.steps).toHaveLength(plainCount + hostileSteps);
    // JSON lines, several per write when a trace has several steps.
    const jsonLines = lines
      .join('')
      .split('\n')
      .filter((l) => l !== '');
    for (const line of jsonLines) expect(() => JSON.parse(line)).not.toThrow();
    expect(jsonLines.length).toBeGreaterThan(0);
  });
});

// Lists the app hands over can be of any length (an array may say 2³²−1 items): a million content
// parts, a 1 MiB Buffer as content, sparse arrays as content, tools, tool calls, documents,
// embedding texts and outputs. Every plugin cuts them to the budgets before mapping them, so no
// export holds the event loop for long and every step is still sent.
describe('content lists too long to walk', () => {
  it('are mapped in bounded time by every plugin', async () => {
    const memory = new MemoryPlugin();
    const tracer = createTracer({
      flushOnExit: false,
      plugins: [
        ...exportingPlugins(
          { otlp: otlp.httpUrl, langsmith: langsmith.url },
          { otel: { captureContent: true } },
        ),
        memory,
      ],
    });
    const long = Array.from({ length: 1_000_000 }, (_, i) => ({ type: 'text', text: `part ${i}` }));
    const tools = Array.from({ length: 1_000_000 }, (_, i) => ({ name: `tool_${i}` }));
    const buffer = Buffer.alloc(2 ** 20, 1);
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1;
    // Warm up the mapping and encoding code with the same kinds of steps and ordinary lists, so that
    // what is measured is the lists' cost, not the first export's compilation.
    const few = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ type: 'text', text: `part ${i}`, name: `t${i}` }));
    for (let round = 0; round < 3; round++) {
      await tracer.llm(
        {
          model: 'gpt-4o',
          provider: 'openai',
          inputMessages: [{ role: 'user', content: few(50) as never, toolCalls: few(5) as never }],
          tools: few(20) as never,
          systemInstructions: few(2) as never,
        },
        async (s) => {
          s.update({ toolCalls: few(3) as never, outputMessages: [{ role: 'assistant', content: 'x' }] });
          return 'ok';
        },
      );
      await tracer.retrieval({ query: 'q', documents: few(20) as never }, async () => 'ok');
      await tracer.rerank({ query: 'q', documents: few(20) as never }, async (s) => {
        s.update({ rerankedDocuments: few(5) as never });
        return 'ok';
      });
      await tracer.embedding({ model: 'e', texts: ['a', 'b'] }, async () => [
        [1, 2],
        [3, 4],
      ]);
      await tracer.prompt({ name: 'p', messages: [{ role: 'user', content: 'x' }] }, async () => 'ok');
      await tracer.flush({ timeoutMs: 30_000 });
    }
    const warmup = memory.steps.length;
    const steps = 7;
    const started = performance.now();
    const { result: flushed, longest } = await longestTurn(async () => {
      // Each step is flushed on its own: a turn then holds one step's export by every plugin.
      await tracer.llm(
        {
          model: 'gpt-4o',
          provider: 'openai',
          inputMessages: [{ role: 'user', content: long as never }],
          tools: tools as never,
        },
        async () => 'ok',
      );
      await tracer.flush({ timeoutMs: 30_000 });
      await tracer.llm(
        {
          model: 'gpt-4o',
          provider: 'openai',
          systemInstructions: sparse as never,
          inputMessages: [
            { role: 'user', content: buffer as never },
            { role: 'user', content: sparse as never, toolCalls: sparse as never },
          ],
          tools: sparse as never,
        },
        async (s) => {
          s.update({ toolCalls: sparse as never });
          return 'ok';
        },
      );
      await tracer.flush({ timeoutMs: 30_000 });
      await tracer.llm({ model: 'gpt-4o', inputMessages: sparse as never }, async (s) => {
        s.update({ outputMessages: sparse as never });
        return 'ok';
      });
      await tracer.flush({ timeoutMs: 30_000 });
      await tracer.retrieval({ query: 'q', documents: sparse as never }, async () => 'ok');
      await tracer.flush({ timeoutMs: 30_000 });
      await tracer.rerank({ query: 'q', documents: sparse as never }, async (s) => {
        s.update({ rerankedDocuments: sparse as never });
        return 'ok';
      });
      await tracer.flush({ timeoutMs: 30_000 });
      await tracer.embedding({ model: 'e', texts: sparse as never }, async () => sparse);
      await tracer.flush({ timeoutMs: 30_000 });
      await tracer.prompt({ name: 'p', messages: sparse as never }, async () => 'ok');
      return tracer.flush({ timeoutMs: 30_000 });
    });
    const elapsed = performance.now() - started;

    const stats = tracer.stats().plugins;
    report(
      'content lists',
      `${steps} steps with 1M-item, 1 MiB Buffer and 2³²−1-length sparse content, tools, tool calls and documents: ` +
        `longest event-loop turn ${ms(longest)}, mapped and flushed in ${ms(elapsed)}, flush ok ${flushed.ok}; ` +
        stats
          .filter((p) => PLUGINS.includes(p.name as never))
          .map(describeAccounts)
          .join('; '),
    );
    expect(flushed.timedOut).toBe(false);
    // Before the lists were cut: 242 ms (1M parts), 539 ms (the Buffer), ~100 s (a sparse list).
    expect(longest).toBeLessThan(150);
    expect(memory.steps).toHaveLength(warmup + steps);
    for (const p of stats) expect(p.exported, describeAccounts(p)).toBe(warmup + steps);
    await tracer.shutdown({ timeoutMs: 5_000 });
  });
});
