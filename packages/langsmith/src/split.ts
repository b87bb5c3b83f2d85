/**
 * Halving a request body that the server refused as too large (413), without keeping the encoded
 * runs around: a batch keeps only where each run starts in its uncompressed body (`runOffsets`,
 * one number per run), and `halve` cuts the body there. Both halves are bodies exactly as
 * `multipartBody` (with the same boundary, which no part contains) or `batchBody` would make them
 * from those runs.
 */
import type { EncodedRun, EncodingMode } from './multipart.js';

// The framing of multipart.ts's bodies: `{"post":[` run `,` run … `]}`, and for multipart the
// closing delimiter `--<boundary>--\r\n` after the last part.
const BATCH_OPEN = Buffer.from('{"post":[', 'latin1');
const BATCH_CLOSE = Buffer.from(']}', 'latin1');

/** One half of a body: the body, its runs' offsets (as `runOffsets` gives them) and its run count. */
export interface BodyPart {
  body: Buffer;
  offsets: number[];
  runs: number;
}

/**
 * Where each run starts in the body `multipartBody(runs)` / `batchBody(runs)` makes, plus one
 * entry past the last run (multipart: where the closing delimiter starts; batch: one past the
 * `]`, as if a comma followed the last run).
 */
export function runOffsets(runs: readonly EncodedRun[], mode: EncodingMode): number[] {
  const offsets = new Array<number>(runs.length + 1);
  // A batch-mode run's size counts its separating comma.
  let at = mode === 'batch' ? BATCH_OPEN.length : 0;
  for (let i = 0; i < runs.length; i++) {
    offsets[i] = at;
    at += runs[i]!.size;
  }
  offsets[runs.length] = at;
  return offsets;
}

/**
 * Splits an uncompressed body of two or more runs into two bodies of about half the bytes each
 * (cut at the run boundary nearest the middle, at least one run on each side).
 *
 * @example const [a, b] = halve(raw, batch.offsets, 'multipart', batch.contentType);
 */
export function halve(
  raw: Buffer,
  offsets: readonly number[],
  mode: EncodingMode,
  contentType: string,
): [BodyPart, BodyPart] {
  const count = offsets.length - 1;
  if (count < 2) throw new RangeError('a body of one run cannot be split');
  // Runs can differ a lot in size: cut by bytes, not by count, so each half is really smaller.
  const middle = (offsets[0]! + offsets[count]!) / 2;
  let cut = 1;
  while (cut < count - 1 && offsets[cut + 1]! <= middle) cut++;
  if (cut < count - 1 && middle - offsets[cut]! > offsets[cut + 1]! - middle) cut++;
  return [slice(raw, offsets, 0, cut, mode, contentType), slice(raw, offsets, cut, count, mode, contentType)];
}

function slice(
  raw: Buffer,
  offsets: readonly number[],
  from: number,
  to: number,
  mode: EncodingMode,
  contentType: string,
): BodyPart {
  const start = offsets[from]!;
  if (mode === 'batch') {
    // runs from..to-1 without the comma after the last one
    const runs = raw.subarray(start, offsets[to]! - 1);
    const body = Buffer.concat([BATCH_OPEN, runs, BATCH_CLOSE]);
    return { body, offsets: shifted(offsets, from, to, BATCH_OPEN.length - start), runs: to - from };
  }
  const boundary = /boundary=([^;\s]+)/.exec(contentType)?.[1];
  if (boundary === undefined) throw new TypeError('multipart content type without a boundary');
  const body = Buffer.concat([
    raw.subarray(start, offsets[to]!),
    Buffer.from(`--${boundary}--\r\n`, 'latin1'),
  ]);
  return { body, offsets: shifted(offsets, from, to, -start), runs: to - from };
}

function shifted(offsets: readonly number[], from: number, to: number, by: number): number[] {
  const out = new Array<number>(to - from + 1);
  for (let i = from; i <= to; i++) out[i - from] = offsets[i]! + by;
  return out;
}
