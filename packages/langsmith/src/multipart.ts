/**
 * Request bodies for LangSmith's two bulk ingestion endpoints.
 *
 * `POST /runs/multipart` (multipart/form-data): per run a part `post.<id>` with the run JSON minus
 * its large fields, and a part `post.<id>.<field>` for each large field present. Every part carries
 * `Content-Type: application/json; length=<bytes>` (the server requires a length per part and
 * refuses per-part Content-Encoding; the whole request may be gzipped).
 * `POST /runs/batch` (application/json): `{"post": [run, …]}`.
 *
 * Runs are encoded one by one (`encodeRun`) so that the transport knows each run's exact share of a
 * body before it commits to a batch, and can do the work in small slices; assembling a body
 * (`multipartBody` / `batchBody`) is then only framing and copying.
 */
import { randomBytes } from 'node:crypto';
import type { Run } from './run.js';

export type EncodingMode = 'multipart' | 'batch';

/** Run fields sent as parts of their own in a multipart create (the order the LangSmith SDK uses). */
export const OUT_OF_BAND_FIELDS = ['inputs', 'outputs', 'events', 'extra', 'error', 'serialized'] as const;

const OUT_OF_BAND: ReadonlySet<string> = new Set(OUT_OF_BAND_FIELDS);

export const MULTIPART_PATH = '/runs/multipart';
export const BATCH_PATH = '/runs/batch';

/** One JSON part: its form name, its JSON text and that text's length in UTF-8 bytes. */
export interface EncodedPart {
  name: string;
  data: string;
  bytes: number;
}

/**
 * A run ready to go into a body of `mode`. `size` is the number of bytes it adds to that body
 * (part framing included for multipart, the separating comma for batch).
 */
export interface EncodedRun {
  id: string;
  mode: EncodingMode;
  parts: EncodedPart[];
  size: number;
}

export interface EncodedBody {
  body: Buffer;
  /** The request's Content-Type (with the boundary for multipart). */
  contentType: string;
  size: number;
}

// A fixed-length boundary, so a run's framed size is known before the boundary is drawn.
const BOUNDARY_PREFIX = 'spanchain-';
const BOUNDARY_LENGTH = BOUNDARY_PREFIX.length + 32;
// A run id becomes part of a form name (`post.<id>.inputs`) inside a quoted header value.
const RUN_ID = /^[0-9A-Za-z-]{1,64}$/;
const BATCH_OPEN = '{"post":[';
const BATCH_CLOSE = ']}';

/** A fresh random multipart boundary (always the same length). */
export function newBoundary(): string {
  return BOUNDARY_PREFIX + randomBytes(16).toString('hex');
}

function partHeader(boundary: string, name: string, length: number): string {
  return (
    `--${boundary}\r\n` +
    `Content-Disposition: form-data; name="${name}"\r\n` +
    `Content-Type: application/json; length=${length}\r\n\r\n`
  );
}

// Everything in a part header but the name and the length digits (all ASCII, one byte each).
const HEADER_FIXED = partHeader('x'.repeat(BOUNDARY_LENGTH), '', 0).length - 1;

/** Bytes a part adds to a multipart body: header, data and the CRLF that ends it. */
function framedSize(name: string, length: number): number {
  return HEADER_FIXED + name.length + String(length).length + length + 2;
}

/** Bytes a body of `mode` has besides its runs. */
export function bodyOverhead(mode: EncodingMode): number {
  // multipart: the closing delimiter `--<boundary>--\r\n`; batch: `{"post":[` + `]}` (the first
  // run's share counts a comma it does not need, so this errs on the safe side).
  return mode === 'multipart' ? BOUNDARY_LENGTH + 6 : BATCH_OPEN.length + BATCH_CLOSE.length;
}

// Parts stay strings until the body is assembled: each is written once, straight into the body.
function json(name: string, value: unknown, what: string): EncodedPart {
  const data = JSON.stringify(value);
  if (data === undefined) throw new TypeError(`${what} is not JSON-serialisable`);
  return { name, data, bytes: Buffer.byteLength(data, 'utf8') };
}

/**
 * Serialises one run for a body of `mode`. Throws when the run cannot be encoded (an id unusable
 * in a part name, a value JSON.stringify rejects such as a bigint or a cycle).
 *
 * @example const encoded = encodeRun(run, 'multipart'); // encoded.parts[0].name === `post.${run.id}`
 */
export function encodeRun(run: Run, mode: EncodingMode): EncodedRun {
  const id = run.id;
  if (typeof id !== 'string' || !RUN_ID.test(id)) throw new TypeError('run id must be a UUID string');
  if (mode === 'batch') {
    const part = json('post', run, `run ${id}`);
    return { id, mode, parts: [part], size: part.bytes + 1 };
  }
  const record = run as unknown as Record<string, unknown>;
  const main: Record<string, unknown> = {};
  for (const key in record) {
    if (!OUT_OF_BAND.has(key)) main[key] = record[key];
  }
  const parts: EncodedPart[] = [json(`post.${id}`, main, `run ${id}`)];
  for (const field of OUT_OF_BAND_FIELDS) {
    const value = record[field];
    if (value !== undefined) parts.push(json(`post.${id}.${field}`, value, `${field} of run ${id}`));
  }
  let size = 0;
  for (const part of parts) size += framedSize(part.name, part.bytes);
  return { id, mode, parts, size };
}

/**
 * Assembles a multipart body from encoded runs. The boundary is random and redrawn in the
 * (astronomically unlikely) case that some part contains it.
 *
 * @example const { body, contentType } = multipartBody(runs.map((r) => encodeRun(r, 'multipart')));
 */
export function multipartBody(runs: readonly EncodedRun[], boundary = newBoundary()): EncodedBody {
  let size = BOUNDARY_LENGTH + 6;
  for (const run of runs) {
    if (run.mode !== 'multipart') throw new TypeError(`run ${run.id} was encoded for ${run.mode}`);
    size += run.size;
  }
  // The boundary is drawn after the data exists, so only chance (or a caller's fixed boundary) can
  // put it inside a part; redraw in that case.
  for (let attempt = 0; dataContains(runs, boundary); attempt++) {
    if (attempt >= 8) throw new Error('could not find a multipart boundary absent from the body');
    boundary = newBoundary();
  }
  if (boundary.length !== BOUNDARY_LENGTH)
    throw new TypeError(`the boundary must be ${BOUNDARY_LENGTH} characters`);
  // One buffer of the exact size, written in place: no per-part header buffers, no concat.
  const body = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const run of runs) {
    for (const part of run.parts) {
      offset += body.write(partHeader(boundary, part.name, part.bytes), offset, 'latin1');
      // As many bytes as characters means ASCII: copied as is, the cheapest write.
      offset += body.write(part.data, offset, part.bytes === part.data.length ? 'latin1' : 'utf8');
      body[offset++] = 13; // \r
      body[offset++] = 10; // \n
    }
  }
  offset += body.write(`--${boundary}--\r\n`, offset, 'latin1');
  if (offset !== size) throw new Error(`multipart body is ${offset} bytes, expected ${size}`);
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, size };
}

function dataContains(runs: readonly EncodedRun[], boundary: string): boolean {
  const marker = `--${boundary}`;
  return runs.some((run) => run.parts.some((part) => part.data.includes(marker)));
}

/**
 * Assembles a `/runs/batch` body `{"post":[…]}` from encoded runs.
 *
 * @example const { body } = batchBody(runs.map((r) => encodeRun(r, 'batch')));
 */
export function batchBody(runs: readonly EncodedRun[]): EncodedBody {
  const texts: string[] = [];
  for (const run of runs) {
    if (run.mode !== 'batch') throw new TypeError(`run ${run.id} was encoded for ${run.mode}`);
    texts.push(run.parts[0]!.data);
  }
  const body = Buffer.from(`${BATCH_OPEN}${texts.join(',')}${BATCH_CLOSE}`, 'utf8');
  return { body, contentType: 'application/json', size: body.length };
}

/** Encodes runs and assembles the body for `mode` in one go (the transport does it in steps). */
export function encodeRuns(runs: readonly Run[], mode: EncodingMode): EncodedBody {
  const encoded = runs.map((run) => encodeRun(run, mode));
  return mode === 'multipart' ? multipartBody(encoded) : batchBody(encoded);
}

/** The endpoint path for a mode. */
export function pathFor(mode: EncodingMode): string {
  return mode === 'multipart' ? MULTIPART_PATH : BATCH_PATH;
}
