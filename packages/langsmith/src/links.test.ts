import { randomBytes } from 'node:crypto';
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import {
  type ActiveStep,
  createTracer,
  type Plugin,
  type Step,
  type StepKind,
  sample,
} from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { RunTree } from 'langsmith/run_trees';
import { describe, expect, it } from 'vitest';
import {
  dottedSegment,
  parseDottedOrder,
  spanIdFromUuid,
  spanUuid,
  traceIdFromUuid,
  traceUuid,
} from './ids.js';
import { formatBaggage, mergeBaggage, parseHeaders, type RunLink, RunLinks } from './links.js';

/** A plugin that links every step as the LangSmith plugin does (start on onStart, end on onEnd). */
class LinkPlugin implements Plugin {
  readonly name = 'links';
  readonly links: RunLinks;
  readonly ended: { step: Step; link: RunLink }[] = [];
  constructor(
    links = new RunLinks(),
    private readonly withStart = true,
  ) {
    this.links = links;
  }
  onStart(step: Step): void {
    if (this.withStart) this.links.start(step);
  }
  onEnd(step: Step): void {
    const link = this.links.end(step);
    if (link) this.ended.push({ step, link });
  }
  link(name: string): RunLink {
    const found = this.ended.filter((e) => e.step.name === name);
    if (found.length !== 1) throw new Error(`expected one run named ${name}, found ${found.length}`);
    return found[0]!.link;
  }
}

function setup(options: { withStart?: boolean; links?: RunLinks; tail?: boolean } = {}) {
  const memory = new MemoryPlugin();
  const plugin = new LinkPlugin(options.links, options.withStart ?? true);
  const tracer = createTracer({
    flushOnExit: false,
    plugins: [memory, plugin],
    use: options.tail ? [sample({ ratio: 0, tail: { errors: true } })] : [],
  });
  return { tracer, memory, plugin, links: plugin.links };
}

const ids = (dotted: string) => parseDottedOrder(dotted)!.map((s) => s.id);
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** The contract's invariants, for one run. */
function expectInvariants(link: RunLink, step?: Step): void {
  const chain = ids(link.dottedOrder);
  expect(chain.at(-1), 'last uuid = id').toBe(link.runId);
  expect(chain[0], 'first uuid = trace_id').toBe(link.traceRunId);
  if (link.parentRunId === undefined) {
    expect(chain, 'a run without parent is a root').toHaveLength(1);
    expect(link.runId).toBe(link.traceRunId);
  } else {
    expect(chain.at(-2), 'penultimate uuid = parent_run_id').toBe(link.parentRunId);
  }
  expect(new Set(chain).size, 'no run appears twice on its path').toBe(chain.length);
  expect(link.dottedOrder.endsWith(`${link.startTime.replace(/[-:.]/g, '')}${link.runId}`)).toBe(true);
  if (step) {
    expect(link.traceRunId).toBe(traceUuid(step.traceId));
    expect([traceUuid(step.traceId), spanUuid(step.spanId)]).toContain(link.runId);
  }
}

/** Child = parent + '.' + own segment, for every pair where both runs are here. */
function expectTree(runs: { link: RunLink }[]): void {
  const byId = new Map(runs.map((r) => [r.link.runId, r.link]));
  expect(byId.size, 'run ids are unique').toBe(runs.length);
  for (const { link } of runs) {
    expectInvariants(link);
    const parent = link.parentRunId ? byId.get(link.parentRunId) : undefined;
    if (parent) {
      const own = link.dottedOrder.slice(link.dottedOrder.lastIndexOf('.') + 1);
      expect(link.dottedOrder).toBe(`${parent.dottedOrder}.${own}`);
    }
  }
}

describe('RunLinks: a local tree', () => {
  it('makes the root run the trace, and nests children with execution orders', async () => {
    const { tracer, plugin } = setup();
    await tracer.chain('root', async () => {
      await tracer.retrieval({ name: 'search', query: 'q' }, async () => []);
      await tracer.llm({ name: 'answer', model: 'm' }, async () => {
        await tracer.tool('lookup', () => 1);
        return 'ok';
      });
    });
    await tracer.flush();
    const root = plugin.link('root');
    const rootStep = plugin.ended.find((e) => e.step.name === 'root')!.step;
    expect(root.runId).toBe(traceUuid(rootStep.traceId));
    expect(root.parentRunId).toBeUndefined();
    expect(root.dottedOrder).toBe(dottedSegment(rootStep.startTime, 1, root.runId));
    const search = plugin.link('search');
    const answer = plugin.link('answer');
    const lookup = plugin.link('lookup');
    expect(search.parentRunId).toBe(root.runId);
    expect(answer.parentRunId).toBe(root.runId);
    expect(lookup.parentRunId).toBe(answer.runId);
    expect([search.executionOrder, answer.executionOrder, lookup.executionOrder]).toEqual([1, 2, 1]);
    expect(search.runId).toBe(spanUuid(plugin.ended.find((e) => e.step.name === 'search')!.step.spanId));
    expectTree(plugin.ended);
    for (const { step, link } of plugin.ended) expectInvariants(link, step);
  });

  it('caps the execution order at 999', async () => {
    const { tracer, plugin } = setup();
    tracer.chain('root', () => {
      for (let i = 0; i < 1005; i++) tracer.custom(`c${i}`, () => i);
    });
    await tracer.flush();
    expect(plugin.link('c0').executionOrder).toBe(1);
    expect(plugin.link('c998').executionOrder).toBe(999);
    expect(plugin.link('c1004').executionOrder).toBe(999);
    expect(plugin.link('c1004').startTime.endsWith('999Z')).toBe(true);
    expectTree(plugin.ended);
  });

  it('nests a step under the enclosing step when an app span sits between them', async () => {
    const { tracer, plugin } = setup();
    let appSpanId = '';
    await tracer.agent('agent', async (agent) => {
      appSpanId = hex(8);
      const ctx = trace.setSpanContext(context.active(), {
        traceId: agent.traceId,
        spanId: appSpanId,
        traceFlags: 1,
        isRemote: false,
      });
      await context.with(ctx, () => tracer.tool('inside-app-span', async () => 1));
    });
    await tracer.flush();
    const tool = plugin.ended.find((e) => e.step.name === 'inside-app-span')!;
    expect(tool.step.parentSpanId).toBe(appSpanId);
    expect(tool.link.parentRunId).toBe(plugin.link('agent').runId);
    expect(tool.link.underAgent).toBe(true);
    expectTree(plugin.ended);
  });

  it('makes the first step under an app root span the root run, and nests later ones under it', async () => {
    const { tracer, plugin } = setup();
    const traceId = hex(16);
    const server = trace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId: hex(8),
      traceFlags: 1,
      isRemote: false,
    });
    await context.with(server, async () => {
      await tracer.chain('first', async () => 1);
      await tracer.chain('second', async () => 2);
    });
    await tracer.flush();
    const first = plugin.link('first');
    const second = plugin.link('second');
    expect(first.runId).toBe(traceUuid(traceId));
    expect(second.runId).not.toBe(first.runId);
    expect(second.parentRunId).toBe(first.runId);
    expectTree(plugin.ended);
  });

  it('links a detached child that starts after its parent ended', async () => {
    const { tracer, plugin } = setup();
    const parent = tracer.startStep('chain', { name: 'parent' });
    parent.end('done');
    await tracer.flush();
    const child = tracer.startStep('tool', { name: 'late-child', parent });
    child.end(1);
    await tracer.flush();
    expect(plugin.link('late-child').parentRunId).toBe(plugin.link('parent').runId);
    expectTree(plugin.ended);
  });

  it('gives the same link on start and end, and on a repeated end', async () => {
    const { tracer, links } = setup();
    const step = tracer.startStep('chain', { name: 'x' }) as ActiveStep;
    const started = links.get(step);
    expect(started).toBeDefined();
    step.end();
    await tracer.flush();
    expect(links.end(step)).toEqual(started);
    expect(links.start(step)).toEqual(started);
  });
});

describe('RunLinks: steps whose start was never seen', () => {
  it('links tail-sampled steps that arrive children first', async () => {
    const { tracer, plugin, memory } = setup({ tail: true });
    await tracer
      .agent('agent', async () => {
        await tracer.chain('pipeline', async () => {
          await tracer.retrieval('search', async () => []);
          await tracer.llm('model', async () => {
            throw new Error('boom');
          });
        });
      })
      .catch(() => undefined);
    await tracer.flush();
    expect(memory.started).toHaveLength(0); // the start hook never saw them
    expect(plugin.ended.map((e) => e.step.name)).toEqual(['search', 'model', 'pipeline', 'agent']);
    const agent = plugin.link('agent');
    expect(agent.parentRunId).toBeUndefined();
    expect(plugin.link('pipeline').parentRunId).toBe(agent.runId);
    expect(plugin.link('model').parentRunId).toBe(plugin.link('pipeline').runId);
    expectTree(plugin.ended);
  });

  it('links steps handed over without their records parents (plain copies), best effort', async () => {
    const source = setup();
    await source.tracer.chain('root', async () => {
      await source.tracer.chain('mid', async () => {
        await source.tracer.tool('leaf', async () => 1);
      });
    });
    await source.tracer.flush();
    const links = new RunLinks();
    // Children first, and as plain objects without the record's `parent` reference.
    const copies = source.memory.steps.map((s) => ({ ...s, parent: undefined }) as unknown as Step);
    const runs = copies.map((step) => ({ step, link: links.end(step)! }));
    for (const { step, link } of runs) expectInvariants(link, step);
    const byName = new Map(runs.map((r) => [r.step.name, r.link]));
    // The root's own link is computed when it arrives; `leaf` and `mid` were guesses by then.
    expect(byName.get('root')!.runId).toBe(byName.get('root')!.traceRunId);
    expect(byName.get('mid')!.parentRunId).toBe(spanUuid(source.memory.one('root').spanId));
  });

  it('links step-shaped objects handed to tracer.emit()', async () => {
    const memory = new MemoryPlugin();
    const plugin = new LinkPlugin();
    const source = createTracer({ flushOnExit: false, plugins: [memory] });
    await source.chain('root', async () => source.tool('t', async () => 1));
    await source.flush();
    // Recorded elsewhere (a queue, another process) and replayed in start order.
    const target = createTracer({ flushOnExit: false, plugins: [plugin] });
    for (const step of memory.started) target.emit({ ...step } as Step);
    await target.flush();
    expect(plugin.ended.map((e) => e.step.name)).toEqual(['root', 't']);
    expect(plugin.link('t').parentRunId).toBe(plugin.link('root').runId);
    expectTree(plugin.ended);
  });
});

describe('RunLinks: remote parents', () => {
  it('nests under a remote W3C parent as a best effort (directly under the trace root)', async () => {
    const { tracer, plugin } = setup();
    const traceId = hex(16);
    const parentSpanId = hex(8);
    tracer.startStep('chain', { name: 'remote-child', parent: `00-${traceId}-${parentSpanId}-01` }).end();
    await tracer.flush();
    const link = plugin.link('remote-child');
    expect(link.parentRunId).toBe(spanUuid(parentSpanId));
    expect(ids(link.dottedOrder)).toEqual([traceUuid(traceId), spanUuid(parentSpanId), link.runId]);
    expectInvariants(link);
  });

  it('nests under the run an extracted langsmith-trace header names, with its baggage', async () => {
    // A LangSmith-instrumented caller: its SDK makes the run tree and the headers.
    const callerRoot = new RunTree({ name: 'caller', run_type: 'chain', tracingEnabled: false });
    const callerChild = callerRoot.createChild({ name: 'call-out', run_type: 'tool' });
    callerChild.extra = { metadata: { tenant: 'acme' } };
    callerChild.tags = ['from-caller'];
    callerChild.project_name = 'caller-project';
    const incoming = callerChild.toHeaders();
    const parsed = parseHeaders((name) => (incoming as Record<string, string>)[name]);
    expect(parsed).toMatchObject({
      traceId: traceIdFromUuid(callerRoot.id),
      parentRunId: callerChild.id,
      parentSpanId: spanIdFromUuid(callerChild.id),
      metadata: { tenant: 'acme' },
      tags: ['from-caller'],
      project: 'caller-project',
    });

    const { tracer, plugin, links } = setup();
    expect(links.remember(parsed!.traceId, parsed!.parentSpanId, parsed!.dottedOrder, parsed)).toBe(true);
    // The plugin turns the header into the step's parent (here as a traceparent).
    const parent = `00-${parsed!.traceId}-${parsed!.parentSpanId}-01`;
    await tracer.chain({ name: 'callee', parent }, async () => tracer.llm('model', async () => 'x'));
    await tracer.flush();
    const callee = plugin.link('callee');
    expect(callee.traceRunId).toBe(callerRoot.trace_id);
    expect(callee.parentRunId).toBe(callerChild.id);
    expect(callee.dottedOrder.startsWith(`${callerChild.dotted_order}.`)).toBe(true);
    expect(callee).toMatchObject({
      metadata: { tenant: 'acme' },
      tags: ['from-caller'],
      project: 'caller-project',
    });
    // The subtree carries the baggage too.
    expect(plugin.link('model').project).toBe('caller-project');
    expectTree(plugin.ended);
  });

  it('refuses to remember a dotted order of another trace or a malformed one', () => {
    const links = new RunLinks();
    const root = traceUuid(hex(16));
    const dotted = dottedSegment(Date.now(), 1, root);
    expect(links.remember(hex(16), hex(8), dotted)).toBe(false);
    expect(links.remember(traceIdFromUuid(root)!, hex(8), 'garbage')).toBe(false);
    expect(links.remember(traceIdFromUuid(root)!, hex(8), dotted)).toBe(true);
    expect(links.sizes().remembered).toBe(1);
  });

  it('attaches a step that joined by existingTraceId under the trace root run', async () => {
    const { tracer, plugin } = setup();
    const langsmithTraceId = '0192f7a3-2b6c-7d10-8e4f-5a6b7c8d9e0f';
    tracer.chain({ name: 'joined-1', existingTraceId: langsmithTraceId }, () => 1);
    tracer.chain({ name: 'joined-2', existingTraceId: langsmithTraceId }, () => 2);
    await tracer.flush();
    const first = plugin.link('joined-1');
    const second = plugin.link('joined-2');
    expect(first.traceRunId).toBe(langsmithTraceId);
    expect(first.parentRunId).toBe(langsmithTraceId);
    expect(ids(first.dottedOrder)).toEqual([langsmithTraceId, first.runId]);
    // Both share the one root segment, and take orders 1 and 2 under it.
    expect(second.dottedOrder.split('.')[0]).toBe(first.dottedOrder.split('.')[0]);
    expect([first.executionOrder, second.executionOrder]).toEqual([1, 2]);
    expectTree(plugin.ended);
  });
});

describe('RunLinks: headers', () => {
  it('round-trips: inject then parse gives the same trace and parent', async () => {
    const { tracer, links } = setup();
    await tracer.chain('root', async (root) => {
      await tracer.tool('child', async (child) => {
        for (const step of [root, child] as Step[]) {
          const link = links.get(step)!;
          const headers = { ...tracer.inject({}, step as ActiveStep), ...links.headers(step) };
          const parsed = parseHeaders((name) => headers[name as keyof typeof headers]);
          expect(parsed?.traceId).toBe(step.traceId);
          expect(parsed?.parentRunId).toBe(link.runId);
          // With the traceparent beside it, the parent span is the step itself.
          expect(parsed?.parentSpanId).toBe(step.spanId);
          expect(parsed?.dottedOrder).toBe(link.dottedOrder);
          // Without it, the run id's last 16 digits (the span id itself for a non-root run).
          const alone = parseHeaders((name) => (name === 'traceparent' ? undefined : headers[name as never]));
          expect(alone?.parentSpanId).toBe(spanIdFromUuid(link.runId));
          if (link.parentRunId !== undefined) expect(alone?.parentSpanId).toBe(step.spanId);
        }
      });
    });
  });

  it("carries the trace's metadata, user, thread and tags as LangSmith's SDK reads them", async () => {
    const { tracer, links } = setup();
    let headers: Record<string, string> = {};
    await tracer.chain(
      {
        name: 'root',
        trace: { userId: 'u1', sessionId: 's1', tags: ['a', 'b,c'], metadata: { plan: 'pro' } },
      },
      async (step) => {
        headers = links.headers(step as Step, { project: 'my project' });
      },
    );
    const callee = RunTree.fromHeaders(headers)!;
    expect(callee.id).toBe(parseHeaders((n) => headers[n])!.parentRunId);
    expect(callee.trace_id).toBe(ids(headers['langsmith-trace']!)[0]);
    expect(callee.extra?.metadata).toEqual({ plan: 'pro', user_id: 'u1', thread_id: 's1' });
    // A tag with a comma cannot travel in LangSmith's comma-joined list.
    expect(callee.tags).toEqual(['a']);
    expect(callee.project_name).toBe('my project');
    const child = callee.createChild({ name: 'downstream', run_type: 'llm' });
    expect(child.trace_id).toBe(callee.trace_id);
    expect(child.dotted_order.startsWith(`${headers['langsmith-trace']}.`)).toBe(true);
  });

  it('leaves out baggage with nothing to say, and bounds its size', () => {
    expect(formatBaggage({}, [], undefined)).toBe('');
    expect(formatBaggage({ big: 'x'.repeat(10_000) }, ['t'], 'p')).toBe(
      'langsmith-tags=t,langsmith-project=p',
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(formatBaggage(cyclic, undefined, undefined)).toBe('');
  });

  it('merges with W3C baggage, replacing stale langsmith members', () => {
    expect(mergeBaggage('k=v,langsmith-project=old', 'langsmith-project=new')).toBe(
      'k=v,langsmith-project=new',
    );
    expect(mergeBaggage(undefined, 'langsmith-tags=a')).toBe('langsmith-tags=a');
    expect(mergeBaggage('k=v', '')).toBe('k=v');
    const full = `k=${'v'.repeat(8_180)}`;
    expect(mergeBaggage(full, 'langsmith-tags=a')).toBe(full);
  });

  it('parses defensively', () => {
    const segment = dottedSegment(Date.now(), 1, traceUuid(hex(16)));
    const from = (headers: Record<string, unknown>) => (name: string) => headers[name] as string | undefined;
    expect(parseHeaders(from({}))).toBeUndefined();
    expect(parseHeaders(from({ 'langsmith-trace': 'nonsense' }))).toBeUndefined();
    expect(parseHeaders(from({ 'langsmith-trace': `${segment}.`.repeat(2000) }))).toBeUndefined();
    expect(
      parseHeaders(from({ 'langsmith-trace': `20240919T171648521001Z00000000-0000-0000-0000-000000000000` })),
    ).toBeUndefined();
    expect(
      parseHeaders(() => {
        throw new Error('getter');
      }),
    ).toBeUndefined();
    expect(parseHeaders(undefined as never)).toBeUndefined();
    // Other baggage members (W3C baggage may hold anything) and broken langsmith members are ignored.
    const parsed = parseHeaders(
      from({
        'langsmith-trace': ` ${segment} `,
        baggage:
          'userId=42;prop=1, langsmith-metadata=%7Bbroken,langsmith-tags=%E0%A4%A,langsmith-project=p%20q',
      }),
    );
    expect(parsed).toMatchObject({ dottedOrder: segment, project: 'p q' });
    expect(parsed?.metadata).toBeUndefined();
    expect(parsed?.tags).toBeUndefined();
    // Array header values (Node's IncomingHttpHeaders) are joined.
    expect(parseHeaders(from({ 'langsmith-trace': [segment] }))?.dottedOrder).toBe(segment);
    // A traceparent of another trace does not change the parent span.
    const other = parseHeaders(
      from({ 'langsmith-trace': segment, traceparent: `00-${hex(16)}-${hex(8)}-01` }),
    );
    expect(other?.parentSpanId).toBe(spanIdFromUuid(ids(segment)[0]!));
    // An oversized baggage is ignored as a whole.
    const big = parseHeaders(
      from({ 'langsmith-trace': segment, baggage: `langsmith-project=p,x=${'y'.repeat(9000)}` }),
    );
    expect(big?.project).toBeUndefined();
  });
});

describe('RunLinks: bounds', () => {
  it('forgets live runs at end and keeps at most maxEnded ended ones', async () => {
    const links = new RunLinks({ maxEnded: 8, maxRemembered: 4 });
    const { tracer } = setup({ links });
    for (let i = 0; i < 100; i++) tracer.chain(`r${i}`, () => tracer.tool('t', () => i));
    await tracer.flush();
    const sizes = links.sizes();
    expect(sizes.live).toBe(0);
    expect(sizes.ended).toBeLessThanOrEqual(8);
    expect(sizes.roots).toBeLessThanOrEqual(8);
    for (let i = 0; i < 20; i++) {
      const traceId = hex(16);
      links.remember(traceId, hex(8), dottedSegment(Date.now(), 1, traceUuid(traceId)));
    }
    expect(links.sizes().remembered).toBe(4);
  });

  it('bounds live runs that never end', () => {
    const links = new RunLinks({ maxLive: 10 });
    const { tracer } = setup({ links });
    for (let i = 0; i < 50; i++) tracer.startStep('chain', { name: `open${i}` });
    expect(links.sizes().live).toBe(10);
  });

  it('never throws on odd input', () => {
    const links = new RunLinks();
    for (const odd of [undefined, null, 42, 'x', {}, { traceId: 1, spanId: 2 }, []]) {
      expect(links.start(odd as never)).toBeUndefined();
      expect(links.end(odd as never)).toBeUndefined();
      expect(links.headers(odd as never)).toEqual({});
    }
    const throwing = {
      get traceId(): never {
        throw new Error('getter');
      },
      spanId: 'x',
    };
    expect(links.end(throwing as never)).toBeUndefined();
    const throwingTrace = { traceId: hex(16), spanId: hex(8), parentIsRemote: false, startTime: 0 };
    Object.defineProperty(throwingTrace, 'trace', {
      get() {
        throw new Error('getter');
      },
    });
    expect(Object.keys(links.headers(throwingTrace as never))).toEqual(['langsmith-trace']);
    const weird = { traceId: 'NOT HEX', spanId: 'also not', startTime: Number.NaN, parentIsRemote: true };
    const link = links.end(weird as never)!;
    expectInvariants(link);
    const hostile = {
      traceId: hex(16),
      spanId: hex(8),
      parentStepId: hex(8),
      startTime: 0,
      get parent(): never {
        throw new Error('getter');
      },
    };
    expectInvariants(links.end(hostile as never)!);
  });
});

describe('RunLinks: a generated tree', () => {
  const KINDS: StepKind[] = ['agent', 'chain', 'retrieval', 'prompt', 'llm', 'tool', 'embedding', 'rerank'];

  it('keeps every invariant over random trees with remote parents, joins, app spans and detached children', async () => {
    for (let round = 0; round < 5; round++) {
      const { tracer, plugin, links } = setup();
      const open: ActiveStep[] = [];
      const ended: ActiveStep[] = [];
      const remoteTrace = hex(16);
      const rememberedSpan = hex(8);
      // One remote parent is known through a langsmith-trace header, another only by traceparent.
      const upstream = `${dottedSegment(Date.now() - 5, 1, traceUuid(remoteTrace))}.${dottedSegment(Date.now() - 4, 1, '0192f7a3-2b6c-7d10-8e4f-5a6b7c8d9e0f')}`;
      links.remember(remoteTrace, rememberedSpan, upstream, { project: 'up' });
      for (let i = 0; i < 300; i++) {
        const kind = KINDS[Math.floor(Math.random() * KINDS.length)]!;
        const roll = Math.random();
        let step: ActiveStep;
        if (roll < 0.05 || open.length + ended.length === 0) {
          step = tracer.startStep(kind, { name: `s${i}` }) as ActiveStep;
        } else if (roll < 0.1) {
          step = tracer.startStep(kind, {
            name: `s${i}`,
            parent: `00-${remoteTrace}-${rememberedSpan}-01`,
          }) as ActiveStep;
        } else if (roll < 0.13) {
          step = tracer.startStep(kind, {
            name: `s${i}`,
            parent: `00-${hex(16)}-${hex(8)}-01`,
          }) as ActiveStep;
        } else if (roll < 0.16) {
          step = tracer.startStep(kind, { name: `s${i}`, existingTraceId: remoteTrace }) as ActiveStep;
        } else if (roll < 0.25 && ended.length > 0) {
          // A detached child of a step that already ended.
          const parent = ended[Math.floor(Math.random() * ended.length)]!;
          step = tracer.startStep(kind, { name: `s${i}`, parent }) as ActiveStep;
        } else if (roll < 0.35 && open.length > 0) {
          // Through an app span inside an open step.
          const parent = open[Math.floor(Math.random() * open.length)]!;
          const ctx = trace.setSpanContext(parent.context(), {
            traceId: parent.traceId,
            spanId: hex(8),
            traceFlags: 1,
            isRemote: false,
          });
          step = context.with(ctx, () => tracer.startStep(kind, { name: `s${i}` })) as ActiveStep;
        } else {
          const pool = open.length > 0 ? open : ended;
          const parent = pool[Math.floor(Math.random() * pool.length)]!;
          step = tracer.startStep(kind, { name: `s${i}`, parent }) as ActiveStep;
        }
        open.push(step);
        if (Math.random() < 0.4) {
          const done = open.splice(Math.floor(Math.random() * open.length), 1)[0]!;
          done.end();
          ended.push(done);
        }
      }
      for (const step of open) step.end();
      await tracer.flush();
      expect(plugin.ended).toHaveLength(300);
      expectTree(plugin.ended);
      for (const { step, link } of plugin.ended) {
        expectInvariants(link, step);
        // Every local parent step is the run's parent.
        const parentStep = step.parentStepId ?? (step.parentIsRemote ? undefined : step.parentSpanId);
        const parent = plugin.ended.find((e) => e.step.spanId === parentStep);
        if (parent && step.parentStepId !== undefined) expect(link.parentRunId).toBe(parent.link.runId);
        if (step.parentIsRemote && step.parentSpanId === rememberedSpan) {
          expect(link.parentRunId).toBe('0192f7a3-2b6c-7d10-8e4f-5a6b7c8d9e0f');
          expect(link.dottedOrder.startsWith(`${upstream}.`)).toBe(true);
          expect(link.project).toBe('up');
        }
      }
    }
  });
});
