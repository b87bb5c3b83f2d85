// A loopback stand-in for LangSmith's run ingestion API, for tests. It serves
// - POST …/runs/multipart: multipart/form-data parsed here, with the server's documented rules
//   (every part has a Content-Type and a length — `; length=N` or Content-Length — that matches
//   its bytes; no per-part Content-Encoding; part names `post|patch.<id>[.<field>]`; trace_id and
//   dotted_order on every run);
// - POST …/runs/batch: JSON `{"post": [...], "patch": [...]}`;
// - GET …/info: a server-info document with `batch_ingest_config`.
// Request bodies may be gzip-encoded. Every run received (post or patch, out-of-band fields merged
// in) is validated against `runs.Run` from LangSmith's OpenAPI document (test/fixtures/langsmith);
// a request with any problem is answered 422 and its problems are kept (`problems()`), so a test
// can assert that nothing invalid was ever sent. Runs of accepted requests are merged by id, post
// then patch, into `runs()`. For long runs (test/reliability), `retain: false` keeps only request
// metadata and hands each accepted request's runs to `onRuns`; `refuseConnections()` and
// `acceptConnections()` take the port down (ECONNREFUSED) and bring it back.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { validateRun } from './langsmith-schema.js';

export type RunRecord = Record<string, unknown>;

export interface ReceivedPart {
  name: string;
  /** Lowercased header names. */
  headers: Record<string, string>;
  data: Buffer;
}

/** What the receiver did with a request. */
export type Outcome =
  | { kind: 'accepted'; status: number }
  | { kind: 'rejected'; status: number }
  | { kind: 'invalid'; status: number; problems: string[] }
  | { kind: 'reset' }
  | { kind: 'blackhole' };

export interface LangSmithRequest {
  endpoint: 'multipart' | 'batch';
  path: string;
  /** Lowercased header names. */
  headers: Record<string, string>;
  /** `x-api-key` ('' when absent). */
  apiKey: string;
  /** `x-tenant-id` ('' when absent). */
  tenantId: string;
  /** Media type without parameters. */
  contentType: string;
  contentEncoding: string;
  /** The body as received (compressed if it was sent compressed). */
  bytes: Buffer;
  /** The body after decompression. */
  body: Buffer;
  /** Multipart: every part, in order. */
  parts: ReceivedPart[];
  /** Multipart: the part names, in order. */
  partNames: string[];
  /** Runs created by this request (multipart: with their out-of-band fields merged in). */
  posts: RunRecord[];
  patches: RunRecord[];
  /** Why the request was refused (empty when it was well-formed). */
  problems: string[];
  outcome?: Outcome;
  receivedAt: number;
}

/**
 * Scripted answers (`receiver.respondWith(fn)`), called for well-formed requests only:
 * - `{ status: 'ok' }` — accept: 202 `{"message":"accepted"}` (the default).
 * - `{ status: 429, retryAfter: 1, body: '…' }` — that status; `retryAfter` becomes Retry-After.
 *   A 2xx status accepts the data.
 * - `{ delayMs: 300, then?: … }` — wait, then apply `then` (default ok).
 * - `{ reset: true }` — destroy the connection without answering.
 * - `{ blackhole: true }` — never answer (close() ends such requests).
 * - `{ hugeBody: 16 * 2 ** 20, status?: 202 }` — that status (default 202; a 2xx accepts the data)
 *   with a JSON body of about `hugeBody` bytes, written in chunks as the client reads.
 */
export type Behaviour =
  | { status: 'ok' }
  | { status: number; retryAfter?: string | number; body?: string }
  | { delayMs: number; then?: Behaviour }
  | { reset: true }
  | { blackhole: true }
  | { hugeBody: number; status?: number };

export type Responder = (request: LangSmithRequest) => Behaviour;

export interface LangSmithReceiver {
  /** e.g. http://127.0.0.1:41234 — the `endpoint` (API base URL) to give a client. */
  readonly url: string;
  /** Every run-ingestion request, in arrival order (accepted or not). */
  readonly requests: LangSmithRequest[];
  /** GET /info requests served. */
  readonly infoRequests: number;
  /** Runs of accepted requests, merged by id (post, then patch), in order of first arrival. */
  runs(): RunRecord[];
  /** Problems of every refused request, prefixed with the request's index. */
  problems(): string[];
  respondWith(fn?: Responder): void;
  /** Resolves once the predicate holds; rejects after timeoutMs (default 5000) with what arrived. */
  waitFor(predicate: (receiver: LangSmithReceiver) => boolean, timeoutMs?: number): Promise<void>;
  /** Runs (posts and patches) of accepted requests so far, also counted with `retain: false`. */
  runCount(): number;
  /** Closes the listener and open connections: clients get ECONNREFUSED until `acceptConnections()`. */
  refuseConnections(): Promise<void>;
  /** Listens on the same port again. */
  acceptConnections(): Promise<void>;
  clear(): void;
  close(): Promise<void>;
}

export interface LangSmithReceiverOptions {
  respondWith?: Responder;
  /** Largest body accepted, compressed or not (default 64 MiB). */
  maxBodyBytes?: number;
  /** Overrides for /info's batch_ingest_config. */
  batchIngestConfig?: Record<string, unknown>;
  /**
   * Keep bodies, parts and runs (default true). With false, a request keeps its metadata only once
   * answered, `runs()` stays empty and each accepted request's runs go to `onRuns`.
   */
  retain?: boolean;
  /** Called with the runs of every accepted request, as it is accepted. */
  onRuns?: (posts: RunRecord[], patches: RunRecord[], request: LangSmithRequest) => void;
}

const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
const PADDING_CHUNK = Buffer.alloc(64 * 1024, 0x61);
const FIELDS = new Set(['inputs', 'outputs', 'events', 'extra', 'error', 'serialized']);
const PART_NAME = /^(post|patch)\.([^.]+)(?:\.([^.]+))?$/;
const ok: Responder = () => ({ status: 'ok' });

function flatHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** `type/subtype; a=b; c="d"` → media type and lowercased parameters. */
export function parseMediaType(value: string): { type: string; params: Record<string, string> } {
  const [type = '', ...rest] = value.split(';');
  const params: Record<string, string> = {};
  for (const piece of rest) {
    const eq = piece.indexOf('=');
    if (eq < 0) continue;
    const key = piece.slice(0, eq).trim().toLowerCase();
    let val = piece.slice(eq + 1).trim();
    if (val.startsWith('"') && val.endsWith('"') && val.length >= 2) val = val.slice(1, -1);
    params[key] = val;
  }
  return { type: type.trim().toLowerCase(), params };
}

/**
 * Splits a multipart/form-data body into parts. Strict where the client's framing is concerned:
 * the body must start with a delimiter, use CRLF, and end with the closing delimiter.
 */
export function parseMultipart(
  body: Buffer,
  boundary: string,
): { parts: ReceivedPart[]; problems: string[] } {
  const problems: string[] = [];
  const parts: ReceivedPart[] = [];
  const delimiter = Buffer.from(`--${boundary}`);
  if (!body.subarray(0, delimiter.length).equals(delimiter)) {
    return { parts, problems: ['body does not start with the boundary delimiter'] };
  }
  let pos = delimiter.length;
  for (;;) {
    const after = body.subarray(pos, pos + 2).toString('latin1');
    if (after === '--') {
      if (body.subarray(pos + 2).toString('latin1') !== '\r\n')
        problems.push('data after the closing delimiter');
      break;
    }
    if (after !== '\r\n') {
      problems.push(`expected CRLF after a delimiter at byte ${pos}`);
      break;
    }
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos, 'latin1');
    if (headerEnd < 0) {
      problems.push('part headers not terminated');
      break;
    }
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, headerEnd).toString('utf8').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) {
        problems.push(`malformed part header line '${line}'`);
        continue;
      }
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const dataStart = headerEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), dataStart);
    if (next < 0) {
      problems.push('part not followed by a delimiter (no closing delimiter?)');
      break;
    }
    const disposition = parseMediaType(headers['content-disposition'] ?? '');
    const name = disposition.params.name ?? '';
    if (disposition.type !== 'form-data' || name === '') {
      problems.push(
        `part without 'Content-Disposition: form-data; name=…' (${headers['content-disposition'] ?? 'none'})`,
      );
    }
    parts.push({ name, headers, data: body.subarray(dataStart, next) });
    pos = next + 2 + delimiter.length;
  }
  return { parts, problems };
}

/** The server's per-part rules, then the runs the parts describe (out-of-band fields merged in). */
function decodeMultipartRuns(
  parts: ReceivedPart[],
  problems: string[],
): { posts: RunRecord[]; patches: RunRecord[] } {
  const runs = { post: new Map<string, RunRecord>(), patch: new Map<string, RunRecord>() };
  const fields: Array<{ method: 'post' | 'patch'; id: string; field: string; value: unknown }> = [];
  for (const part of parts) {
    const where = `part '${part.name}'`;
    const type = part.headers['content-type'];
    if (type === undefined) {
      problems.push(`${where}: no Content-Type`);
      continue;
    }
    if (part.headers['content-encoding'] !== undefined)
      problems.push(`${where}: per-part Content-Encoding is not allowed`);
    const media = parseMediaType(type);
    const declared = media.params.length ?? part.headers['content-length'];
    if (declared === undefined) problems.push(`${where}: neither a length parameter nor Content-Length`);
    else if (Number(declared) !== part.data.length) {
      problems.push(`${where}: declared length ${declared}, actual ${part.data.length}`);
    }
    const match = PART_NAME.exec(part.name);
    if (!match) {
      if (!/^(attachment|feedback)\./.test(part.name)) problems.push(`${where}: unknown part name`);
      continue;
    }
    const method = match[1] as 'post' | 'patch';
    const id = match[2]!;
    const field = match[3];
    if (media.type !== 'application/json') {
      problems.push(`${where}: expected application/json, got ${media.type}`);
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(part.data.toString('utf8'));
    } catch (error) {
      problems.push(`${where}: invalid JSON (${String(error)})`);
      continue;
    }
    if (field === undefined) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        problems.push(`${where}: not a JSON object`);
        continue;
      }
      if (runs[method].has(id)) problems.push(`${where}: run sent twice in one request`);
      const run = value as RunRecord;
      if (run.id !== id) problems.push(`${where}: part name id differs from the run's id ${String(run.id)}`);
      for (const f of FIELDS) if (f in run) problems.push(`${where}: '${f}' belongs in its own part`);
      runs[method].set(id, { ...run });
    } else if (!FIELDS.has(field)) {
      problems.push(`${where}: unknown out-of-band field '${field}'`);
    } else {
      fields.push({ method, id, field, value });
    }
  }
  for (const { method, id, field, value } of fields) {
    const run = runs[method].get(id);
    if (run === undefined) problems.push(`part '${method}.${id}.${field}': no '${method}.${id}' part`);
    else run[field] = value;
  }
  const all = [...runs.post.values(), ...runs.patch.values()];
  for (const run of all) {
    if (run.trace_id === undefined || run.dotted_order === undefined) {
      problems.push(`run ${String(run.id)}: multipart needs trace_id and dotted_order`);
    }
  }
  return { posts: [...runs.post.values()], patches: [...runs.patch.values()] };
}

function decodeBatchRuns(body: Buffer, problems: string[]): { posts: RunRecord[]; patches: RunRecord[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    problems.push(`invalid JSON body (${String(error)})`);
    return { posts: [], patches: [] };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.push('body is not a JSON object');
    return { posts: [], patches: [] };
  }
  const out = { posts: [] as RunRecord[], patches: [] as RunRecord[] };
  for (const [key, list] of Object.entries(parsed)) {
    if (key !== 'post' && key !== 'patch') {
      problems.push(`unexpected key '${key}'`);
      continue;
    }
    if (!Array.isArray(list)) {
      problems.push(`'${key}' is not an array`);
      continue;
    }
    for (const run of list) {
      if (typeof run !== 'object' || run === null || Array.isArray(run))
        problems.push(`a '${key}' entry is not an object`);
      else (key === 'post' ? out.posts : out.patches).push(run as RunRecord);
    }
  }
  if (out.posts.length === 0 && out.patches.length === 0) problems.push('no runs in the batch');
  return out;
}

interface Waiter {
  check: () => boolean;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  lastError?: unknown;
}

/**
 * Starts the receiver on 127.0.0.1 (a free port).
 *
 * @example
 * const receiver = await startLangSmithReceiver();
 * // … send to receiver.url …
 * await receiver.waitFor((r) => r.runs().length === 3);
 * await receiver.close();
 */
export async function startLangSmithReceiver(
  options: LangSmithReceiverOptions = {},
): Promise<LangSmithReceiver> {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const retain = options.retain !== false;
  let responder: Responder = options.respondWith ?? ok;
  let requests: LangSmithRequest[] = [];
  let merged = new Map<string, RunRecord>();
  let runCount = 0;
  let infoRequests = 0;
  let refusing = false;
  const waiters = new Set<Waiter>();
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const pending = new Set<ServerResponse>();
  let closed = false;

  // Load and compile the schema now: a broken fixture fails at start, and the first request is
  // not slowed by it (tests measure event-loop gaps with the receiver in the same process).
  validateRun({});

  const notify = () => {
    for (const w of waiters) {
      let done = false;
      try {
        done = w.check();
      } catch (error) {
        w.lastError = error;
      }
      if (done) {
        waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  };

  const store = (req: LangSmithRequest) => {
    runCount += req.posts.length + req.patches.length;
    if (retain) {
      for (const run of [...req.posts, ...req.patches]) {
        const id = String(run.id);
        merged.set(id, { ...(merged.get(id) ?? {}), ...run });
      }
    }
    options.onRuns?.(req.posts, req.patches, req);
  };

  /** With `retain: false`, an answered request keeps its metadata only. */
  const release = (req: LangSmithRequest) => {
    if (retain) return;
    req.bytes = EMPTY;
    req.body = EMPTY;
    req.parts = [];
    req.posts = [];
    req.patches = [];
  };

  const apply = (req: LangSmithRequest, behaviour: Behaviour, res: ServerResponse, socket: Socket): void => {
    if (closed) return;
    if ('delayMs' in behaviour) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        apply(req, behaviour.then ?? { status: 'ok' }, res, socket);
      }, behaviour.delayMs);
      timers.add(timer);
      return;
    }
    if ('reset' in behaviour) {
      req.outcome = { kind: 'reset' };
      socket.destroy();
    } else if ('blackhole' in behaviour) {
      req.outcome = { kind: 'blackhole' };
      pending.add(res);
    } else if ('hugeBody' in behaviour) {
      const status = behaviour.status ?? 202;
      if (status >= 200 && status < 300) {
        req.outcome = { kind: 'accepted', status };
        store(req);
      } else req.outcome = { kind: 'rejected', status };
      writeHuge(res, status, behaviour.hugeBody);
    } else if (behaviour.status === 'ok' || (behaviour.status >= 200 && behaviour.status < 300)) {
      const status = behaviour.status === 'ok' ? 202 : behaviour.status;
      req.outcome = { kind: 'accepted', status };
      store(req);
      if (!res.destroyed) {
        res.writeHead(status, { 'content-type': 'application/json' }).end('{"message":"accepted"}');
      }
    } else {
      req.outcome = { kind: 'rejected', status: behaviour.status };
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (behaviour.retryAfter !== undefined) headers['retry-after'] = String(behaviour.retryAfter);
      if (!res.destroyed) {
        res.writeHead(behaviour.status, headers).end(JSON.stringify({ error: behaviour.body ?? 'rejected' }));
      }
    }
    release(req);
    notify();
  };

  /** `{"message":"…"}` of about `size` bytes, written as the client reads it. */
  const writeHuge = (res: ServerResponse, status: number, size: number) => {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.write('{"message":"');
    let left = Math.max(0, size);
    const write = () => {
      while (left > 0 && !res.destroyed) {
        const n = Math.min(left, PADDING_CHUNK.length);
        left -= n;
        if (!res.write(n === PADDING_CHUNK.length ? PADDING_CHUNK : PADDING_CHUNK.subarray(0, n))) {
          res.once('drain', write);
          return;
        }
      }
      if (!res.destroyed) res.end('"}');
    };
    write();
  };

  const handle = async (httpReq: IncomingMessage, res: ServerResponse) => {
    const pathname = new URL(httpReq.url ?? '/', 'http://receiver').pathname;
    if (httpReq.method === 'GET' && /\/info\/?$/.test(pathname)) {
      infoRequests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          version: '0.0.0-loopback',
          batch_ingest_config: {
            use_multipart_endpoint: true,
            scale_up_qsize_trigger: 1000,
            scale_up_nthreads_limit: 16,
            scale_down_nempty_trigger: 4,
            size_limit: 100,
            size_limit_bytes: 20_971_520,
            ...options.batchIngestConfig,
          },
          instance_flags: { gzip_body_enabled: true },
        }),
      );
      return;
    }
    const endpointMatch = /\/runs\/(multipart|batch)\/?$/.exec(pathname);
    if (httpReq.method !== 'POST' || !endpointMatch) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of httpReq) {
      size += (chunk as Buffer).length;
      if (size <= maxBody) chunks.push(chunk as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    const headers = flatHeaders(httpReq.headers);
    const req: LangSmithRequest = {
      endpoint: endpointMatch[1] as 'multipart' | 'batch',
      path: pathname,
      headers,
      apiKey: headers['x-api-key'] ?? '',
      tenantId: headers['x-tenant-id'] ?? '',
      contentType: parseMediaType(headers['content-type'] ?? '').type,
      contentEncoding: (headers['content-encoding'] ?? '').trim().toLowerCase(),
      bytes,
      body: bytes,
      parts: [],
      partNames: [],
      posts: [],
      patches: [],
      problems: [],
      receivedAt: Date.now(),
    };
    requests.push(req);
    const refuse = (status: number, problems: string[]) => {
      req.problems.push(...problems);
      req.outcome = { kind: 'invalid', status, problems: req.problems };
      release(req);
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'invalid request', details: req.problems.join('; ') }));
      notify();
    };
    if (size > maxBody) return refuse(413, [`body larger than ${maxBody} bytes`]);
    if (req.apiKey === '') return refuse(401, ['no x-api-key header']);
    if (req.contentEncoding === 'gzip') {
      try {
        req.body = gunzipSync(bytes, { maxOutputLength: maxBody });
      } catch (error) {
        return refuse(400, [`cannot gunzip the body: ${String(error)}`]);
      }
    } else if (req.contentEncoding !== '' && req.contentEncoding !== 'identity') {
      return refuse(415, [`unsupported Content-Encoding '${req.contentEncoding}'`]);
    }
    if (req.endpoint === 'multipart') {
      const media = parseMediaType(headers['content-type'] ?? '');
      const boundary = media.params.boundary;
      if (media.type !== 'multipart/form-data' || !boundary) {
        return refuse(415, [
          `expected multipart/form-data with a boundary, got '${headers['content-type'] ?? ''}'`,
        ]);
      }
      const parsed = parseMultipart(req.body, boundary);
      req.parts = parsed.parts;
      req.partNames = parsed.parts.map((p) => p.name);
      req.problems.push(...parsed.problems);
      Object.assign(req, decodeMultipartRuns(parsed.parts, req.problems));
    } else {
      if (req.contentType !== 'application/json') {
        return refuse(415, [`expected application/json, got '${req.contentType}'`]);
      }
      Object.assign(req, decodeBatchRuns(req.body, req.problems));
    }
    for (const run of [...req.posts, ...req.patches]) {
      for (const problem of validateRun(run)) req.problems.push(`run ${String(run.id)}: ${problem}`);
    }
    if (req.problems.length > 0) return refuse(422, []);
    let behaviour: Behaviour;
    try {
      behaviour = responder(req);
    } catch (error) {
      behaviour = { status: 500, body: `respondWith threw: ${String(error)}` };
    }
    apply(req, behaviour, res, httpReq.socket);
  };

  const server: Server = createServer((httpReq, res) => {
    handle(httpReq, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) res.writeHead(500).end(String(error));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected server address');
  const port = address.port;
  const url = `http://127.0.0.1:${port}`;

  const summary = () =>
    `${requests.length} request(s) [${requests
      .map(
        (r) => `${r.endpoint} ${r.posts.length + r.patches.length} run(s) → ${r.outcome?.kind ?? 'pending'}`,
      )
      .join('; ')}], ${merged.size} run(s) stored${
      requests.some((r) => r.problems.length)
        ? `; problems: ${receiver.problems().slice(0, 5).join(' | ')}`
        : ''
    }`;

  const receiver: LangSmithReceiver = {
    url,
    get requests() {
      return requests;
    },
    get infoRequests() {
      return infoRequests;
    },
    runs: () => [...merged.values()].map((run) => ({ ...run })),
    problems: () => requests.flatMap((r, i) => r.problems.map((p) => `#${i}: ${p}`)),
    respondWith(fn) {
      responder = fn ?? ok;
    },
    waitFor(predicate, timeoutMs = 5000) {
      return new Promise<void>((resolve, reject) => {
        if (closed) return reject(new Error('waitFor: the receiver is closed'));
        const waiter: Waiter = {
          check: () => predicate(receiver),
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            const last =
              waiter.lastError === undefined ? '' : `; last predicate error: ${String(waiter.lastError)}`;
            reject(new Error(`waitFor timed out after ${timeoutMs} ms; got ${summary()}${last}`));
          }, timeoutMs),
        };
        waiters.add(waiter);
        notify();
      });
    },
    runCount: () => runCount,
    async refuseConnections() {
      if (closed || refusing) return;
      refusing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const res of pending) res.destroy();
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await stopped;
    },
    async acceptConnections() {
      if (closed || !refusing) return;
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
      refusing = false;
    },
    clear() {
      requests = [];
      merged = new Map();
      runCount = 0;
      infoRequests = 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.reject(new Error('waitFor: the receiver was closed'));
      }
      waiters.clear();
      const done = refusing
        ? Promise.resolve()
        : new Promise<void>((resolve) => server.close(() => resolve()));
      for (const res of pending) res.destroy();
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await done;
    },
  };
  return receiver;
}
