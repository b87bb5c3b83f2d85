// The plugin encodes OTLP/protobuf itself (faster, in slices); these tests hold it to the SDK's
// own serializer: the same spans, sent once through each, decode to the same messages.
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createTracer } from '@spanchain/core';
import { otel } from '@spanchain/otel';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeOtlpProtobuf, type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';

type Obj = Record<string, unknown>;

let receiver: OtlpReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

/** Every span of every request from one encoder, keyed by span id, with its resource and scope. */
function decodedSpans(r: OtlpReceiver, encoder: string): Map<string, Obj> {
  const spans = new Map<string, Obj>();
  for (const request of r.requests) {
    if (request.headers['x-encoder'] !== encoder || request.signal !== 'traces') continue;
    const decoded = decodeOtlpProtobuf('traces', request.body) as { resourceSpans: Obj[] };
    for (const rs of decoded.resourceSpans) {
      for (const ss of rs.scopeSpans as Obj[]) {
        for (const span of ss.spans as Obj[]) {
          const id = Buffer.from(span.spanId as Uint8Array).toString('hex');
          spans.set(id, { resource: rs.resource, scope: ss.scope, span });
        }
      }
    }
  }
  return spans;
}

/** Two plugins on one tracer: spanchain's encoder and the SDK's, to the same receiver. */
function bothEncoders(r: OtlpReceiver, maxExportBatchSize = 512) {
  const common = { metrics: false, captureContent: true } as const;
  const ours = otel({
    ...common,
    name: 'ours',
    endpoint: r.httpUrl,
    headers: { 'x-encoder': 'spanchain' },
    batch: { scheduledDelayMillis: 10, maxExportBatchSize },
  });
  const sdk = otel({
    ...common,
    name: 'sdk',
    spanProcessors: [
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${r.httpUrl}/v1/traces`, headers: { 'x-encoder': 'sdk' } }),
        { scheduledDelayMillis: 10 },
      ),
    ],
  });
  return createTracer({ serviceName: 'encoding', plugins: [ours, sdk], flushOnExit: false });
}

function expectSameSpans(r: OtlpReceiver, count: number): void {
  const mine = decodedSpans(r, 'spanchain');
  const theirs = decodedSpans(r, 'sdk');
  expect(mine.size).toBe(count);
  expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
  for (const [id, decoded] of mine) expect(decoded, id).toEqual(theirs.get(id));
}

describe('the plugin’s OTLP/protobuf encoding', () => {
  it('decodes to exactly what the SDK’s serializer produces for the same spans', async () => {
    const r = await startOtlpReceiver({ grpc: false });
    receiver = r;
    const common = { metrics: false, captureContent: true } as const;
    const ours = otel({
      ...common,
      name: 'ours',
      endpoint: r.httpUrl,
      headers: { 'x-encoder': 'spanchain' },
      batch: { scheduledDelayMillis: 10 },
    });
    const sdk = otel({
      ...common,
      name: 'sdk',
      spanProcessors: [
        new BatchSpanProcessor(
          new OTLPTraceExporter({ url: `${r.httpUrl}/v1/traces`, headers: { 'x-encoder': 'sdk' } }),
          { scheduledDelayMillis: 10 },
        ),
      ],
    });
    const tracer = createTracer({ serviceName: 'encoding', plugins: [ours, sdk], flushOnExit: false });
    const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await tracer.agent(
      {
        name: 'agent',
        parent,
        trace: {
          userId: 'ü-1',
          tags: ['a', 'b'],
          metadata: { n: 3, f: 0.5, ok: true, nested: { x: [1, 2] } },
        },
        input: `κείμενο 🚀 ${'x'.repeat(1500)}`,
      },
      async () => {
        await tracer.llm(
          {
            name: 'call',
            model: 'gpt-4o',
            provider: 'openai',
            params: { temperature: 0.25, maxTokens: 300, stopSequences: ['\n', 'END'] },
            inputMessages: [{ role: 'user', content: 'héllo' }],
            attributes: { 'app.flags': [true, false], 'app.scores': [1.5, 2], 'app.big': 2 ** 40 },
          },
          async (s) => {
            s.addEvent('first-token', { index: 0 });
            s.update({ usage: { inputTokens: 12, outputTokens: 3 }, finishReasons: ['stop'] });
            return 'ok';
          },
        );
        await tracer
          .tool({ name: 'fails', toolName: 'calc' }, async () => {
            throw Object.assign(new RangeError('out of range'), { code: 'E_RANGE' });
          })
          .catch(() => undefined);
        // Enough spans for the encoder to slice the batch.
        for (let i = 0; i < 150; i++) await tracer.custom({ name: `c${i}`, metadata: { i } }, async () => i);
      },
    );
    await tracer.flush();
    await tracer.shutdown();

    const mine = decodedSpans(r, 'spanchain');
    const theirs = decodedSpans(r, 'sdk');
    expect(mine.size).toBe(153);
    expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
    for (const [id, decoded] of mine) expect(decoded, id).toEqual(theirs.get(id));
    // The batch really went out in few requests (sliced encoding, one message).
    const requests = r.requests.filter((q) => q.headers['x-encoder'] === 'spanchain');
    expect(requests.length).toBeLessThan(10);
  });

  it('agrees on interleaved traces, trace state, text at every length boundary and thousands of distinct keys', async () => {
    const r = await startOtlpReceiver({ grpc: false });
    receiver = r;
    const tracer = bothEncoders(r);
    // Texts around the encoder's length cases: one-byte and two-byte varint lengths, ASCII and
    // not, a short text whose UTF-8 length needs two bytes, a long one measured first.
    const texts = [
      'x'.repeat(63),
      'x'.repeat(64),
      'x'.repeat(127),
      'x'.repeat(128),
      `é${'x'.repeat(70)}`, // 71 units, 72 bytes: one-byte length after all
      'é'.repeat(100), // 100 units, 200 bytes
      '🚀'.repeat(40), // surrogate pairs
      'x'.repeat(5460),
      'x'.repeat(5461),
      `${'é'.repeat(6000)}`, // measured first: longer than two varint bytes may hold in the worst case
      'x'.repeat(20_000),
    ];
    // Two traces whose steps end in turn, so their spans alternate in the batch (the trace and
    // parent ids written last are reused only when they match).
    const trace = (label: string, parent?: string) =>
      tracer.chain({ name: `root-${label}`, ...(parent ? { parent } : {}) }, async () => {
        for (let i = 0; i < texts.length; i++) {
          await tracer.custom({ name: `${label}-${i}`, input: texts[i] }, async () => {
            await new Promise((resolve) => setImmediate(resolve));
            return texts[texts.length - 1 - i];
          });
        }
      });
    await Promise.all([trace('a'), trace('b', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')]);
    // A continued trace with a trace state (encoded through the span's own context).
    await tracer.custom(
      {
        name: 'with-state',
        parent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        attributes: { 'app.note': 'state' },
      },
      async () => 1,
    );
    // More distinct attribute keys than the encoder keeps encoded (2,048 keys; key-value pairs of
    // 1,024 keys; the next test's step names are more values than one key keeps): the rest are
    // written as they come, and the spans must not differ.
    for (let i = 0; i < 30; i++) {
      const metadata: Record<string, number | string> = {};
      for (let k = 0; k < 100; k++) metadata[`key_${i}_${k}`] = k % 2 === 0 ? k : `v${k % 7}`;
      await tracer.custom({ name: `keys-${i}`, metadata }, async () => i);
    }
    await tracer.flush();
    await tracer.shutdown();
    expectSameSpans(r, 2 * (texts.length + 1) + 1 + 30);
  });

  it('agrees over many small batches sent at once, each request in its own reused buffer', async () => {
    const r = await startOtlpReceiver({ grpc: false });
    receiver = r;
    // Batches of 7 spans, several requests in flight at a time: a buffer handed back before its
    // request was answered would be overwritten by the next batch and decode differently.
    const tracer = bothEncoders(r, 7);
    await Promise.all(
      Array.from({ length: 40 }, (_, t) =>
        tracer.chain({ name: `t${t}`, input: `${t}`.repeat(300 + t) }, async () => {
          for (let i = 0; i < 4; i++)
            await tracer.custom({ name: `t${t}-${i}`, input: 'x'.repeat(200 * i) }, async () => i);
        }),
      ),
    );
    await tracer.flush();
    await tracer.shutdown();
    expectSameSpans(r, 200);
    const requests = r.requests.filter((q) => q.headers['x-encoder'] === 'spanchain');
    expect(requests.length).toBeGreaterThanOrEqual(200 / 7);
  });
});
