// Malformed and oversized propagation headers — traceparent, tracestate, baggage, LangSmith's
// langsmith-trace — and odd carriers (getters and proxies that throw, Headers objects, arrays of
// values), through continueFrom()/extract() with every exporting plugin installed. Nothing may
// throw; a valid parent is continued and anything else starts a new trace (with a warning counted);
// what inject() writes next is valid and within the W3C limits; the sinks accept everything sent.
import { createTracer, type HeaderCarrier } from '@spanchain/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LangSmithReceiver, startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';
import { exportingPlugins } from './support/plugins.js';
import { report } from './support/report.js';

let otlp: OtlpReceiver;
let langsmith: LangSmithReceiver;
beforeAll(async () => {
  otlp = await startOtlpReceiver({ grpc: false });
  langsmith = await startLangSmithReceiver();
});
afterAll(async () => {
  await Promise.allSettled([otlp?.close(), langsmith?.close()]);
});

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';
const VALID = `00-${TRACE}-${SPAN}-01`;

type Expectation = 'continue' | 'new' | 'either';
interface Case {
  label: string;
  carrier: unknown;
  expect: Expectation;
  /** A warning is counted under `propagation.extract`. */
  warns?: boolean;
}

function cases(): Case[] {
  const throwingGetter = Object.defineProperty({}, 'traceparent', {
    enumerable: true,
    get() {
      throw new Error('getter throws');
    },
  });
  const throwingProxy = new Proxy(
    {},
    {
      get: () => {
        throw new Error('get trap');
      },
      ownKeys: () => {
        throw new Error('ownKeys trap');
      },
    },
  );
  const members = (n: number, size = 10) =>
    Array.from({ length: n }, (_, i) => `k${i}=${'v'.repeat(size)}`).join(',');
  return [
    { label: 'valid', carrier: { traceparent: VALID }, expect: 'continue' },
    { label: 'valid, Headers object', carrier: new Headers({ traceparent: VALID }), expect: 'continue' },
    { label: 'valid, mixed-case header name', carrier: { TraceParent: VALID }, expect: 'continue' },
    {
      label: 'traceparent of 513 characters',
      carrier: { traceparent: `${VALID}-${'a'.repeat(513 - VALID.length - 1)}` },
      expect: 'new',
      warns: true,
    },
    {
      label: 'traceparent of 1 MiB',
      carrier: { traceparent: 'f'.repeat(2 ** 20) },
      expect: 'new',
      warns: true,
    },
    { label: 'version ff', carrier: { traceparent: `ff-${TRACE}-${SPAN}-01` }, expect: 'new', warns: true },
    { label: 'version zz', carrier: { traceparent: `zz-${TRACE}-${SPAN}-01` }, expect: 'new', warns: true },
    {
      label: 'all-zero trace id',
      carrier: { traceparent: `00-${'0'.repeat(32)}-${SPAN}-01` },
      expect: 'new',
      warns: true,
    },
    {
      label: 'all-zero span id',
      carrier: { traceparent: `00-${TRACE}-${'0'.repeat(16)}-01` },
      expect: 'new',
      warns: true,
    },
    {
      label: 'uppercase hex',
      carrier: { traceparent: `00-${TRACE.toUpperCase()}-${SPAN}-01` },
      expect: 'either',
    },
    {
      label: 'short trace id',
      carrier: { traceparent: `00-${TRACE.slice(2)}-${SPAN}-01` },
      expect: 'new',
      warns: true,
    },
    {
      label: 'non-hex',
      carrier: { traceparent: `00-${'g'.repeat(32)}-${SPAN}-01` },
      expect: 'new',
      warns: true,
    },
    {
      label: 'version 00 with an extra field',
      carrier: { traceparent: `${VALID}-extra` },
      expect: 'new',
      warns: true,
    },
    {
      label: 'future version with an extra field',
      carrier: { traceparent: `01-${TRACE}-${SPAN}-01-extra` },
      expect: 'either',
    },
    { label: 'bad flags', carrier: { traceparent: `00-${TRACE}-${SPAN}-zz` }, expect: 'new', warns: true },
    {
      label: 'NUL and unicode',
      carrier: { traceparent: `00-${TRACE}\u0000-${SPAN}-01\u2603` },
      expect: 'new',
      warns: true,
    },
    { label: 'empty traceparent', carrier: { traceparent: '' }, expect: 'new' },
    {
      label: 'two traceparents (array)',
      carrier: { traceparent: [VALID, `00-${'1'.repeat(32)}-${SPAN}-01`] },
      expect: 'either',
    },
    { label: 'number as value', carrier: { traceparent: 42 }, expect: 'new' },
    {
      label: 'tracestate of 600 characters',
      carrier: { traceparent: VALID, tracestate: `a=${'b'.repeat(598)}` },
      expect: 'continue',
      warns: true,
    },
    {
      label: 'tracestate of 100 members',
      carrier: { traceparent: VALID, tracestate: members(100, 2) },
      expect: 'continue',
    },
    {
      label: 'tracestate with invalid keys',
      carrier: { traceparent: VALID, tracestate: 'UPPER=1,sp ace=2,=3,ok=4' },
      expect: 'continue',
    },
    {
      label: 'baggage of 9000 bytes',
      carrier: { traceparent: VALID, baggage: `k=${'v'.repeat(8998)}` },
      expect: 'continue',
      warns: true,
    },
    {
      label: 'baggage of 8 KiB in multi-byte characters',
      carrier: { traceparent: VALID, baggage: `k=${'é'.repeat(4095)}` },
      expect: 'continue',
    },
    {
      label: 'baggage of 500 members',
      carrier: { traceparent: VALID, baggage: members(500, 3) },
      expect: 'continue',
    },
    {
      label: 'baggage with bad percent-encoding',
      carrier: { traceparent: VALID, baggage: 'a=%ZZ,b=%E0%A4,c=ok;prop=1,,,=x' },
      expect: 'continue',
    },
    {
      label: 'langsmith-trace malformed',
      carrier: { 'langsmith-trace': 'not-a-dotted-order' },
      expect: 'new',
    },
    {
      label: 'langsmith-trace of 1 MiB',
      carrier: { 'langsmith-trace': `20240919T171648521001Z${'x'.repeat(2 ** 20)}` },
      expect: 'new',
    },
    {
      label: 'langsmith-trace of another trace beside a traceparent',
      carrier: {
        traceparent: VALID,
        'langsmith-trace': '20240919T171648521001Z5b8efff7-9803-8103-d269-b633813fc60c',
      },
      expect: 'continue',
    },
    { label: 'getter that throws', carrier: throwingGetter, expect: 'new' },
    { label: 'proxy whose traps throw', carrier: throwingProxy, expect: 'new' },
    {
      label: 'get() that throws',
      carrier: {
        get: () => {
          throw new Error('get throws');
        },
      },
      expect: 'new',
    },
    { label: 'null carrier', carrier: null, expect: 'new' },
  ];
}

const HEX32 = /^[0-9a-f]{32}$/;

describe('malformed and oversized propagation headers', () => {
  it('never throw, continue only a valid parent, and leave inject() and the exports valid', async () => {
    const tracer = createTracer({
      flushOnExit: false,
      onError: () => undefined,
      plugins: exportingPlugins({ otlp: otlp.httpUrl, langsmith: langsmith.url }),
    });
    const problems: string[] = [];
    const outcomes: string[] = [];
    let warningsExpected = 0;
    const warnings = () => tracer.stats().errors['propagation.extract'] ?? 0;
    for (const c of cases()) {
      const before = warnings();
      let seen: { traceId: string; headers: Record<string, string> } | undefined;
      try {
        seen = tracer.continueFrom(c.carrier as HeaderCarrier, () =>
          tracer.agent({ name: `handle ${c.label}` }, (step) => ({
            traceId: step.traceId,
            headers: tracer.inject<Record<string, string>>({}),
          })),
        );
      } catch (error) {
        problems.push(`${c.label}: threw ${String(error)}`);
        continue;
      }
      const continued = seen.traceId === TRACE;
      outcomes.push(`${c.label}: ${continued ? 'continued' : 'new trace'}`);
      if (!HEX32.test(seen.traceId) || /^0+$/.test(seen.traceId))
        problems.push(`${c.label}: trace id ${seen.traceId}`);
      if (c.expect === 'continue' && !continued) problems.push(`${c.label}: did not continue a valid parent`);
      if (c.expect === 'new' && continued) problems.push(`${c.label}: continued a malformed parent`);
      const { traceparent = '', tracestate = '', baggage = '' } = seen.headers;
      if (!new RegExp(`^00-${seen.traceId}-[0-9a-f]{16}-0[01]$`).test(traceparent))
        problems.push(`${c.label}: injected traceparent ${traceparent.slice(0, 80)}`);
      if (tracestate.length > 512) problems.push(`${c.label}: injected tracestate of ${tracestate.length}`);
      if (Buffer.byteLength(baggage) > 8192)
        problems.push(`${c.label}: injected baggage of ${Buffer.byteLength(baggage)} bytes`);
      if (c.warns) {
        warningsExpected++;
        if (warnings() === before) problems.push(`${c.label}: no warning counted`);
      }
      // extract() alone, too.
      try {
        tracer.extract(c.carrier as HeaderCarrier);
      } catch (error) {
        problems.push(`${c.label}: extract threw ${String(error)}`);
      }
    }
    const flushed = await tracer.flush({ timeoutMs: 15_000 });
    const spans = otlp.spans();
    const badSpans = spans.filter(
      (s) => !HEX32.test(s.traceId) || !/^[0-9a-f]{16}$/.test(s.spanId) || s.traceState.length > 512,
    );
    const invalid = otlp.requests.filter((r) => r.outcome?.kind !== 'accepted');
    const count = cases().length;
    report(
      'propagation',
      `${count} header sets (+ extract() alone): ${problems.length} problems; ${outcomes.filter((o) => o.endsWith('continued')).length} continued, ` +
        `${outcomes.filter((o) => o.endsWith('new trace')).length} new traces; ${warnings()} warnings counted (≥ ${warningsExpected} expected); ` +
        `sinks: ${spans.length} spans (${badSpans.length} with bad ids or tracestate), ${invalid.length} OTLP requests refused, ${langsmith.problems().length} LangSmith problems; flush ok ${flushed.ok}`,
    );
    expect(problems).toEqual([]);
    expect(flushed.ok).toBe(true);
    expect(spans).toHaveLength(3 * count);
    expect(badSpans).toEqual([]);
    expect(invalid).toEqual([]);
    expect(langsmith.problems()).toEqual([]);
    expect(langsmith.runs()).toHaveLength(count);
  });
});
