// Per-team credentials: with a headers function, @spanchain/otel must send each team's spans only
// with that team's headers, whatever the interleaving, the transport or the number of header sets
// kept open; a headers function that throws drops the step without touching the traced code.
import { createTracer, type InternalErrorReport, setErrorHandler, type Tracer } from '@spanchain/core';
import { type OtelPluginOptions, type OtlpProtocol, otel } from '@spanchain/otel';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ReceivedRequest } from '../support/otlp-receiver.js';
import { useOtlpReceiver } from '../support/receiver-fixture.js';

const fixture = useOtlpReceiver();
const { tracers } = fixture;
let reports: InternalErrorReport[] = [];

beforeEach(() => {
  // The plugin reports export and header failures to the process-wide handler.
  reports = [];
  setErrorHandler((report) => reports.push(report));
});

afterEach(() => {
  setErrorHandler();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function startTracer(options: OtelPluginOptions): Tracer {
  const protocol = options.protocol ?? 'http/protobuf';
  const tracer = createTracer({
    serviceName: 'multi-tenant',
    flushOnExit: false,
    plugins: [
      otel({
        endpoint: protocol === 'grpc' ? fixture.receiver.grpcUrl : fixture.receiver.httpUrl,
        batch: { scheduledDelayMillis: 10, maxExportBatchSize: 4 },
        metrics: false,
        ...options,
      }),
    ],
  });
  tracers.push(tracer);
  return tracer;
}

const teamHeaders: OtelPluginOptions['headers'] = (step) => ({
  authorization: `Bearer ${step.identity?.team}`,
});

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** `spanchain.identity.team` of each span of one request, read from the request as decoded. */
function teamsIn(request: ReceivedRequest): string[] {
  const spans = arr(obj(request.decoded).resourceSpans).flatMap((rs) =>
    arr(obj(rs).scopeSpans).flatMap((ss) => arr(obj(ss).spans).map(obj)),
  );
  return spans.map((span) => {
    const attribute = arr(span.attributes)
      .map(obj)
      .find((kv) => kv.key === 'spanchain.identity.team');
    return String(obj(attribute?.value).stringValue ?? '(none)');
  });
}

/** `jobs` chains (each with a tool child) per team, all running at once and interleaving. */
async function runInterleaved(tracer: Tracer, teams: string[], jobs: number): Promise<number[]> {
  const work = Array.from({ length: jobs * teams.length }, (_, i) => {
    const team = teams[i % teams.length]!;
    return tracer.chain({ name: `job-${i}`, identity: { team } }, async () => {
      await sleep(i % 3);
      const doubled = await tracer.tool({ toolName: 'double' }, async () => {
        await sleep((i * 7) % 4);
        return i * 2;
      });
      return doubled / 2;
    });
  });
  return Promise.all(work);
}

/** Every trace request carries one team's credentials and only that team's spans. */
function expectNoMixing(teams: string[]): Map<string, number> {
  const spansPerTeam = new Map<string, number>();
  const requests = fixture.receiver.requests.filter((r) => r.signal === 'traces');
  for (const request of requests) {
    const header = request.headers.authorization;
    expect(teams.map((t) => `Bearer ${t}`)).toContain(header);
    const team = header!.slice('Bearer '.length);
    const inRequest = teamsIn(request);
    expect(inRequest.length).toBeGreaterThan(0);
    expect(new Set(inRequest), `request with ${header}`).toEqual(new Set([team]));
    spansPerTeam.set(team, (spansPerTeam.get(team) ?? 0) + inRequest.length);
  }
  return spansPerTeam;
}

describe.each(['http/protobuf', 'grpc'] as OtlpProtocol[])('a headers function over %s', (protocol) => {
  it('sends each team’s spans only with that team’s header, however the steps interleave', async () => {
    const tracer = startTracer({ protocol, headers: teamHeaders });
    const results = await runInterleaved(tracer, ['a', 'b'], 10);
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 40 }, 3000);

    const perTeam = expectNoMixing(['a', 'b']);
    expect(Object.fromEntries(perTeam)).toEqual({ a: 20, b: 20 });
    // Small batches: several requests per team, so the routing was exercised more than once.
    expect(fixture.receiver.requests.filter((r) => r.signal === 'traces').length).toBeGreaterThanOrEqual(4);
    const stats = tracer.stats().plugins.find((p) => p.name === 'otel')!;
    expect(stats).toMatchObject({ received: 40, exported: 40, failed: 0, dropped: {} });
  });
});

describe('maxCredentialSets', () => {
  it('with 2 sets kept and 3 teams, closes the least recently used set and still never mixes', async () => {
    // The debug lines tell how many pipelines (one per header set) were opened.
    const lines: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    });
    let results: number[];
    try {
      const tracer = startTracer({ headers: teamHeaders, maxCredentialSets: 2, debug: true });
      // Round robin, one job at a time: with two sets kept, every job needs the set closed last.
      results = [];
      for (let round = 0; round < 6; round++) {
        for (const team of ['a', 'b', 'c']) {
          const doubled = await tracer.chain({ name: `job-${team}-${round}`, identity: { team } }, () =>
            tracer.tool({ toolName: 'double' }, async () => round * 2),
          );
          results.push(doubled / 2);
        }
      }
      await tracer.flush();
    } finally {
      write.mockRestore();
    }
    expect(results).toHaveLength(18);
    // Every job after the first two reopened a set closed before: 18 pipelines for 3 teams.
    expect(lines.filter((l) => l.includes('new span pipeline')).length).toBe(18);
    expect(lines.join('')).not.toMatch(/Bearer [abc]/);
    await fixture.receiver.waitFor({ spans: 36 }, 3000);

    const perTeam = expectNoMixing(['a', 'b', 'c']);
    expect(Object.fromEntries(perTeam)).toEqual({ a: 12, b: 12, c: 12 });
    expect(fixture.receiver.spans()).toHaveLength(36);
    const stats = tracers[0]!.stats().plugins.find((p) => p.name === 'otel')!;
    expect(stats).toMatchObject({ received: 36, exported: 36, queued: 0, failed: 0, dropped: {} });
  });
});

describe('a headers function that throws', () => {
  it('drops that step, counts it as headers-error and leaves the app’s result alone', async () => {
    const tracer = startTracer({
      headers: (step) => {
        if (step.identity?.team === 'locked') throw new Error('vault sealed for team locked');
        return { authorization: `Bearer ${step.identity?.team}` };
      },
    });
    const locked = await tracer.chain({ name: 'locked-job', identity: { team: 'locked' } }, async () => {
      return tracer.tool({ toolName: 'compute' }, async () => 'locked result');
    });
    const open = await tracer.chain(
      { name: 'open-job', identity: { team: 'open' } },
      async () => 'open result',
    );
    expect(locked).toBe('locked result');
    expect(open).toBe('open result');
    const report = await tracer.flush();
    expect(report.timedOut).toBe(false);
    await fixture.receiver.waitFor({ spans: 1 }, 3000);

    expect(fixture.receiver.spans().map((s) => s.name)).toEqual(['open-job']);
    expect(fixture.receiver.requests.every((r) => r.headers.authorization === 'Bearer open')).toBe(true);
    const stats = tracer.stats().plugins.find((p) => p.name === 'otel')!;
    expect(stats.received).toBe(3);
    expect(stats.exported).toBe(1);
    expect(stats.dropped).toEqual({ 'headers-error': 2 });
    expect(reports.map((r) => r.source)).toContain('plugin:otel.headers');
  });
});

// With a headers function (per step), metrics and logs, which aggregate steps, use the environment's headers.
it('with a headers function, metrics and logs carry the environment’s static headers', async () => {
  const saved = process.env.OTEL_EXPORTER_OTLP_HEADERS;
  process.env.OTEL_EXPORTER_OTLP_HEADERS = 'x-collector-key=collector-secret-1';
  let tracer: Tracer;
  try {
    tracer = startTracer({ headers: teamHeaders, metrics: true, logs: true });
  } finally {
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_HEADERS;
    else process.env.OTEL_EXPORTER_OTLP_HEADERS = saved;
  }
  await tracer.llm({ model: 'gpt-4o', provider: 'openai', identity: { team: 'a' } }, async () => 'x');
  await tracer.flush();
  await fixture.receiver.waitFor((r) => r.metrics().length > 0 && r.logs().length > 0, 3000);
  const signals = fixture.receiver.requests.filter((r) => r.signal !== 'traces');
  expect(new Set(signals.map((r) => r.signal))).toEqual(new Set(['metrics', 'logs']));
  for (const request of signals) {
    expect(request.headers['x-collector-key'], request.signal).toBe('collector-secret-1');
    // Aggregated across teams: never one team's credentials.
    expect(request.headers.authorization, request.signal).toBeUndefined();
  }
});

describe('many teams', () => {
  it('share one connection pool: pipelines evicted and made again reuse its sockets, closed at shutdown', async () => {
    const tracer = startTracer({ headers: teamHeaders, maxCredentialSets: 2 });
    const teams = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (let round = 0; round < 5; round++) {
      for (const team of teams)
        await tracer.custom({ name: `job-${team}`, identity: { team } }, async () => 1);
      await tracer.flush();
    }
    await fixture.receiver.waitFor({ spans: 30 }, 3000);
    const perTeam = expectNoMixing(teams);
    expect([...perTeam.values()]).toEqual([5, 5, 5, 5, 5, 5]);
    // 30 pipelines were made (every job evicts one); an agent each would have opened a
    // connection each, never closed. One pool needs a few (an evicted set flushes while the next
    // one sends).
    const requests = traceRequestsOf(fixture.receiver.requests).length;
    expect(requests).toBeGreaterThanOrEqual(30);
    expect(fixture.receiver.connections().accepted).toBeLessThanOrEqual(8);
    await tracer.shutdown();
    const until = Date.now() + 2000;
    while (fixture.receiver.connections().open > 0 && Date.now() < until) await sleep(10);
    expect(fixture.receiver.connections().open).toBe(0);
  });

  it('bound their queues each: a team whose collector hangs does not cost another team its spans', async () => {
    fixture.receiver.respondWith((request) =>
      request.headers.authorization === 'Bearer red' ? { blackhole: true } : { status: 'ok' },
    );
    const tracer = startTracer({
      headers: teamHeaders,
      timeoutMillis: 1_000,
      batch: { scheduledDelayMillis: 10, maxQueueSize: 20, maxExportBatchSize: 10 },
    });
    // Red's exports hang (8 batches in flight at most); its queue fills and the rest of red's
    // spans are dropped.
    for (let i = 0; i < 200; i++)
      await tracer.custom({ name: 'red', identity: { team: 'red' } }, async () => i);
    const redDropped = tracer.stats().plugins[0]!.dropped['queue-full'] ?? 0;
    expect(redDropped).toBeGreaterThan(0);
    // Blue's queue is its own.
    for (let i = 0; i < 30; i++) {
      await tracer.custom({ name: 'blue', identity: { team: 'blue' } }, async () => i);
      if (i % 10 === 9) await sleep(30);
    }
    await fixture.receiver.waitFor((r) => r.spans().filter((s) => s.name === 'blue').length === 30, 3000);
    expect(tracer.stats().plugins[0]!.dropped['queue-full']).toBe(redDropped);
    // Red's requests time out meanwhile: counted and reported, here rather than after the test.
    await tracer.shutdown({ timeoutMs: 5_000 });
    expect(reports.map((r) => r.source)).toContain('plugin:otel.export');
  });
});

function traceRequestsOf(requests: ReceivedRequest[]): ReceivedRequest[] {
  return requests.filter((r) => r.signal === 'traces');
}
