// Distributed tracing with @spanchain/langsmith: the `langsmith-trace` header and the `langsmith-*`
// baggage members between (a) two spanchain services, (b) a LangSmith SDK caller (`RunTree`) and a
// spanchain service, (c) a spanchain caller and a LangSmith SDK service (`RunTree.fromHeaders`).
// The spanchain side's runs go to a loopback LangSmith (which validates every run); the SDK's run
// trees are compared in memory (nothing is sent for them).
import { context, propagation } from '@opentelemetry/api';
import { createTracer, type Tracer } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { type LangSmithPluginOptions, langsmith } from '@spanchain/langsmith';
import { Client } from 'langsmith';
import { RunTree } from 'langsmith/run_trees';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LangSmithReceiver, startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { dottedOrderProblems, validateRun } from '../support/langsmith-schema.js';

const KEY = 'lsv2_pt_propagation000000000000000000000_feedface01';

interface WireRun {
  id: string;
  trace_id: string;
  dotted_order: string;
  parent_run_id?: string;
  name: string;
  run_type: string;
  tags?: string[];
  extra?: { metadata?: Record<string, unknown> };
  session_name?: string;
}

let receiver: LangSmithReceiver;
const tracers: Tracer[] = [];

beforeEach(async () => {
  receiver = await startLangSmithReceiver();
});
afterEach(async () => {
  await Promise.allSettled(tracers.splice(0).map((t) => t.shutdown({ timeoutMs: 2000 })));
  await receiver.close();
});

function service(
  project: string,
  options: LangSmithPluginOptions = {},
): { tracer: Tracer; memory: MemoryPlugin } {
  const memory = new MemoryPlugin();
  const tracer = createTracer({
    serviceName: project,
    flushOnExit: false,
    plugins: [
      langsmith({ endpoint: receiver.url, apiKey: KEY, project, flushIntervalMillis: 10, ...options }, {}),
      memory,
    ],
  });
  tracers.push(tracer);
  return { tracer, memory };
}

/** A client for the SDK's run trees; it is never asked to send anything. */
const sdkClient = () =>
  new Client({ apiUrl: 'http://127.0.0.1:9', apiKey: 'lsv2_pt_sdk_unused', autoBatchTracing: false });

async function flushAll(): Promise<WireRun[]> {
  for (const t of tracers) expect((await t.flush({ timeoutMs: 5000 })).timedOut).toBe(false);
  expect(receiver.problems()).toEqual([]);
  const runs = receiver.runs() as unknown as WireRun[];
  for (const run of runs) {
    expect(validateRun(run), run.name).toEqual([]);
    expect(dottedOrderProblems(run), run.name).toEqual([]);
  }
  return runs;
}

const one = (runs: WireRun[], name: string): WireRun => {
  const found = runs.filter((r) => r.name === name);
  if (found.length !== 1) throw new Error(`expected one run named ${name}, found ${found.length}`);
  return found[0]!;
};

/** `baggage` split into members (`key=value`), in order. */
const members = (baggage: string | undefined): string[] =>
  (baggage ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
const memberKeys = (baggage: string | undefined): string[] =>
  members(baggage).map((m) => m.slice(0, m.indexOf('=')));
const memberValue = (baggage: string | undefined, key: string): string | undefined => {
  const found = members(baggage).filter((m) => m.startsWith(`${key}=`));
  return found.length === 0 ? undefined : decodeURIComponent(found.at(-1)!.slice(key.length + 1));
};

/** The dotted order's last segment (the run's own). */
const ownSegment = (dotted: string): string => dotted.split('.').at(-1)!;
const isUuidV7 = (id: string): boolean =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id);

/** Runs `fn` with W3C baggage (an app's own member) in the active context. */
function withAppBaggage<T>(fn: () => T): T {
  const bag = propagation.createBaggage({ 'user.tier': { value: 'gold' } });
  return context.with(propagation.setBaggage(context.active(), bag), fn);
}

describe('spanchain → spanchain', () => {
  let headersAB: Record<string, string>;
  let headersBC: Record<string, string>;
  let runs: WireRun[];

  beforeEach(async () => {
    const a = service('service-a');
    const b = service('service-b');
    const c = service('service-c');
    headersAB = {};
    headersBC = {};
    await withAppBaggage(() =>
      a.tracer.chain(
        {
          name: 'a-root',
          trace: { userId: 'u-7', sessionId: 'thread-3', tags: ['from-a'], metadata: { tenant: 'acme' } },
        },
        () =>
          a.tracer.tool({ name: 'a-call', toolName: 'call_b' }, async () => {
            a.tracer.inject(headersAB);
            // Service B, as its HTTP handler would run it.
            await b.tracer.continueFrom({ ...headersAB }, () =>
              b.tracer.chain(
                {
                  name: 'b-handle',
                  tags: ['b-own'],
                  trace: { tags: ['from-b'], metadata: { region: 'eu' } },
                },
                async () => {
                  await b.tracer.llm({ name: 'b-llm', model: 'm' }, async () => 'x');
                  b.tracer.inject(headersBC);
                  await c.tracer.continueFrom({ ...headersBC }, () => c.tracer.chain('c-handle', () => 'c'));
                },
              ),
            );
          }),
      ),
    );
    runs = await flushAll();
  });

  it('A’s inject writes traceparent, langsmith-trace and langsmith baggage next to the app’s baggage', () => {
    const aCall = one(runs, 'a-call');
    const traceHex = aCall.trace_id.replace(/-/g, '');
    const spanHex = aCall.id.replace(/-/g, '').slice(16);
    expect(headersAB.traceparent).toBe(`00-${traceHex}-${spanHex}-01`);
    expect(headersAB['langsmith-trace']).toBe(aCall.dotted_order);
    const baggage = headersAB.baggage;
    expect(members(baggage)).toContain('user.tier=gold');
    expect(JSON.parse(memberValue(baggage, 'langsmith-metadata')!)).toMatchObject({
      tenant: 'acme',
      user_id: 'u-7',
      thread_id: 'thread-3',
    });
    expect(memberValue(baggage, 'langsmith-tags')).toBe('from-a');
    expect(memberValue(baggage, 'langsmith-project')).toBe('service-a');
    // One header, each member once.
    expect(new Set(memberKeys(baggage)).size).toBe(memberKeys(baggage).length);
  });

  it('B’s run continues A’s: same trace, A’s run as parent, A’s dotted order as prefix, A’s baggage', () => {
    const aRoot = one(runs, 'a-root');
    const aCall = one(runs, 'a-call');
    const bHandle = one(runs, 'b-handle');
    const bLlm = one(runs, 'b-llm');
    expect(aCall.parent_run_id).toBe(aRoot.id);
    expect(bHandle.trace_id).toBe(aRoot.id);
    expect(bHandle.parent_run_id).toBe(aCall.id);
    expect(bHandle.dotted_order).toBe(`${aCall.dotted_order}.${ownSegment(bHandle.dotted_order)}`);
    expect(bLlm.parent_run_id).toBe(bHandle.id);
    expect(bLlm.dotted_order).toBe(`${bHandle.dotted_order}.${ownSegment(bLlm.dotted_order)}`);
    for (const run of [bHandle, bLlm]) {
      expect(run.extra?.metadata, run.name).toMatchObject({
        tenant: 'acme',
        user_id: 'u-7',
        thread_id: 'thread-3',
      });
      expect(run.tags, run.name).toEqual(expect.arrayContaining(['from-a']));
      // The caller's project applies: the trace stays in one project.
      expect(run.session_name, run.name).toBe('service-a');
    }
    expect(bHandle.extra?.metadata).toMatchObject({ region: 'eu' });
    expect(bHandle.tags).toEqual(expect.arrayContaining(['b-own', 'from-b']));
  });

  it('a third hop nests too: C under B under A, with A’s and B’s metadata and tags', () => {
    const bHandle = one(runs, 'b-handle');
    const cHandle = one(runs, 'c-handle');
    expect(cHandle.trace_id).toBe(bHandle.trace_id);
    expect(cHandle.parent_run_id).toBe(bHandle.id);
    expect(cHandle.dotted_order).toBe(`${bHandle.dotted_order}.${ownSegment(cHandle.dotted_order)}`);
    expect(cHandle.extra?.metadata).toMatchObject({ tenant: 'acme', region: 'eu' });
    expect(cHandle.tags).toEqual(expect.arrayContaining(['from-a', 'from-b']));
    expect(headersBC['langsmith-trace']).toBe(bHandle.dotted_order);
    expect(members(headersBC.baggage)).toContain('user.tier=gold');
  });

  it('B forwards the project its own runs went to, so the whole trace stays in one project', () => {
    // B's runs land in A's project (from A's baggage); C must be told the same project.
    expect(one(runs, 'b-handle').session_name).toBe('service-a');
    expect(memberValue(headersBC.baggage, 'langsmith-project')).toBe('service-a');
    expect(one(runs, 'c-handle').session_name).toBe('service-a');
  });

  it('B’s inject merges the incoming W3C baggage with its own langsmith members: each key once', () => {
    // The baggage B received (A's langsmith members included) is in B's OTel context; B's inject
    // must replace those members with its own rather than append a second copy.
    const keys = memberKeys(headersBC.baggage);
    expect(keys.filter((k) => k === 'user.tier')).toHaveLength(1);
    for (const key of ['langsmith-metadata', 'langsmith-tags', 'langsmith-project'])
      expect(
        keys.filter((k) => k === key),
        key,
      ).toHaveLength(1);
  });
});

describe('traceparent alone', () => {
  it('without langsmith-trace, one hop is still right: under the caller’s run, under its root', async () => {
    const a = service('service-a');
    const b = service('service-b');
    await a.tracer.chain('w3c-root', () =>
      a.tracer.tool({ name: 'w3c-call' }, async () => {
        const headers: Record<string, string> = a.tracer.inject({});
        // A caller instrumented with plain OpenTelemetry sends only W3C headers.
        const w3cOnly = { traceparent: headers.traceparent! };
        await b.tracer.continueFrom(w3cOnly, () => b.tracer.chain('w3c-handle', () => 1));
      }),
    );
    const runs = await flushAll();
    const root = one(runs, 'w3c-root');
    const call = one(runs, 'w3c-call');
    const handle = one(runs, 'w3c-handle');
    expect(handle.trace_id).toBe(root.id);
    expect(handle.parent_run_id).toBe(call.id);
    const uuids = (dotted: string) =>
      dotted.split('.').map((segment) => segment.slice(segment.indexOf('Z') + 1));
    expect(uuids(handle.dotted_order)).toEqual([root.id, call.id, handle.id]);
    // The project is B's own: nothing said otherwise.
    expect(handle.session_name).toBe('service-b');
  });
});

describe('LangSmith SDK → spanchain', () => {
  it('a run of a RunTree’s headers (no traceparent) nests under that run, UUID v7 ids and all', async () => {
    const client = sdkClient();
    const root = new RunTree({
      name: 'sdk-root',
      project_name: 'sdk-project',
      metadata: { tenant: 'globex' },
      tags: ['sdk'],
      client,
    });
    // The SDK's headers carry the calling run's own tags (a child does not inherit its parent's).
    const call = root.createChild({ name: 'sdk-call', run_type: 'tool', tags: ['sdk'] });
    expect(isUuidV7(root.id)).toBe(true);
    expect(isUuidV7(call.id)).toBe(true);
    const headers = call.toHeaders();
    expect(Object.keys(headers).sort()).toEqual(['baggage', 'langsmith-trace']);

    const { tracer, memory } = service('spanchain-default');
    await tracer.continueFrom(headers, () =>
      tracer.chain({ name: 'svc-handle' }, () =>
        tracer.llm({ name: 'svc-llm', model: 'm' }, async () => 'x'),
      ),
    );
    // A second request from the same caller run: a sibling, after the first.
    await tracer.continueFrom(headers, () => tracer.chain({ name: 'svc-again' }, () => 'y'));
    const runs = await flushAll();

    const handle = one(runs, 'svc-handle');
    expect(handle.trace_id).toBe(root.id);
    expect(handle.parent_run_id).toBe(call.id);
    expect(handle.dotted_order).toBe(`${call.dotted_order}.${ownSegment(handle.dotted_order)}`);
    const llm = one(runs, 'svc-llm');
    expect(llm.parent_run_id).toBe(handle.id);
    expect(llm.dotted_order.startsWith(`${handle.dotted_order}.`)).toBe(true);
    const again = one(runs, 'svc-again');
    expect(again.parent_run_id).toBe(call.id);
    expect(again.dotted_order.startsWith(`${call.dotted_order}.`)).toBe(true);
    expect(again.dotted_order > handle.dotted_order).toBe(true);
    // The W3C trace id is the SDK's trace UUID: other backends see the same trace.
    expect(memory.steps.every((s) => s.traceId === root.id.replace(/-/g, ''))).toBe(true);
    for (const run of [handle, llm, again]) {
      expect(run.extra?.metadata, run.name).toMatchObject({ tenant: 'globex' });
      expect(run.tags, run.name).toEqual(expect.arrayContaining(['sdk']));
      expect(run.session_name, run.name).toBe('sdk-project');
    }
  });

  it('RunTree.fromDottedOrder-style headers without baggage still nest, in the service’s own project', async () => {
    const root = new RunTree({ name: 'bare-root', client: sdkClient() });
    const { tracer } = service('own-project');
    await tracer.continueFrom({ 'langsmith-trace': root.dotted_order }, () =>
      tracer.chain('bare-handle', () => 1),
    );
    const runs = await flushAll();
    const handle = one(runs, 'bare-handle');
    expect(handle.trace_id).toBe(root.id);
    expect(handle.parent_run_id).toBe(root.id);
    expect(handle.dotted_order).toBe(`${root.dotted_order}.${ownSegment(handle.dotted_order)}`);
    expect(handle.session_name).toBe('own-project');
  });
});

describe('spanchain → LangSmith SDK', () => {
  it('RunTree.fromHeaders(tracer.inject({})) continues the spanchain run', async () => {
    const { tracer } = service('caller-project');
    let headers: Record<string, string> = {};
    await withAppBaggage(() =>
      tracer.chain(
        {
          name: 'caller-root',
          trace: { tags: ['spanchain'], metadata: { tenant: 'initech' }, sessionId: 'th-1' },
        },
        () =>
          tracer.tool({ name: 'caller-call' }, () => {
            headers = tracer.inject({});
          }),
      ),
    );
    const runs = await flushAll();
    const callerRoot = one(runs, 'caller-root');
    const callerCall = one(runs, 'caller-call');

    // The SDK reads the merged baggage (with the app's W3C member) without trouble.
    const parent = RunTree.fromHeaders(headers, { client: sdkClient() });
    expect(parent).toBeDefined();
    expect(parent!.id).toBe(callerCall.id);
    expect(parent!.trace_id).toBe(callerRoot.id);
    expect(parent!.dotted_order).toBe(callerCall.dotted_order);
    expect(parent!.project_name).toBe('caller-project');
    expect(parent!.tags).toEqual(expect.arrayContaining(['spanchain']));
    expect(parent!.extra?.metadata).toMatchObject({ tenant: 'initech', thread_id: 'th-1' });

    const child = parent!.createChild({ name: 'sdk-handler', run_type: 'chain' });
    const grandchild = child.createChild({ name: 'sdk-llm', run_type: 'llm' });
    expect(child.parent_run?.id ?? child.parent_run_id).toBe(callerCall.id);
    expect(child.trace_id).toBe(callerRoot.id);
    expect(child.dotted_order).toBe(`${callerCall.dotted_order}.${ownSegment(child.dotted_order)}`);
    expect(child.project_name).toBe('caller-project');
    expect(grandchild.trace_id).toBe(callerRoot.id);
    expect(grandchild.dotted_order.startsWith(`${child.dotted_order}.`)).toBe(true);
    for (const run of [child, grandchild]) {
      const wire = {
        id: run.id,
        trace_id: run.trace_id,
        parent_run_id: run.parent_run?.id ?? run.parent_run_id,
        dotted_order: run.dotted_order,
      };
      expect(dottedOrderProblems(wire), run.name).toEqual([]);
    }
    // The SDK's own ids for its runs, under spanchain's ids.
    expect(isUuidV7(child.id)).toBe(true);
  });
});
