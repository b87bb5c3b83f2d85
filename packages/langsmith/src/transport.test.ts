import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { watchEventLoop } from '../../../test/support/event-loop.js';
import { batchBody, encodeRun, multipartBody, newBoundary } from './multipart.js';
import { resolveLangSmithOptions } from './options.js';
import type { Run, Target } from './run.js';
import { halve, runOffsets } from './split.js';
import {
  backoffMillis,
  type FetchFunction,
  type FetchRequest,
  type FetchResponse,
  parseRetryAfter,
  RunTransport,
  type RunTransportOptions,
  TRANSPORT_DEFAULTS,
  targetKey,
} from './transport.js';

const KEY = 'lsv2_pt_0123456789abcdef0123456789abcdef_0123456789';
const TARGET: Target = { endpoint: 'https://ls.test', apiKey: KEY, project: 'proj' };

interface Item {
  id: string;
  n: number;
  text?: string;
  fail?: boolean;
  bigint?: boolean;
}

const item = (n: number, text?: string): Item => ({
  id: randomUUID(),
  n,
  ...(text !== undefined && { text }),
});

function toRun(i: Item, target: Target): Run {
  if (i.fail) throw new Error(`cannot map item ${i.n} (key ${target.apiKey})`);
  return {
    id: i.id,
    trace_id: i.id,
    dotted_order: `20240919T171648521001Z${i.id}`,
    name: `item-${i.n}`,
    run_type: 'chain',
    start_time: '2024-09-19T17:16:48.521001Z',
    end_time: '2024-09-19T17:16:48.600001Z',
    inputs: { n: i.n, ...(i.bigint && { big: 1n }) },
    outputs: { text: i.text ?? '' },
    session_name: target.project,
  };
}

interface Call {
  url: string;
  headers: Record<string, string>;
  runs: Record<string, unknown>[];
  partNames: string[];
  rawBytes: number;
  at: number;
}

/** Decodes what the transport sent (gzip, multipart or batch) with a parser independent of it. */
function decode(init: FetchRequest): Omit<Call, 'url' | 'at'> {
  const headers = init.headers;
  let body = Buffer.from(init.body);
  if (headers['content-encoding'] === 'gzip') body = gunzipSync(body);
  const type = headers['content-type'] ?? '';
  if (type === 'application/json') {
    const parsed = JSON.parse(body.toString('utf8')) as { post: Record<string, unknown>[] };
    return { headers, runs: parsed.post, partNames: [], rawBytes: body.length };
  }
  const boundary = type.split('boundary=')[1]!;
  const byId = new Map<string, Record<string, unknown>>();
  const partNames: string[] = [];
  for (const piece of body.toString('utf8').split(`--${boundary}`).slice(1, -1)) {
    const [head, ...rest] = piece.slice(2, -2).split('\r\n\r\n');
    const name = /name="([^"]+)"/.exec(head!)![1]!;
    partNames.push(name);
    const value = JSON.parse(rest.join('\r\n\r\n'));
    const [, id, field] = name.split('.');
    const run = byId.get(id!) ?? {};
    if (field === undefined) Object.assign(run, value);
    else run[field] = value;
    byId.set(id!, run);
  }
  return { headers, runs: [...byId.values()], partNames, rawBytes: body.length };
}

type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang' | Error;

/** A fetch that records calls and answers with `answer(callIndex, call)`. 'hang' waits for the abort signal. */
function fakeFetch(answer: (index: number, call: Call) => Answer = () => ({ status: 202 })) {
  const calls: Call[] = [];
  const fetch: FetchFunction = async (url, init) => {
    const call: Call = { url, ...decode(init), at: Date.now() };
    calls.push(call);
    const a = answer(calls.length - 1, call);
    if (a instanceof Error) throw a;
    if (a === 'hang') {
      return new Promise<FetchResponse>((_resolve, reject) => {
        init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), {
          once: true,
        });
      });
    }
    const headers = new Map(Object.entries(a.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    return {
      status: a.status,
      headers: { get: (name: string) => headers.get(name.toLowerCase()) ?? null },
      text: async () => a.body ?? '',
    };
  };
  return { fetch, calls };
}

const transports: RunTransport<Item>[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.shutdown(Date.now() + 1000)));
});

function make(options: Partial<RunTransportOptions<Item>> & { fetch: FetchFunction }): RunTransport<Item> {
  const transport = new RunTransport<Item>({
    build: toRun,
    flushIntervalMillis: 20,
    retryBaseMillis: 10,
    retryMaxMillis: 100,
    ...options,
  });
  transports.push(transport);
  return transport;
}

const sum = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);

/** Every item is in exactly one place. */
function expectBalanced(transport: RunTransport<Item>, enqueued: number) {
  const s = transport.stats();
  expect(s.exported + s.queued + sum(s.dropped)).toBe(enqueued);
}

async function until(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('enqueue', () => {
  it('does no work in the caller: build runs later, in the background', async () => {
    let built = 0;
    const { fetch, calls } = fakeFetch();
    const t = make({
      fetch,
      build: (i, target) => {
        built++;
        return toRun(i, target);
      },
    });
    expect(t.enqueue(TARGET, item(1))).toBe(true);
    expect(built).toBe(0);
    expect(calls).toHaveLength(0);
    expect(t.stats()).toMatchObject({ queued: 1, exported: 0 });
    await until(() => t.stats().exported === 1);
    expect(built).toBe(1);
    expect(calls).toHaveLength(1);
  });

  it('sends a partial batch after flushIntervalMillis without any flush call', async () => {
    const { fetch, calls } = fakeFetch();
    const t = make({ fetch, flushIntervalMillis: 50 });
    const start = Date.now();
    t.enqueue(TARGET, item(1));
    await until(() => calls.length === 1);
    expect(Date.now() - start).toBeGreaterThanOrEqual(40);
  });

  it('sends a full batch right away, without waiting for the interval', async () => {
    const { fetch, calls } = fakeFetch();
    const t = make({ fetch, flushIntervalMillis: 60_000, maxBatchRuns: 10 });
    const start = Date.now();
    for (let n = 0; n < 10; n++) t.enqueue(TARGET, item(n));
    await until(() => calls.length === 1, 2000);
    expect(Date.now() - start).toBeLessThan(1000);
    expect(calls[0]!.runs).toHaveLength(10);
  });

  it('drops new items beyond maxQueueRuns (queue-full) and says so', async () => {
    const { fetch } = fakeFetch();
    const t = make({ fetch, maxQueueRuns: 5, flushIntervalMillis: 60_000 });
    const accepted = Array.from({ length: 8 }, (_, n) => t.enqueue(TARGET, item(n)));
    expect(accepted).toEqual([true, true, true, true, true, false, false, false]);
    expect(t.stats().dropped['queue-full']).toBe(3);
    expect(t.targetStats()[0]!.dropped['queue-full']).toBe(3);
    expectBalanced(t, 8);
    await t.flush(Date.now() + 2000);
    expect(t.stats().exported).toBe(5);
    expect(t.enqueue(TARGET, item(9))).toBe(true); // room again once sent
  });

  it('never throws, whatever it is given', () => {
    const errors: string[] = [];
    const { fetch } = fakeFetch();
    const t = make({ fetch, onError: (_s, m) => errors.push(m) });
    expect(t.enqueue(undefined as unknown as Target, item(1))).toBe(false);
    expect(t.enqueue({ endpoint: 'x' } as Target, item(1))).toBe(false);
    expect(t.stats().dropped['invalid-target']).toBe(2);
    expect(errors).toHaveLength(1);
  });
});

describe('batching', () => {
  it('cuts batches at maxBatchRuns', async () => {
    const { fetch, calls } = fakeFetch();
    const t = make({ fetch, maxBatchRuns: 100 });
    const items = Array.from({ length: 250 }, (_, n) => item(n));
    for (const i of items) t.enqueue(TARGET, i);
    expect(await t.flush(Date.now() + 3000)).toBe(true);
    expect(calls.map((c) => c.runs.length).sort((a, b) => b - a)).toEqual([100, 100, 50]);
    const sent = calls.flatMap((c) => c.runs.map((r) => r.id)).sort();
    expect(sent).toEqual(items.map((i) => i.id).sort());
    expect(t.stats()).toMatchObject({ exported: 250, queued: 0, failed: 0, bufferedBytes: 0 });
  });

  it('cuts batches at maxBatchBytes (uncompressed) and drops a run too big for any batch', async () => {
    const { fetch, calls } = fakeFetch();
    const errors: string[] = [];
    const t = make({ fetch, maxBatchBytes: 8 * 1024, onError: (_s, m) => errors.push(m) });
    for (let n = 0; n < 20; n++) t.enqueue(TARGET, item(n, 'x'.repeat(1000)));
    t.enqueue(TARGET, item(99, 'y'.repeat(10_000)));
    expect(await t.flush(Date.now() + 3000)).toBe(true);
    expect(calls.length).toBeGreaterThanOrEqual(3);
    for (const c of calls) expect(c.rawBytes).toBeLessThanOrEqual(8 * 1024);
    expect(calls.reduce((n, c) => n + c.runs.length, 0)).toBe(20);
    expect(t.stats().dropped['run-too-large']).toBe(1);
    expect(errors.join('\n')).toMatch(/over maxBatchBytes/);
  });

  it('sends multipart, gzipped, with the LangSmith headers', async () => {
    const { fetch, calls } = fakeFetch();
    const t = make({ fetch, userAgent: 'test-agent/1' });
    const i = item(1, 'hello');
    t.enqueue({ ...TARGET, endpoint: 'https://ls.test/api/v1/', workspaceId: 'ws-1' }, i);
    await t.flush(Date.now() + 2000);
    const c = calls[0]!;
    expect(c.url).toBe('https://ls.test/api/v1/runs/multipart');
    expect(c.headers['x-api-key']).toBe(KEY);
    expect(c.headers['x-tenant-id']).toBe('ws-1');
    expect(c.headers['content-encoding']).toBe('gzip');
    expect(c.headers['user-agent']).toBe('test-agent/1');
    expect(c.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(c.partNames).toEqual([`post.${i.id}`, `post.${i.id}.inputs`, `post.${i.id}.outputs`]);
    expect(c.runs[0]).toEqual(toRun(i, TARGET));
  });

  it('sends /runs/batch JSON, uncompressed, in batch mode', async () => {
    const { fetch, calls } = fakeFetch();
    const t = make({ fetch, mode: 'batch' });
    const i = item(1);
    t.enqueue(TARGET, i);
    await t.flush(Date.now() + 2000);
    expect(calls[0]!.url).toBe('https://ls.test/runs/batch');
    expect(calls[0]!.headers['content-type']).toBe('application/json');
    expect(calls[0]!.headers['content-encoding']).toBeUndefined();
    expect(calls[0]!.headers['x-tenant-id']).toBeUndefined();
    expect(calls[0]!.runs).toEqual([toRun(i, TARGET)]);
  });

  it('does not gzip when compression is none', async () => {
    const { fetch, calls } = fakeFetch();
    const t = make({ fetch, compression: 'none' });
    t.enqueue(TARGET, item(1));
    await t.flush(Date.now() + 2000);
    expect(calls[0]!.headers['content-encoding']).toBeUndefined();
  });

  it('keeps targets apart: one request never mixes keys, projects, workspaces or endpoints', async () => {
    const { fetch, calls } = fakeFetch();
    const t = make({ fetch });
    const targets: Target[] = [
      TARGET,
      { ...TARGET, apiKey: `${KEY}-other` },
      { ...TARGET, project: 'other' },
      { ...TARGET, workspaceId: 'ws' },
      { ...TARGET, endpoint: 'https://eu.ls.test' },
    ];
    for (let n = 0; n < 50; n++) t.enqueue(targets[n % targets.length]!, item(n));
    await t.flush(Date.now() + 3000);
    expect(calls).toHaveLength(5);
    const seen = new Set<string>();
    for (const c of calls) {
      const projects = new Set(c.runs.map((r) => r.session_name));
      expect(projects.size).toBe(1);
      seen.add(`${c.url} ${c.headers['x-api-key']} ${c.headers['x-tenant-id']} ${[...projects][0]}`);
      expect(c.runs).toHaveLength(10);
    }
    expect(seen.size).toBe(5);
    expect(t.targetStats()).toHaveLength(5);
    for (const s of t.targetStats()) expect(s.exported).toBe(10);
  });

  it('sets the run’s project from its target', async () => {
    const { fetch, calls } = fakeFetch();
    const t = make({ fetch, build: (i, target) => ({ ...toRun(i, target), session_name: 'wrong' }) });
    t.enqueue({ ...TARGET, project: 'right' }, item(1));
    await t.flush(Date.now() + 2000);
    expect(calls[0]!.runs[0]!.session_name).toBe('right');
  });

  it('drops items whose build or encoding fails, and delivers the rest', async () => {
    const { fetch, calls } = fakeFetch();
    const errors: Array<[string, string]> = [];
    const t = make({ fetch, onError: (s, m) => errors.push([s, m]) });
    t.enqueue(TARGET, item(1));
    t.enqueue(TARGET, { ...item(2), fail: true });
    t.enqueue(TARGET, { ...item(3), bigint: true });
    t.enqueue(TARGET, item(4));
    await t.flush(Date.now() + 2000);
    expect(calls[0]!.runs.map((r) => r.name)).toEqual(['item-1', 'item-4']);
    expect(t.stats().dropped).toEqual({ 'build-error': 1, 'encode-error': 1 });
    expect(errors.map(([s]) => s).sort()).toEqual(['build', 'encode']);
    // the build error's message named the key; the report must not
    expect(errors.map(([, m]) => m).join('\n')).not.toContain(KEY);
    expectBalanced(t, 4);
  });

  it('yields to the event loop while building a large queue', async () => {
    const { fetch } = fakeFetch();
    // No gzip: compression runs off the main thread and would hide a drain that never yields.
    const t = make({ fetch, compression: 'none', maxQueueRuns: 20_000, flushIntervalMillis: 60_000 });
    for (let n = 0; n < 20_000; n++) t.enqueue(TARGET, item(n, 'z'.repeat(500)));
    const stop = watchEventLoop();
    await t.flush(Date.now() + 10_000);
    const { maxTurn } = stop();
    expect(t.stats().exported).toBe(20_000);
    // Slices are ≤ 8 ms. Building all 20k in one turn takes ~400–600 ms.
    expect(maxTurn).toBeLessThan(100);
  });
});

describe('retries', () => {
  it('retries 503 with backoff, then succeeds', async () => {
    const { fetch, calls } = fakeFetch((index) =>
      index < 2 ? { status: 503, body: 'busy' } : { status: 202 },
    );
    const debug: string[] = [];
    const t = make({ fetch, retryBaseMillis: 40, retryMaxMillis: 1000, debug: (m) => debug.push(m) });
    t.enqueue(TARGET, item(1));
    expect(await t.flush(Date.now() + 3000)).toBe(true);
    expect(calls).toHaveLength(3);
    // equal jitter: the first retry waits 20–40 ms, the second 40–80 ms
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(15);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(35);
    expect(t.stats()).toMatchObject({ exported: 1, failed: 2, queued: 0 });
    expect(debug.join('\n')).toMatch(/HTTP 503 busy .*retry 1\/3/);
  });

  it('honours Retry-After, and holds the target’s other batches too', async () => {
    const { fetch, calls } = fakeFetch((index) =>
      index === 0 ? { status: 429, headers: { 'Retry-After': '1' } } : { status: 202 },
    );
    const t = make({
      fetch,
      retryBaseMillis: 1,
      retryMaxMillis: 5000,
      maxBatchRuns: 1,
      maxConcurrentRequests: 1,
    });
    t.enqueue(TARGET, item(1));
    await until(() => calls.length === 1);
    t.enqueue(TARGET, item(2));
    expect(await t.flush(Date.now() + 4000)).toBe(true);
    expect(calls).toHaveLength(3);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
    expect(calls[1]!.at - calls[0]!.at).toBeLessThan(2500);
    expect(calls[2]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('caps Retry-After at retryMaxMillis', async () => {
    const { fetch, calls } = fakeFetch((index) =>
      index === 0 ? { status: 503, headers: { 'retry-after': '3600' } } : { status: 202 },
    );
    const t = make({ fetch, retryMaxMillis: 50 });
    t.enqueue(TARGET, item(1));
    expect(await t.flush(Date.now() + 2000)).toBe(true);
    expect(calls[1]!.at - calls[0]!.at).toBeLessThan(1000);
  });

  it('gives up after maxRetries and counts the drop by its last reason', async () => {
    const { fetch, calls } = fakeFetch(() => ({ status: 500 }));
    const errors: string[] = [];
    const t = make({ fetch, maxRetries: 2, onError: (_s, m) => errors.push(m) });
    t.enqueue(TARGET, item(1));
    expect(await t.flush(Date.now() + 3000)).toBe(true);
    expect(calls).toHaveLength(3);
    expect(t.stats()).toMatchObject({ exported: 0, failed: 3, queued: 0, dropped: { 'http-500': 1 } });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/dropped after 3 attempts: HTTP 500/);
  });

  it('retries network errors and timeouts', async () => {
    const { fetch, calls } = fakeFetch((index) =>
      index === 0
        ? new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } })
        : index === 1
          ? 'hang'
          : { status: 202 },
    );
    const debug: string[] = [];
    const t = make({ fetch, timeoutMillis: 100, debug: (m) => debug.push(m) });
    t.enqueue(TARGET, item(1));
    expect(await t.flush(Date.now() + 3000)).toBe(true);
    expect(calls).toHaveLength(3);
    expect(t.stats()).toMatchObject({ exported: 1, failed: 2 });
    expect(debug.join('\n')).toMatch(/fetch failed: ECONNRESET/);
    expect(debug.join('\n')).toMatch(/no answer within 100 ms/);
  });

  it('counts timeouts and network errors as drop reasons once retries run out', async () => {
    const timeouts = make({ fetch: fakeFetch(() => 'hang').fetch, timeoutMillis: 30, maxRetries: 1 });
    const network = make({ fetch: fakeFetch(() => new TypeError('fetch failed')).fetch, maxRetries: 0 });
    timeouts.enqueue(TARGET, item(1));
    network.enqueue(TARGET, item(2));
    await Promise.all([timeouts.flush(Date.now() + 2000), network.flush(Date.now() + 2000)]);
    expect(timeouts.stats().dropped).toEqual({ timeout: 1 });
    expect(network.stats().dropped).toEqual({ network: 1 });
  });

  it('drops on other 4xx without retrying, and reports once per target and status', async () => {
    const body = JSON.stringify({ error: 'Forbidden', details: `bad key ${KEY} ${'x'.repeat(500)}` });
    const { fetch, calls } = fakeFetch(() => ({ status: 403, body }));
    const errors: string[] = [];
    const t = make({ fetch, maxBatchRuns: 1, onError: (_s, m) => errors.push(m) });
    for (let n = 0; n < 3; n++) t.enqueue(TARGET, item(n));
    await t.flush(Date.now() + 2000);
    expect(calls).toHaveLength(3);
    expect(t.stats()).toMatchObject({ failed: 3, dropped: { 'http-403': 3 } });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/HTTP 403 Forbidden: bad key \[REDACTED\]/);
    expect(errors[0]).not.toContain(KEY);
    expect(errors[0]!.length).toBeLessThan(400); // the server's message is truncated
  });

  it('survives a fetch that throws synchronously and callbacks that throw', async () => {
    const fetch: FetchFunction = () => {
      throw new Error('sync failure');
    };
    const t = make({
      fetch,
      maxRetries: 0,
      onError: () => {
        throw new Error('callback broke');
      },
      debug: () => {
        throw new Error('debug broke');
      },
    });
    t.enqueue(TARGET, item(1));
    expect(await t.flush(Date.now() + 2000)).toBe(true);
    expect(t.stats().dropped).toEqual({ network: 1 });
  });
});

describe('413: too large', () => {
  // The sink refuses any body over LIMIT uncompressed bytes, as LangSmith does past its size limit.
  const LIMIT = 6 * 1024;
  const tooLarge = (_index: number, call: Call): Answer =>
    call.rawBytes > LIMIT ? { status: 413, body: 'payload too large' } : { status: 202 };

  for (const mode of ['multipart', 'batch'] as const) {
    it(`halves the batch until the parts fit; every run arrives once (${mode})`, async () => {
      const { fetch, calls } = fakeFetch(tooLarge);
      const t = make({ fetch, mode, flushIntervalMillis: 60_000 });
      const items = Array.from({ length: 10 }, (_, n) => item(n, 'x'.repeat(1000 + n * 50)));
      for (const i of items) t.enqueue(TARGET, i);
      expect(await t.flush(Date.now() + 3000)).toBe(true);
      const accepted = calls.filter((c) => c.rawBytes <= LIMIT);
      const delivered = accepted.flatMap((c) => c.runs.map((r) => r.id));
      expect(delivered.sort()).toEqual(items.map((i) => i.id).sort()); // each once
      for (const c of accepted)
        for (const r of c.runs) expect(r).toEqual(toRun(items[(r.inputs as Item).n]!, TARGET));
      expect(calls[0]!.runs).toHaveLength(10);
      expect(calls.length).toBeGreaterThan(accepted.length); // some requests were refused and split
      expect(t.stats()).toMatchObject({ exported: 10, queued: 0, dropped: {}, bufferedBytes: 0 });
      expect(t.stats().failed).toBe(calls.length - accepted.length);
    });
  }

  it('drops a run that is too large alone as http-413, once, and delivers the others', async () => {
    const { fetch, calls } = fakeFetch(tooLarge);
    const errors: string[] = [];
    const t = make({ fetch, onError: (_s, m) => errors.push(m), flushIntervalMillis: 60_000 });
    const items = Array.from({ length: 7 }, (_, n) => item(n, 'x'.repeat(n === 3 ? 8000 : 1000)));
    for (const i of items) t.enqueue(TARGET, i);
    expect(await t.flush(Date.now() + 3000)).toBe(true);
    const delivered = calls.filter((c) => c.rawBytes <= LIMIT).flatMap((c) => c.runs.map((r) => r.name));
    expect(delivered.sort()).toEqual(['item-0', 'item-1', 'item-2', 'item-4', 'item-5', 'item-6']);
    // the big run was sent alone exactly once, and dropped then
    expect(calls.filter((c) => c.runs.length === 1 && c.runs[0]!.name === 'item-3')).toHaveLength(1);
    expect(t.stats()).toMatchObject({ exported: 6, queued: 0, dropped: { 'http-413': 1 } });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/1 run\(s\) .* dropped: HTTP 413 payload too large/);
  });

  it('the halves keep the retries the batch had left, and back off between them', async () => {
    // 503, then 413 for the whole batch, then 503 for everything: with maxRetries 2 the batch has
    // one retry left when it is split, so each half is tried twice and dropped as http-503.
    const { fetch, calls } = fakeFetch((index) =>
      index === 1 ? { status: 413 } : { status: 503, body: 'busy' },
    );
    const t = make({ fetch, maxRetries: 2, retryBaseMillis: 40, flushIntervalMillis: 60_000 });
    for (let n = 0; n < 4; n++) t.enqueue(TARGET, item(n));
    expect(await t.flush(Date.now() + 3000)).toBe(true);
    expect(calls.map((c) => c.runs.length)).toEqual([4, 4, 2, 2, 2, 2]);
    expect(t.stats()).toMatchObject({ exported: 0, queued: 0, failed: 6, dropped: { 'http-503': 4 } });
    // each half's retry waited its backoff (equal jitter: at least 20 ms after its first try)
    const [first, second] = calls.slice(2).filter((c) => c.runs[0]!.name === calls[2]!.runs[0]!.name);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(15);
  });

  it('flush waits for the halves; the books balance while splitting', async () => {
    const { fetch, calls } = fakeFetch(tooLarge);
    const t = make({ fetch, maxBatchRuns: 40, flushIntervalMillis: 60_000 });
    const samples: number[] = [];
    const sampler = setInterval(() => {
      const s = t.stats();
      samples.push(s.exported + s.queued + sum(s.dropped));
    }, 1);
    for (let n = 0; n < 40; n++) t.enqueue(TARGET, item(n, 'y'.repeat(900)));
    const flushed = await t.flush(Date.now() + 3000);
    const right = t.stats();
    clearInterval(sampler);
    expect(flushed).toBe(true);
    expect(right).toMatchObject({ exported: 40, queued: 0 });
    expect(new Set(samples)).toEqual(new Set([40]));
    expect(calls.filter((c) => c.rawBytes > LIMIT).length).toBeGreaterThanOrEqual(3);
  });
});

describe('halve', () => {
  const runs = (mode: 'multipart' | 'batch', sizes: number[]) =>
    sizes.map((size, n) => encodeRun(toRun(item(n, 'é'.repeat(size)), TARGET), mode));

  it('cuts a multipart body into the bodies of its two halves, same boundary', () => {
    const encoded = runs('multipart', [10, 300, 20, 40, 5]);
    const boundary = newBoundary();
    const whole = multipartBody(encoded, boundary);
    const [a, b] = halve(whole.body, runOffsets(encoded, 'multipart'), 'multipart', whole.contentType);
    // cut by bytes: the big second run makes the first half two runs
    expect(a.runs).toBe(2);
    expect(a.body.equals(multipartBody(encoded.slice(0, 2), boundary).body)).toBe(true);
    expect(b.body.equals(multipartBody(encoded.slice(2), boundary).body)).toBe(true);
    expect(b.offsets).toEqual(runOffsets(encoded.slice(2), 'multipart'));
    // and again, from the half's own offsets
    const [c, d] = halve(b.body, b.offsets, 'multipart', whole.contentType);
    expect(c.body.equals(multipartBody(encoded.slice(2, 3), boundary).body)).toBe(true);
    expect(d.body.equals(multipartBody(encoded.slice(3), boundary).body)).toBe(true);
  });

  it('cuts a /runs/batch body into the bodies of its two halves', () => {
    const encoded = runs('batch', [50, 50, 50, 50]);
    const whole = batchBody(encoded);
    const offsets = runOffsets(encoded, 'batch');
    const [a, b] = halve(whole.body, offsets, 'batch', whole.contentType);
    expect(a.body.equals(batchBody(encoded.slice(0, 2)).body)).toBe(true);
    expect(b.body.equals(batchBody(encoded.slice(2)).body)).toBe(true);
    expect(a.offsets).toEqual(runOffsets(encoded.slice(0, 2), 'batch'));
    const [c, d] = halve(a.body, a.offsets, 'batch', whole.contentType);
    expect(JSON.parse(c.body.toString()).post).toHaveLength(1);
    expect(d.body.equals(batchBody(encoded.slice(1, 2)).body)).toBe(true);
    expect(() => halve(c.body, c.offsets, 'batch', whole.contentType)).toThrow(RangeError);
  });
});

describe('request slots', () => {
  const SILENT: Target = { ...TARGET, endpoint: 'https://silent.test' };
  const silent = (c: Call) => c.url.startsWith('https://silent.test');

  /** A fetch where SILENT never answers (until aborted); tracks how many of its requests hang. */
  function silentFetch() {
    let hanging = 0;
    let maxHanging = 0;
    const perTarget = new Map<string, number>();
    let maxPerTarget = 0;
    const ended = new Map<string, number>(); // requests given up (timed out), per project
    const inner = fakeFetch((_i, c) => (silent(c) ? 'hang' : { status: 202 }));
    const fetch: FetchFunction = async (url, init) => {
      if (!url.startsWith('https://silent.test')) return inner.fetch(url, init);
      const project = String(decode(init).runs[0]?.session_name);
      hanging++;
      perTarget.set(project, (perTarget.get(project) ?? 0) + 1);
      maxHanging = Math.max(maxHanging, hanging);
      maxPerTarget = Math.max(maxPerTarget, perTarget.get(project)!);
      try {
        return await inner.fetch(url, init);
      } finally {
        hanging--;
        perTarget.set(project, perTarget.get(project)! - 1);
        ended.set(project, (ended.get(project) ?? 0) + 1);
      }
    };
    return {
      fetch,
      calls: inner.calls,
      ended: (project: string) => ended.get(project) ?? 0,
      peak: () => ({ hanging: maxHanging, perTarget: maxPerTarget }),
      resetPeak: () => {
        maxHanging = hanging;
        maxPerTarget = Math.max(0, ...perTarget.values());
      },
    };
  }

  it('a target that never answers does not hold up another target', async () => {
    const sink = silentFetch();
    const t = make({ fetch: sink.fetch, maxBatchRuns: 1, timeoutMillis: 10_000 });
    // The silent target's batches are older: with shared slots they would take every one.
    for (let n = 0; n < 6; n++) t.enqueue(SILENT, item(n));
    await until(() => sink.calls.length >= 2);
    const start = Date.now();
    const healthy = Array.from({ length: 6 }, (_, n) => item(100 + n));
    for (const i of healthy) t.enqueue(TARGET, i);
    await until(() => t.targetStats().find((s) => s.endpoint === TARGET.endpoint)?.exported === 6, 2000);
    expect(Date.now() - start).toBeLessThan(1000);
    // one target at a time is at most maxConcurrentRequests (2) requests
    expect(sink.peak().perTarget).toBe(2);
    expect(sink.calls.filter(silent)).toHaveLength(2);
    // the healthy target's batches left in the order they were made
    expect(sink.calls.filter((c) => !silent(c)).map((c) => c.runs[0]!.name)).toEqual(
      healthy.map((i) => `item-${i.n}`),
    );
    expectBalanced(t, 12);
  });

  it('requests in flight stay within maxConcurrentRequests per target and maxTotalConcurrentRequests', async () => {
    const sink = silentFetch();
    const t = make({
      fetch: sink.fetch,
      maxBatchRuns: 1,
      timeoutMillis: 10_000,
      maxConcurrentRequests: 2,
      maxTotalConcurrentRequests: 5,
    });
    for (let n = 0; n < 24; n++) t.enqueue({ ...SILENT, project: `p${n % 6}` }, item(n));
    await until(() => sink.calls.length >= 5);
    await new Promise((r) => setTimeout(r, 100));
    expect(sink.calls).toHaveLength(5);
    expect(sink.peak()).toEqual({ hanging: 5, perTarget: 2 });
    expect(t.stats().inFlight).toBe(5);
  });

  it('targets whose last request timed out get one slot each, half of all slots together', async () => {
    const sink = silentFetch();
    const t = make({
      fetch: sink.fetch,
      maxBatchRuns: 1,
      timeoutMillis: 500,
      maxRetries: 50,
      retryBaseMillis: 1,
      retryMaxMillis: 5,
      maxConcurrentRequests: 2,
      maxTotalConcurrentRequests: 4,
      flushIntervalMillis: 5,
    });
    for (let n = 0; n < 16; n++) t.enqueue({ ...SILENT, project: `silent-${n % 4}` }, item(n));
    // Until each has timed out once, the silent targets hold all four slots; then two at most
    // (once the requests they started before their first timeout have timed out too).
    const projects = ['silent-0', 'silent-1', 'silent-2', 'silent-3'];
    await until(() => projects.every((p) => sink.ended(p) > 0), 10_000);
    await new Promise((r) => setTimeout(r, 600));
    sink.resetPeak();
    const start = Date.now();
    for (let n = 0; n < 4; n++) t.enqueue(TARGET, item(100 + n));
    await until(() => t.targetStats().find((s) => s.endpoint === TARGET.endpoint)?.exported === 4, 2000);
    const waited = Date.now() - start;
    await new Promise((r) => setTimeout(r, 600));
    expect(sink.peak()).toEqual({ hanging: 2, perTarget: 1 });
    expect(waited).toBeLessThan(400); // no wait for a silent request's deadline (500 ms)
    expectBalanced(t, 20);
  });

  it('validates the limits', () => {
    const { fetch } = fakeFetch();
    expect(
      () =>
        new RunTransport<Item>({
          build: toRun,
          fetch,
          maxConcurrentRequests: 4,
          maxTotalConcurrentRequests: 2,
        }),
    ).toThrow(/maxTotalConcurrentRequests \(2\) must be at least maxConcurrentRequests \(4\)/);
    expect(() => new RunTransport<Item>({ build: toRun, fetch, maxTotalConcurrentRequests: 0 })).toThrow(
      RangeError,
    );
    expect(TRANSPORT_DEFAULTS).toMatchObject({ maxConcurrentRequests: 2, maxTotalConcurrentRequests: 8 });
    // the plugin's options: defaults, and one message naming the option
    const resolve = (o: Record<string, unknown>) => resolveLangSmithOptions({ apiKey: KEY, ...o }, {});
    expect(resolve({})).toMatchObject({ maxConcurrentRequests: 2, maxTotalConcurrentRequests: 8 });
    expect(resolve({ maxConcurrentRequests: 12 })).toMatchObject({ maxTotalConcurrentRequests: 12 });
    expect(resolve({ maxTotalConcurrentRequests: 3 })).toMatchObject({ maxTotalConcurrentRequests: 3 });
    expect(() => resolve({ maxTotalConcurrentRequests: 1 })).toThrow(
      /maxTotalConcurrentRequests: must be at least maxConcurrentRequests \(2\)/,
    );
    expect(() => resolve({ maxConcurrentRequests: 6, maxTotalConcurrentRequests: 4 })).toThrow(
      /maxTotalConcurrentRequests: must be at least maxConcurrentRequests \(6\)/,
    );
    for (const bad of [0, 65, 2.5, '4']) {
      expect(() => resolve({ maxTotalConcurrentRequests: bad })).toThrow(/maxTotalConcurrentRequests/);
    }
  });
});

describe('memory bound', () => {
  it('drops the oldest waiting batch when encoded bodies exceed maxBufferBytes', async () => {
    let blocked = true;
    const { fetch, calls } = fakeFetch(() => (blocked ? 'hang' : { status: 202 }));
    const t = make({
      fetch,
      compression: 'none',
      maxBatchRuns: 10,
      maxBufferBytes: 64 * 1024,
      maxConcurrentRequests: 1,
      timeoutMillis: 400,
    });
    const items = Array.from({ length: 400 }, (_, n) => item(n, 'm'.repeat(1000)));
    for (const i of items) t.enqueue(TARGET, i);
    await until(() => t.stats().queued < 400 - 300);
    expect(t.stats().bufferedBytes).toBeLessThanOrEqual(64 * 1024 + 16 * 1024); // + the one in flight
    expect(t.stats().dropped['memory-budget']).toBeGreaterThan(300);
    expect(calls).toHaveLength(1); // the first batch, still hanging
    expectBalanced(t, 400);
    blocked = false;
    expect(await t.flush(Date.now() + 3000)).toBe(true);
    // The batch in flight survived (retried after its timeout); of the rest, the newest were kept.
    const delivered = new Set(calls.slice(1).flatMap((c) => c.runs.map((r) => r.name)));
    expect(delivered.has('item-0')).toBe(true);
    expect(delivered.has('item-399')).toBe(true);
    expect(delivered.has('item-100')).toBe(false);
    expect(t.stats().exported + (t.stats().dropped['memory-budget'] ?? 0)).toBe(400);
  });
});

describe('flush and shutdown', () => {
  it('flush stops waiting at the deadline and reports it', async () => {
    const t = make({ fetch: fakeFetch(() => 'hang').fetch, timeoutMillis: 60_000 });
    t.enqueue(TARGET, item(1));
    const start = Date.now();
    expect(await t.flush(Date.now() + 150)).toBe(false);
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it('shutdown aborts what is in flight, drops the rest and refuses new items', async () => {
    const t = make({ fetch: fakeFetch(() => 'hang').fetch, timeoutMillis: 60_000, maxBatchRuns: 1 });
    for (let n = 0; n < 5; n++) t.enqueue(TARGET, item(n));
    const start = Date.now();
    expect(await t.shutdown(Date.now() + 100)).toBe(false);
    expect(Date.now() - start).toBeLessThan(2000);
    expect(t.enqueue(TARGET, item(9))).toBe(false);
    expect(t.stats()).toMatchObject({ queued: 0, exported: 0, bufferedBytes: 0, inFlight: 0 });
    expect(t.stats().dropped.shutdown).toBe(6);
    expect(await t.shutdown()).toBe(false); // idempotent
  });

  it('shutdown delivers what is queued when the sink answers', async () => {
    const { fetch } = fakeFetch();
    const t = make({ fetch, flushIntervalMillis: 60_000 });
    for (let n = 0; n < 3; n++) t.enqueue(TARGET, item(n));
    expect(await t.shutdown(Date.now() + 2000)).toBe(true);
    expect(t.stats()).toMatchObject({ exported: 3, queued: 0 });
  });
});

describe('helpers', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('0.5', now)).toBe(500);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:03 GMT', now)).toBe(3000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('-1', now)).toBeUndefined();
    expect(parseRetryAfter('12abc', now)).toBeUndefined();
  });

  it('backs off exponentially with jitter, capped', () => {
    for (let retry = 1; retry <= 10; retry++) {
      const ceiling = Math.min(30_000, 500 * 2 ** (retry - 1));
      const d = backoffMillis(retry, 500, 30_000);
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(ceiling);
    }
  });

  it('keys targets by endpoint, key hash, workspace and project, never the key itself', () => {
    const key = targetKey(TARGET);
    expect(key).not.toContain(KEY);
    expect(targetKey({ ...TARGET, endpoint: 'https://ls.test/' })).toBe(key);
    expect(targetKey({ ...TARGET, apiKey: 'other-key-123456' })).not.toBe(key);
    expect(targetKey({ ...TARGET, project: 'p2' })).not.toBe(key);
    expect(targetKey({ ...TARGET, workspaceId: 'w' })).not.toBe(key);
    expect(targetKey({ ...TARGET, endpoint: 'https://other' })).not.toBe(key);
  });

  it('validates its options at construction', () => {
    const { fetch } = fakeFetch();
    expect(() => new RunTransport<Item>({ build: toRun, fetch, maxBatchRuns: 0 })).toThrow(RangeError);
    expect(() => new RunTransport<Item>({ build: toRun, fetch, timeoutMillis: Number.NaN })).toThrow(
      RangeError,
    );
    expect(() => new RunTransport<Item>({ build: toRun, fetch, mode: 'otlp' as 'batch' })).toThrow(
      RangeError,
    );
    expect(() => new RunTransport<Item>({ build: undefined as unknown as typeof toRun, fetch })).toThrow(
      TypeError,
    );
    expect(TRANSPORT_DEFAULTS).toMatchObject({
      maxBatchRuns: 100,
      maxBatchBytes: 20 * 1024 * 1024,
      maxQueueRuns: 10_000,
      maxBufferBytes: 64 * 1024 * 1024,
      maxRetries: 3,
      maxConcurrentRequests: 2,
    });
  });
});
