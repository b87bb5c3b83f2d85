// @spanchain/langsmith's transport against a loopback LangSmith: what arrives is decoded (multipart
// and batch) and every run validated against `runs.Run` from LangSmith's OpenAPI document; per-team
// separation and replicas; a silent destination that does not hold up the others; retries (429 +
// Retry-After, 503 backoff, resets, timeouts); 413 answered by halving; drops on other 4xx; the
// memory bound with the sink down; the event loop kept free; no API key in any message. The transport is imported from source: the package has no entry point yet.
import { randomBytes, randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Client } from 'langsmith';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Run, Target } from '../../packages/langsmith/src/run.js';
import { RunTransport, type RunTransportOptions } from '../../packages/langsmith/src/transport.js';
import { watchEventLoop } from '../support/event-loop.js';
import {
  type LangSmithReceiver,
  type LangSmithRequest,
  type RunRecord,
  startLangSmithReceiver,
} from '../support/langsmith-receiver.js';
import { closedPort, getGc, heapUsed } from '../support/memory.js';

const KEYS = {
  red: 'lsv2_pt_red00000000000000000000000000000_aaaaaaaaaa',
  blue: 'lsv2_pt_blue0000000000000000000000000000_bbbbbbbbbb',
};
const ALL_KEYS = Object.values(KEYS);

// Every onError/debug line of every transport in this file; checked for keys at the end.
const messages: string[] = [];
const collect = {
  onError: (source: string, message: string) => messages.push(`${source}: ${message}`),
  debug: (message: string) => messages.push(`debug: ${message}`),
};

let receiver: LangSmithReceiver;
const extraReceivers: LangSmithReceiver[] = [];
const transports: RunTransport<Run>[] = [];

beforeEach(async () => {
  receiver = await startLangSmithReceiver();
});
afterEach(async () => {
  await Promise.allSettled(transports.splice(0).map((t) => t.shutdown(Date.now() + 2000)));
  await Promise.allSettled([receiver, ...extraReceivers.splice(0)].map((r) => r.close()));
});
afterAll(() => {
  expect(messages.length).toBeGreaterThan(0);
  for (const message of messages) for (const key of ALL_KEYS) expect(message).not.toContain(key);
});

/** A run such as the mapper makes: all fields, nested and non-ASCII content. */
function makeRun(n: number, filler = ''): Run {
  const id = randomUUID();
  return {
    id,
    trace_id: id,
    dotted_order: `20240919T171648521${String(n % 1000).padStart(3, '0')}Z${id}`,
    name: `step-${n}`,
    run_type: n % 2 === 0 ? 'llm' : 'tool',
    start_time: '2024-09-19T17:16:48.521001Z',
    end_time: '2024-09-19T17:16:49.012001Z',
    inputs: { messages: [{ role: 'user', content: `Grüße #${n} — ✓ ${filler}` }] },
    outputs: {
      choices: [{ message: { role: 'assistant', content: 'ok' } }],
      usage_metadata: { input_tokens: n },
    },
    extra: { metadata: { ls_provider: 'openai', ls_model_name: 'gpt-4o', thread_id: 't-1' } },
    events: [{ name: 'new_token', time: '2024-09-19T17:16:48.900Z', kwargs: { token: 'o' } }],
    tags: ['integration'],
    ...(n % 5 === 0 && { error: `Error: failure ${n}` }),
  };
}

const build = (run: Run, target: Target): Run => ({ ...run, session_name: target.project });

function start(options: Partial<RunTransportOptions<Run>> = {}): RunTransport<Run> {
  const transport = new RunTransport<Run>({
    build,
    flushIntervalMillis: 20,
    retryBaseMillis: 50,
    retryMaxMillis: 2000,
    ...collect,
    ...options,
  });
  transports.push(transport);
  return transport;
}

const target = (overrides: Partial<Target> = {}): Target => ({
  endpoint: receiver.url,
  apiKey: KEYS.red,
  project: 'red-project',
  ...overrides,
});

const byId = (runs: RunRecord[]) => new Map(runs.map((r) => [String(r.id), r]));
const sum = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);

describe('wire format', () => {
  it('multipart, gzipped: every run arrives as enqueued and valid against runs.Run', async () => {
    const t = start();
    const runs = Array.from({ length: 30 }, (_, n) => makeRun(n));
    for (const run of runs) expect(t.enqueue(target(), run)).toBe(true);
    expect(await t.flush(Date.now() + 5000)).toBe(true);
    expect(receiver.problems()).toEqual([]);
    const received = byId(receiver.runs());
    expect(received.size).toBe(30);
    for (const run of runs) expect(received.get(run.id)).toEqual({ ...run, session_name: 'red-project' });
    for (const request of receiver.requests) {
      expect(request.endpoint).toBe('multipart');
      expect(request.contentEncoding).toBe('gzip');
      expect(request.bytes.length).toBeLessThan(request.body.length);
      expect(request.apiKey).toBe(KEYS.red);
      expect(request.tenantId).toBe('');
      expect(request.headers['user-agent']).toMatch(/^spanchain-langsmith\/\d+\.\d+\.\d+/);
      for (const part of request.parts) {
        expect(part.headers['content-type']).toBe(`application/json; length=${part.data.length}`);
      }
      // the order LangSmith's SDK uses: the run, then its out-of-band fields
      const first = request.posts[0]!;
      expect(request.partNames.slice(0, 2)).toEqual([`post.${first.id}`, `post.${first.id}.inputs`]);
    }
    expect(t.stats()).toMatchObject({ exported: 30, queued: 0, failed: 0, dropped: {} });
  });

  it('batch mode: /runs/batch JSON, uncompressed, same runs', async () => {
    const t = start({ mode: 'batch' });
    const runs = Array.from({ length: 12 }, (_, n) => makeRun(n));
    for (const run of runs) t.enqueue(target({ workspaceId: 'ws-123' }), run);
    expect(await t.flush(Date.now() + 5000)).toBe(true);
    expect(receiver.problems()).toEqual([]);
    for (const request of receiver.requests) {
      expect(request.endpoint).toBe('batch');
      expect(request.contentType).toBe('application/json');
      expect(request.contentEncoding).toBe('');
      expect(request.tenantId).toBe('ws-123');
    }
    const received = byId(receiver.runs());
    for (const run of runs) expect(received.get(run.id)).toEqual({ ...run, session_name: 'red-project' });
  });

  it('our multipart layout matches what LangSmith’s own client sends', async () => {
    const sdk = new Client({
      apiUrl: receiver.url,
      apiKey: KEYS.blue,
      autoBatchTracing: false,
      timeout_ms: 5000,
    });
    const sdkRun = makeRun(1);
    await sdk.multipartIngestRuns({ runCreates: [{ ...sdkRun, session_name: 'sdk' }] });
    const t = start();
    const ours = makeRun(1);
    t.enqueue(target(), ours);
    await t.flush(Date.now() + 5000);
    expect(receiver.problems()).toEqual([]);
    const [fromSdk, fromUs] = receiver.requests as [LangSmithRequest, LangSmithRequest];
    expect(fromSdk.outcome?.kind).toBe('accepted');
    expect(fromUs.outcome?.kind).toBe('accepted');
    const shape = (request: LangSmithRequest, id: string) =>
      request.parts.map((p) => ({
        name: p.name.replace(id, '<id>'),
        headers: Object.keys(p.headers).sort(),
        type: p.headers['content-type']!.replace(/\d+$/, 'N'),
      }));
    expect(shape(fromUs, ours.id)).toEqual(shape(fromSdk, sdkRun.id));
    expect(fromUs.posts[0]).toEqual({ ...ours, session_name: 'red-project' });
  });

  it('cuts requests by run count and by uncompressed bytes', async () => {
    const byCount = start({ maxBatchRuns: 7 });
    for (let n = 0; n < 30; n++) byCount.enqueue(target(), makeRun(n));
    await byCount.flush(Date.now() + 5000);
    expect(receiver.requests.map((r) => r.posts.length).sort((a, b) => b - a)).toEqual([7, 7, 7, 7, 2]);
    receiver.clear();
    const byBytes = start({ maxBatchBytes: 16 * 1024 });
    for (let n = 0; n < 30; n++) byBytes.enqueue(target(), makeRun(n, 'x'.repeat(2000)));
    await byBytes.flush(Date.now() + 5000);
    expect(receiver.problems()).toEqual([]);
    expect(receiver.requests.length).toBeGreaterThanOrEqual(4);
    for (const request of receiver.requests) expect(request.body.length).toBeLessThanOrEqual(16 * 1024);
    expect(receiver.runs()).toHaveLength(30);
  });
});

describe('per-team delivery', () => {
  it('never mixes keys, projects or endpoints in one request', async () => {
    const eu = await startLangSmithReceiver();
    extraReceivers.push(eu);
    const t = start();
    const targets: Target[] = [];
    for (const endpoint of [receiver.url, eu.url]) {
      for (const [team, apiKey] of Object.entries(KEYS)) {
        for (const project of ['a', 'b']) targets.push({ endpoint, apiKey, project: `${team}-${project}` });
      }
    }
    const expected = new Map<string, Target>();
    for (let n = 0; n < 160; n++) {
      const run = makeRun(n);
      const to = targets[n % targets.length]!;
      expected.set(run.id, to);
      t.enqueue(to, run);
    }
    expect(await t.flush(Date.now() + 5000)).toBe(true);
    for (const r of [receiver, eu]) {
      expect(r.problems()).toEqual([]);
      for (const request of r.requests) {
        const destinations = new Set(request.posts.map((run) => expected.get(String(run.id))));
        expect(destinations.size).toBe(1);
        const to = [...destinations][0]!;
        expect(to.endpoint).toBe(r.url);
        expect(request.apiKey).toBe(to.apiKey);
        for (const run of request.posts) expect(run.session_name).toBe(to.project);
      }
    }
    expect(receiver.runs().length + eu.runs().length).toBe(160);
    expect(t.targetStats()).toHaveLength(8);
  });

  it('replicas: the same run sent to several projects and endpoints arrives in each', async () => {
    const eu = await startLangSmithReceiver();
    extraReceivers.push(eu);
    const t = start();
    const replicas = [
      target(),
      target({ project: 'audit', apiKey: KEYS.blue }),
      target({ endpoint: eu.url }),
    ];
    const runs = Array.from({ length: 5 }, (_, n) => makeRun(n));
    for (const run of runs) for (const to of replicas) t.enqueue(to, run);
    expect(await t.flush(Date.now() + 5000)).toBe(true);
    const projectsOf = (r: LangSmithReceiver, id: string) =>
      r.requests.flatMap((q) => q.posts.filter((p) => p.id === id).map((p) => p.session_name)).sort();
    for (const run of runs) {
      expect(projectsOf(receiver, run.id)).toEqual(['audit', 'red-project']);
      expect(projectsOf(eu, run.id)).toEqual(['red-project']);
    }
    expect(t.stats().exported).toBe(15);
  });
});

describe('failures', () => {
  for (const mode of ['multipart', 'batch'] as const) {
    it(`413 (body over the server's limit): halved until the parts fit, each run once (${mode})`, async () => {
      // A limit on the decompressed body, as LangSmith's: multipart bodies go gzipped, batch plain.
      const limit = 12 * 1024;
      const small = await startLangSmithReceiver({
        respondWith: (r) => (r.body.length > limit ? { status: 413, body: 'too large' } : { status: 'ok' }),
      });
      extraReceivers.push(small);
      const t = start({ mode, flushIntervalMillis: 60_000 });
      const runs = Array.from({ length: 24 }, (_, n) => makeRun(n, randomBytes(900).toString('base64')));
      runs.push(makeRun(99, randomBytes(12 * 1024).toString('base64'))); // too large even alone
      for (const run of runs) t.enqueue(target({ endpoint: small.url }), run);
      expect(await t.flush(Date.now() + 10_000)).toBe(true);
      if (mode === 'multipart') for (const r of small.requests) expect(r.contentEncoding).toBe('gzip');
      const refused = small.requests.filter(
        (r) => r.outcome?.kind === 'rejected' && r.outcome.status === 413,
      );
      const accepted = small.requests.filter((r) => r.outcome?.kind === 'accepted');
      expect(refused.length).toBeGreaterThanOrEqual(3);
      expect(accepted.length + refused.length).toBe(small.requests.length); // nothing else refused
      const ids = accepted.flatMap((r) => r.posts.map((p) => String(p.id)));
      expect(new Set(ids).size).toBe(ids.length); // no run twice
      const received = byId(small.runs());
      expect(received.size).toBe(24);
      for (const run of runs.slice(0, 24)) {
        expect(received.get(run.id)).toEqual({ ...run, session_name: 'red-project' });
      }
      expect(t.stats()).toMatchObject({ exported: 24, queued: 0, dropped: { 'http-413': 1 } });
      expect(t.stats().failed).toBe(refused.length);
    });
  }

  it('a destination that never answers does not delay another one', async () => {
    const silent = await startLangSmithReceiver({ respondWith: () => ({ blackhole: true }) });
    extraReceivers.push(silent);
    const t = start({ maxBatchRuns: 5, timeoutMillis: 5000 });
    const healthy: number[] = [];
    for (let n = 0; n < 60; n++) {
      // every run to both, as with a replica; the silent one's batches are always the older
      const run = makeRun(n);
      t.enqueue(target({ endpoint: silent.url, project: 'replica' }), run);
      t.enqueue(target(), run);
      const begin = Date.now();
      await receiver.waitFor((r) => r.runs().length === n + 1, 2000);
      healthy.push(Date.now() - begin);
    }
    healthy.sort((a, b) => a - b);
    console.log(
      `[langsmith-transport] replica silent: primary delivery p50 ${healthy[30]} ms, max ${healthy[59]} ms; ` +
        `${silent.requests.length} request(s) hanging at the replica`,
    );
    expect(healthy[59]).toBeLessThan(1000);
    expect(silent.requests.length).toBeLessThanOrEqual(2); // its own share of slots, no more
  });

  it('429 with Retry-After: waits that long, then delivers', async () => {
    receiver.respondWith((request) =>
      receiver.requests.indexOf(request) === 0
        ? { status: 429, retryAfter: 1, body: 'slow down' }
        : { status: 'ok' },
    );
    const t = start({ retryBaseMillis: 10 });
    t.enqueue(target(), makeRun(1));
    expect(await t.flush(Date.now() + 5000)).toBe(true);
    const [first, second] = receiver.requests;
    const wait = second!.receivedAt - first!.receivedAt;
    expect(wait).toBeGreaterThanOrEqual(950);
    expect(wait).toBeLessThan(2500);
    expect(t.stats()).toMatchObject({ exported: 1, failed: 1, dropped: {} });
  });

  it('503: retries with growing backoff', async () => {
    receiver.respondWith((request) =>
      receiver.requests.indexOf(request) < 3 ? { status: 503 } : { status: 'ok' },
    );
    const t = start({ retryBaseMillis: 80, maxRetries: 3 });
    t.enqueue(target(), makeRun(1));
    expect(await t.flush(Date.now() + 5000)).toBe(true);
    const at = receiver.requests.map((r) => r.receivedAt);
    expect(at).toHaveLength(4);
    // equal jitter: retry k waits between half and all of 80·2^(k−1) ms
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(35);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(75);
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(155);
    expect(at[3]! - at[0]!).toBeLessThan(1500);
    expect(t.stats()).toMatchObject({ exported: 1, failed: 3 });
  });

  it('other 4xx: dropped at once, counted by status, reported once without the key', async () => {
    receiver.respondWith(() => ({ status: 403, body: `key ${KEYS.red} may not write to this project` }));
    const errors: string[] = [];
    const t = start({
      maxBatchRuns: 2,
      onError: (source, message) => {
        errors.push(message);
        collect.onError(source, message);
      },
    });
    for (let n = 0; n < 6; n++) t.enqueue(target(), makeRun(n));
    expect(await t.flush(Date.now() + 5000)).toBe(true);
    expect(receiver.requests).toHaveLength(3);
    expect(t.stats()).toMatchObject({ exported: 0, failed: 3, dropped: { 'http-403': 6 } });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('HTTP 403');
    expect(errors[0]).toContain('may not write');
    expect(errors[0]).not.toContain(KEYS.red);
  });

  it('a run the server rejects as invalid (422) is dropped, not retried', async () => {
    const t = start({ build: (run, to) => ({ ...build(run, to), run_type: 'agent' as Run['run_type'] }) });
    t.enqueue(target(), makeRun(1));
    expect(await t.flush(Date.now() + 5000)).toBe(true);
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.problems().join('\n')).toMatch(/run_type/);
    expect(t.stats().dropped).toEqual({ 'http-422': 1 });
  });

  it('no answer: the request times out, is retried, then dropped as timeout', async () => {
    receiver.respondWith(() => ({ blackhole: true }));
    const t = start({ timeoutMillis: 200, maxRetries: 1, retryBaseMillis: 10 });
    t.enqueue(target(), makeRun(1));
    const begin = Date.now();
    expect(await t.flush(Date.now() + 5000)).toBe(true);
    expect(Date.now() - begin).toBeLessThan(2000);
    expect(receiver.requests).toHaveLength(2);
    expect(t.stats()).toMatchObject({ failed: 2, dropped: { timeout: 1 } });
  });

  it('connection reset: retried, then delivered', async () => {
    receiver.respondWith((request) =>
      receiver.requests.indexOf(request) === 0 ? { reset: true } : { status: 'ok' },
    );
    const t = start({ retryBaseMillis: 10 });
    t.enqueue(target(), makeRun(1));
    expect(await t.flush(Date.now() + 5000)).toBe(true);
    expect(receiver.requests).toHaveLength(2);
    expect(receiver.runs()).toHaveLength(1);
    expect(t.stats()).toMatchObject({ exported: 1, failed: 1 });
  });

  it('credentials in an endpoint URL never reach a message or the stats', async () => {
    const password = 'url-password-4f9a2c';
    const host = new URL(receiver.url).host;
    const errors: string[] = [];
    const t = start({ maxRetries: 0, onError: (_s, m) => errors.push(m), debug: (m) => errors.push(m) });
    // URLs with credentials are refused (fetch would quote the URL in its error; ours does not)
    t.enqueue(target({ endpoint: `http://svc:${password}@${host}` }), makeRun(1));
    t.enqueue(target({ endpoint: `http://svc:${KEYS.red}@${host}` }), makeRun(2));
    await t.flush(Date.now() + 5000);
    messages.push(...errors);
    expect(t.stats().dropped).toEqual({ network: 2 });
    expect(errors.length).toBeGreaterThanOrEqual(2);
    for (const e of [...errors, JSON.stringify(t.targetStats())]) {
      expect(e).not.toContain(password);
      expect(e).not.toContain(KEYS.red);
    }
  });
});

// --- memory and event loop -------------------------------------------------------------------

const MiB = 1024 * 1024;

describe('bounded memory with the sink down', () => {
  for (const sink of ['blackhole', 'refusing'] as const) {
    it(`${sink}: 20k runs of ~1 KiB stay within the budgets, drops are counted`, async () => {
      const gc = getGc();
      let endpoint = receiver.url;
      if (sink === 'blackhole') receiver.respondWith(() => ({ blackhole: true }));
      else endpoint = `http://127.0.0.1:${await closedPort()}`;
      const budget = 4 * MiB;
      const t = start({
        maxBufferBytes: budget,
        timeoutMillis: 300,
        retryBaseMillis: 50,
        flushIntervalMillis: 50,
      });
      const baseline = await heapUsed(gc);
      let maxBuffered = 0;
      const sampler = setInterval(() => {
        maxBuffered = Math.max(maxBuffered, t.stats().bufferedBytes);
      }, 5);
      const total = 20_000;
      let accepted = 0;
      for (let n = 0; n < total; n++) {
        // random text: gzip cannot shrink it, so the byte budget is really exercised
        if (t.enqueue(target({ endpoint }), makeRun(n, randomBytes(600).toString('base64')))) accepted++;
        if (n % 1000 === 999) await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, 500));
      clearInterval(sampler);
      const stats = t.stats();
      const grown = (await heapUsed(gc)) - baseline;
      // a body in flight per request slot may come on top of the budget (≤ 100 runs ≈ 200 KiB each)
      expect(maxBuffered).toBeLessThanOrEqual(budget + 2 * 256 * 1024);
      expect(stats.exported).toBe(0);
      expect(stats.exported + stats.queued + sum(stats.dropped)).toBe(total);
      expect(sum(stats.dropped)).toBeGreaterThan(0);
      expect(stats.queued).toBeLessThanOrEqual(10_000 + budget / 1000);
      // queue (≤ 10k runs of ~2 KiB as objects) + budget; LangSmith's traceable held ~195 MB after 25k
      expect(grown).toBeLessThan(64 * MiB);
      console.log(
        `[langsmith-transport] sink ${sink}: accepted ${accepted}/${total}, dropped ${JSON.stringify(stats.dropped)},` +
          ` queued ${stats.queued}, max buffered ${(maxBuffered / MiB).toFixed(2)} MiB (budget ${budget / MiB} MiB),` +
          ` heap +${(grown / MiB).toFixed(1)} MiB${gc ? ' after gc' : ' (no gc)'}`,
      );
      expect(await t.shutdown(Date.now() + 500)).toBe(false);
      const afterShutdown = (await heapUsed(gc)) - baseline;
      expect(t.stats()).toMatchObject({ queued: 0, bufferedBytes: 0 });
      if (gc) expect(afterShutdown).toBeLessThan(24 * MiB);
      console.log(
        `[langsmith-transport] sink ${sink}: heap after shutdown +${(afterShutdown / MiB).toFixed(1)} MiB`,
      );
    });
  }
});

describe('never blocks the traced code', () => {
  it('10k enqueues return fast, and no event-loop turn is long while sending', async () => {
    const t = start({ maxQueueRuns: 10_000 });
    const runs = Array.from({ length: 10_000 }, (_, n) => makeRun(n, 'p'.repeat(300)));
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    const begin = performance.now();
    for (const run of runs) t.enqueue(target(), run);
    const enqueueMillis = performance.now() - begin;
    const stop = watchEventLoop();
    expect(await t.flush(Date.now() + 15_000)).toBe(true);
    const { maxTurn, maxGap, measure } = stop();
    histogram.disable();
    console.log(
      `[langsmith-transport] 10k enqueues ${enqueueMillis.toFixed(1)} ms; while sending (receiver in-process): ` +
        `longest turn ${maxTurn.toFixed(1)} ms (${measure}), longest wall-clock gap ${maxGap.toFixed(1)} ms, ` +
        `event-loop delay p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms; ${receiver.requests.length} requests`,
    );
    expect(enqueueMillis).toBeLessThan(250);
    // The in-process receiver's parsing and validation run on this loop too. Draining 10k runs in
    // one turn would take ~300 ms.
    expect(maxTurn).toBeLessThan(100);
    expect(receiver.runs()).toHaveLength(10_000);
    expect(receiver.problems()).toEqual([]);
  });
});
