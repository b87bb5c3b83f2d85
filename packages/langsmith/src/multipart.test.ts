import { describe, expect, it } from 'vitest';
import {
  BATCH_PATH,
  batchBody,
  bodyOverhead,
  encodeRun,
  encodeRuns,
  MULTIPART_PATH,
  multipartBody,
  newBoundary,
  OUT_OF_BAND_FIELDS,
  pathFor,
} from './multipart.js';
import type { Run } from './run.js';

const ID = '0e01bf50-474d-4536-810f-67d3ee7ea3e7';

function run(overrides: Partial<Run> = {}): Run {
  const id = overrides.id ?? ID;
  return {
    id,
    trace_id: id,
    dotted_order: `20240919T171648521001Z${id}`,
    name: 'answer',
    run_type: 'chain',
    start_time: '2024-09-19T17:16:48.521001Z',
    end_time: '2024-09-19T17:16:49.000001Z',
    inputs: { question: 'Grüße — ünïcödé?' },
    outputs: { answer: 'fine' },
    extra: { metadata: { thread_id: 't-1' } },
    events: [{ name: 'start', time: '2024-09-19T17:16:48.521Z' }],
    tags: ['a', 'b'],
    session_name: 'proj',
    ...overrides,
  };
}

interface Part {
  headers: string[];
  data: Buffer;
}

/** A deliberately naive reading of the wire format: split on the delimiter, headers, CRLF. */
function split(body: Buffer, boundary: string): { parts: Part[]; tail: string } {
  const text = body.toString('latin1');
  const pieces = text.split(`--${boundary}`);
  expect(pieces[0]).toBe(''); // nothing before the first delimiter
  const tail = pieces.at(-1)!;
  const parts = pieces.slice(1, -1).map((piece) => {
    expect(piece.startsWith('\r\n')).toBe(true);
    expect(piece.endsWith('\r\n')).toBe(true);
    const [head, ...rest] = piece.slice(2, -2).split('\r\n\r\n');
    return { headers: head!.split('\r\n'), data: Buffer.from(rest.join('\r\n\r\n'), 'latin1') };
  });
  return { parts, tail };
}

describe('encodeRun (multipart)', () => {
  it('puts the run without its large fields in post.<id> and each large field in its own part', () => {
    const r = run({ error: 'boom' });
    const encoded = encodeRun(r, 'multipart');
    expect(encoded.parts.map((p) => p.name)).toEqual([
      `post.${ID}`,
      `post.${ID}.inputs`,
      `post.${ID}.outputs`,
      `post.${ID}.events`,
      `post.${ID}.extra`,
      `post.${ID}.error`,
    ]);
    const main = JSON.parse(encoded.parts[0]!.data);
    for (const field of OUT_OF_BAND_FIELDS) expect(main).not.toHaveProperty(field);
    expect(main).toEqual({
      id: ID,
      trace_id: ID,
      dotted_order: r.dotted_order,
      name: 'answer',
      run_type: 'chain',
      start_time: r.start_time,
      end_time: r.end_time,
      tags: ['a', 'b'],
      session_name: 'proj',
    });
    const field = (name: string) =>
      JSON.parse(encoded.parts.find((p) => p.name === `post.${ID}.${name}`)!.data);
    expect(field('inputs')).toEqual(r.inputs);
    expect(field('outputs')).toEqual(r.outputs);
    expect(field('events')).toEqual(r.events);
    expect(field('extra')).toEqual(r.extra);
    expect(field('error')).toBe('boom'); // a JSON string, as the SDK sends it
  });

  it('leaves out fields that are absent', () => {
    const { outputs: _o, extra: _e, events: _v, ...bare } = run();
    const encoded = encodeRun(bare as Run, 'multipart');
    expect(encoded.parts.map((p) => p.name)).toEqual([`post.${ID}`, `post.${ID}.inputs`]);
  });

  it('sends `serialized` out of band too (a field some callers add)', () => {
    const r = { ...run(), serialized: { name: 'x' } } as Run;
    expect(encodeRun(r, 'multipart').parts.map((p) => p.name)).toContain(`post.${ID}.serialized`);
  });

  it('refuses ids that cannot be part of a form name, and values JSON cannot hold', () => {
    expect(() => encodeRun(run({ id: 'a"b' }), 'multipart')).toThrow(/UUID/);
    expect(() => encodeRun(run({ id: 'a.b' }), 'multipart')).toThrow(/UUID/);
    expect(() => encodeRun(run({ inputs: { n: 1n } }), 'multipart')).toThrow();
    expect(() => encodeRun(run({ inputs: { n: 1n } }), 'batch')).toThrow();
  });
});

describe('multipartBody', () => {
  it('frames every part as LangSmith expects: form-data name, JSON type with its byte length', () => {
    const runs = [run(), run({ id: '11111111-2222-4333-8444-555555555555', outputs: undefined })];
    const { body, contentType, size } = multipartBody(runs.map((r) => encodeRun(r, 'multipart')));
    expect(size).toBe(body.length);
    const boundary = /^multipart\/form-data; boundary=(.+)$/.exec(contentType)?.[1];
    expect(boundary).toMatch(/^spanchain-[0-9a-f]{32}$/);
    const { parts, tail } = split(body, boundary!);
    expect(tail).toBe('--\r\n');
    expect(parts).toHaveLength(5 + 4); // main, inputs, outputs, events, extra + the same without outputs
    for (const part of parts) {
      expect(part.headers).toHaveLength(2);
      expect(part.headers[0]).toMatch(
        /^Content-Disposition: form-data; name="(post\.[0-9a-f-]{36}(\.\w+)?)"$/,
      );
      // length counts bytes, not characters (the inputs hold non-ASCII text)
      expect(part.headers[1]).toBe(`Content-Type: application/json; length=${part.data.length}`);
      expect(() => JSON.parse(part.data.toString('utf8'))).not.toThrow();
    }
    const inputs = parts.find((p) => p.headers[0]!.endsWith(`${ID}.inputs"`))!;
    expect(JSON.parse(inputs.data.toString('utf8'))).toEqual({ question: 'Grüße — ünïcödé?' });
    expect(inputs.data.length).toBeGreaterThan('{"question":"Grüße — ünïcödé?"}'.length);
  });

  it('knows each run’s share of the body before assembling it', () => {
    const encoded = [run(), run({ id: '11111111-2222-4333-8444-555555555555', error: 'x'.repeat(5000) })].map(
      (r) => encodeRun(r, 'multipart'),
    );
    const { size } = multipartBody(encoded);
    expect(size).toBe(encoded[0]!.size + encoded[1]!.size + bodyOverhead('multipart'));
  });

  it('draws a new random boundary per body, and another if the data contains it', () => {
    expect(newBoundary()).not.toBe(newBoundary());
    expect(newBoundary()).toHaveLength(newBoundary().length);
    const clash = 'spanchain-00000000000000000000000000000000';
    const encoded = encodeRun(run({ inputs: { text: `--${clash}` } }), 'multipart');
    const { contentType, body } = multipartBody([encoded], clash);
    expect(contentType).not.toContain(clash);
    const boundary = contentType.split('boundary=')[1]!;
    expect(body.toString('latin1').split(`--${boundary}`)).toHaveLength(2 + encoded.parts.length);
  });

  it('refuses runs encoded for the other endpoint', () => {
    expect(() => multipartBody([encodeRun(run(), 'batch')])).toThrow(/batch/);
    expect(() => batchBody([encodeRun(run(), 'multipart')])).toThrow(/multipart/);
  });
});

describe('batch body', () => {
  it('is {"post": [runs]} with the runs whole', () => {
    const runs = [run(), run({ id: '11111111-2222-4333-8444-555555555555' })];
    const { body, contentType, size } = encodeRuns(runs, 'batch');
    expect(contentType).toBe('application/json');
    expect(size).toBe(body.length);
    expect(JSON.parse(body.toString('utf8'))).toEqual({ post: runs });
  });

  it('never undercounts a body’s size', () => {
    const encoded = [run(), run({ id: '11111111-2222-4333-8444-555555555555' })].map((r) =>
      encodeRun(r, 'batch'),
    );
    const sum = encoded.reduce((n, e) => n + e.size, 0) + bodyOverhead('batch');
    expect(batchBody(encoded).size).toBeLessThanOrEqual(sum);
    expect(sum - batchBody(encoded).size).toBeLessThanOrEqual(1);
  });

  it('maps modes to their endpoints', () => {
    expect(pathFor('multipart')).toBe(MULTIPART_PATH);
    expect(pathFor('batch')).toBe(BATCH_PATH);
    expect(MULTIPART_PATH).toBe('/runs/multipart');
    expect(BATCH_PATH).toBe('/runs/batch');
  });
});
