// Retry discipline of both transports (the OTel plugin's, which Langfuse and Phoenix share, and the
// LangSmith plugin's), against scripted sink answers: what is final is sent once (400, OTLP partial
// success, 413 as it is), what is retryable is retried and arrives once (429/503, resets, UNAVAILABLE
// over gRPC), Retry-After is honoured (in seconds and as an HTTP date, longer than the default
// backoff, so that honouring it is told apart from backing off anyway), slow answers within the
// deadline are not retried, huge answers are not buffered. Cases run concurrently, each with its own
// sink and tracer.
import { createTracer, type InternalErrorReport, type PluginStats, type Tracer } from '@spanchain/core';
import { langsmith } from '@spanchain/langsmith';
import { type OtlpProtocol, otel } from '@spanchain/otel';
import { describe, expect, it } from 'vitest';
import {
  type Behaviour as LangSmithBehaviour,
  type LangSmithReceiver,
  type LangSmithRequest,
  startLangSmithReceiver,
} from '../support/langsmith-receiver.js';
import {
  type Behaviour as OtlpBehaviour,
  type OtlpReceiver,
  type ReceivedRequest,
  startOtlpReceiver,
} from '../support/otlp-receiver.js';
import { describeAccounts, identityGap } from './support/accounting.js';
import { heapMiB } from './support/heap.js';
import { KEYS, pause } from './support/plugins.js';
import { ms, report } from './support/report.js';

const STEPS = 10;

interface Case<R> {
  receiver: R;
  tracer: Tracer;
  errors: InternalErrorReport[];
  stats(): PluginStats;
}

/** Runs `body` with a fresh sink answering by `script` (called with the request's index). */
async function otelCase(
  protocol: OtlpProtocol,
  script: (index: number, request: ReceivedRequest) => OtlpBehaviour,
  body: (c: Case<OtlpReceiver>) => Promise<void>,
  options: Record<string, unknown> = {},
): Promise<void> {
  const receiver = await startOtlpReceiver({ grpc: protocol === 'grpc' });
  let index = 0;
  receiver.respondWith((request) =>
    request.signal === 'traces' ? script(index++, request) : { status: 'ok' },
  );
  const errors: InternalErrorReport[] = [];
  const tracer = createTracer({
    flushOnExit: false,
    onError: (r) => errors.push(r),
    plugins: [
      otel({
        endpoint: protocol === 'grpc' ? receiver.grpcUrl : receiver.httpUrl,
        protocol,
        metrics: false,
        batch: { scheduledDelayMillis: 10 },
        ...options,
      }),
    ],
  });
  try {
    await body({ receiver, tracer, errors, stats: () => tracer.stats().plugins[0]! });
  } finally {
    await tracer.shutdown({ timeoutMs: 1_000 });
    await receiver.close();
  }
}

async function langsmithCase(
  script: (index: number, request: LangSmithRequest) => LangSmithBehaviour,
  body: (c: Case<LangSmithReceiver>) => Promise<void>,
  options: Record<string, unknown> = {},
): Promise<void> {
  const receiver = await startLangSmithReceiver();
  let index = 0;
  receiver.respondWith((request) => script(index++, request));
  const errors: InternalErrorReport[] = [];
  const tracer = createTracer({
    flushOnExit: false,
    onError: (r) => errors.push(r),
    plugins: [
      langsmith({ endpoint: receiver.url, apiKey: KEYS.langsmith, flushIntervalMillis: 10, ...options }),
    ],
  });
  try {
    await body({ receiver, tracer, errors, stats: () => tracer.stats().plugins[0]! });
  } finally {
    await tracer.shutdown({ timeoutMs: 1_000 });
    await receiver.close();
  }
}

/** STEPS steps numbered by metadata.seq, then a flush. */
async function trace(
  tracer: Tracer,
  steps = STEPS,
  metadata: (i: number) => Record<string, unknown> = () => ({}),
) {
  for (let i = 0; i < steps; i++) {
    const value = await tracer.custom(
      { name: `step-${i}`, metadata: { seq: i, ...metadata(i) } },
      async () => i,
    );
    expect(value).toBe(i);
  }
  return tracer.flush({ timeoutMs: 15_000 });
}

const traceRequests = (r: OtlpReceiver) => r.requests.filter((q) => q.signal === 'traces');
const spanSeqs = (r: OtlpReceiver) =>
  r
    .spans()
    .map((s) => s.attributes['spanchain.metadata.seq'] as number)
    .sort((a, b) => a - b);
const runSeqs = (r: LangSmithReceiver) =>
  r
    .runs()
    .map((run) => (run.extra as { metadata: { seq: number } }).metadata.seq)
    .sort((a, b) => a - b);
const ALL = Array.from({ length: STEPS }, (_, i) => i);
const gapMs = (a: { receivedAt: number }, b: { receivedAt: number }) => b.receivedAt - a.receivedAt;
/** An HTTP date `seconds` from now (whole seconds: the wait is at least seconds − 1). */
const httpDate = (seconds: number) => new Date(Date.now() + seconds * 1000).toUTCString();

describe.concurrent('OTLP transport (OTel plugin; Langfuse and Phoenix share it)', () => {
  for (const protocol of ['http/protobuf', 'http/json', 'grpc'] as const) {
    it(`400 is final: one request, nothing delivered, counted as dropped (${protocol})`, async () => {
      await otelCase(
        protocol,
        () => ({ status: 400, body: 'malformed' }),
        async ({ receiver, tracer, stats }) => {
          await trace(tracer);
          await pause(1_500); // a retry would have come by now
          report(
            `retry: OTLP 400 (${protocol})`,
            `${traceRequests(receiver).length} request(s); ${describeAccounts(stats())}`,
          );
          expect(traceRequests(receiver)).toHaveLength(1);
          expect(stats()).toMatchObject({ exported: 0, queued: 0, dropped: { 'export-failed': STEPS } });
        },
      );
    });

    it(`partial success is final: one request, no retry (${protocol})`, async () => {
      await otelCase(
        protocol,
        () => ({ partialSuccess: { rejected: 3, message: 'three spans had bad attributes' } }),
        async ({ receiver, tracer, stats }) => {
          await trace(tracer);
          await pause(1_500);
          report(
            `retry: OTLP partial success (${protocol})`,
            `${traceRequests(receiver).length} request(s), 3 of ${STEPS} rejected; counters: ${describeAccounts(stats())}`,
          );
          expect(traceRequests(receiver)).toHaveLength(1);
          expect(identityGap(stats())).toBe(0);
        },
      );
    });
  }

  // `exported` is what the backend kept: the rejected spans are dropped, with the backend's reason.
  it('partial success: the rejected spans are counted as dropped and reported', async () => {
    await otelCase(
      'http/protobuf',
      () => ({ partialSuccess: { rejected: 3, message: 'three spans had bad attributes' } }),
      async ({ tracer, stats, errors }) => {
        await trace(tracer);
        expect(stats().exported).toBe(STEPS - 3);
        expect(Object.values(stats().dropped).reduce((a, b) => a + b, 0)).toBe(3);
        expect(errors.map((e) => e.source)).toContain('plugin:otel.export');
      },
    );
  });

  for (const [status, protocol, retryAfter] of [
    [429, 'http/protobuf', '2'],
    [503, 'http/protobuf', '2'],
    [429, 'http/json', '2'],
    [503, 'http/protobuf', 'date'],
  ] as const) {
    it(`${status} with Retry-After ${retryAfter === 'date' ? 'as an HTTP date' : `${retryAfter} s`}: waits that long, then delivers once (${protocol})`, async () => {
      await otelCase(
        protocol,
        (i) =>
          i === 0
            ? { status, retryAfter: retryAfter === 'date' ? httpDate(3) : retryAfter }
            : { status: 'ok' },
        async ({ receiver, tracer, stats }) => {
          await trace(tracer);
          const [first, second] = traceRequests(receiver);
          const gap = second ? gapMs(first!, second) : Number.NaN;
          report(
            `retry: OTLP ${status} + Retry-After ${retryAfter === 'date' ? 'date (+3 s)' : `${retryAfter} s`} (${protocol})`,
            `retried after ${ms(gap)}; ${traceRequests(receiver).length} requests; ${describeAccounts(stats())}`,
          );
          expect(traceRequests(receiver)).toHaveLength(2);
          // Whole seconds: a date 3 s ahead is at least 2 s away; the default backoff is ~1 s.
          expect(gap).toBeGreaterThanOrEqual(1_950);
          expect(gap).toBeLessThan(4_500);
          expect(spanSeqs(receiver)).toEqual(ALL);
          expect(stats()).toMatchObject({ exported: STEPS, queued: 0, dropped: {} });
        },
      );
    });
  }

  it('UNAVAILABLE over gRPC is retried and delivered once; INVALID_ARGUMENT is not', async () => {
    await otelCase(
      'grpc',
      (i) => (i === 0 ? { status: 503 } : { status: 'ok' }),
      async ({ receiver, tracer, stats }) => {
        await trace(tracer);
        report(
          'retry: OTLP gRPC UNAVAILABLE',
          `${traceRequests(receiver).length} requests; ${describeAccounts(stats())}`,
        );
        expect(traceRequests(receiver).map((r) => r.outcome?.kind)).toEqual(['rejected', 'accepted']);
        expect(spanSeqs(receiver)).toEqual(ALL);
      },
    );
  });

  it('a reset connection is retried and the batch delivered once (http/protobuf)', async () => {
    await otelCase(
      'http/protobuf',
      (i) => (i === 0 ? { reset: true } : { status: 'ok' }),
      async ({ receiver, tracer, stats }) => {
        await trace(tracer);
        report(
          'retry: OTLP connection reset',
          `${traceRequests(receiver).length} requests; ${describeAccounts(stats())}`,
        );
        expect(traceRequests(receiver).map((r) => r.outcome?.kind)).toEqual(['reset', 'accepted']);
        expect(spanSeqs(receiver)).toEqual(ALL);
        expect(stats()).toMatchObject({ exported: STEPS, dropped: {} });
      },
    );
  });

  it('a slow answer within the deadline is waited for, not retried (http/protobuf)', async () => {
    await otelCase(
      'http/protobuf',
      () => ({ delayMs: 1_500 }),
      async ({ receiver, tracer, stats }) => {
        await trace(tracer);
        report(
          'retry: OTLP slow (1.5 s) answer',
          `${traceRequests(receiver).length} request(s); ${describeAccounts(stats())}`,
        );
        expect(traceRequests(receiver)).toHaveLength(1);
        expect(spanSeqs(receiver)).toEqual(ALL);
      },
    );
  });

  it('413 is final for the batch as it is: the same body is not sent again', async () => {
    await otelCase(
      'http/protobuf',
      (_i, request) => (request.bytes.length > 4_096 ? { status: 413, body: 'too large' } : { status: 'ok' }),
      async ({ receiver, tracer, stats }) => {
        await trace(tracer, STEPS, () => ({ filler: 'x'.repeat(1_000) }));
        await pause(1_500);
        const bodies = traceRequests(receiver).map((r) => r.bytes.toString('base64'));
        report(
          'retry: OTLP 413',
          `${bodies.length} request(s) of ${traceRequests(receiver)
            .map((r) => r.bytes.length)
            .join(', ')} bytes; ${describeAccounts(stats())}`,
        );
        expect(new Set(bodies).size).toBe(bodies.length);
        expect(identityGap(stats())).toBe(0);
      },
    );
  });

  it('413 splits the batch until the parts fit, and everything arrives once', async () => {
    await otelCase(
      'http/protobuf',
      (_i, request) => (request.bytes.length > 4_096 ? { status: 413, body: 'too large' } : { status: 'ok' }),
      async ({ receiver, tracer, stats }) => {
        await trace(tracer, STEPS, () => ({ filler: 'x'.repeat(1_000) }));
        expect(spanSeqs(receiver)).toEqual(ALL);
        expect(stats()).toMatchObject({ exported: STEPS, dropped: {} });
      },
    );
  });

  for (const protocol of ['http/protobuf', 'grpc'] as const) {
    it(`a huge answer (64 MiB) is cut off, not buffered, and not retried (${protocol})`, async () => {
      await otelCase(
        protocol,
        () => ({ hugeBody: 64 * 2 ** 20 }),
        async ({ receiver, tracer, stats }) => {
          const before = await heapMiB();
          let peak = 0;
          const sampler = setInterval(() => {
            peak = Math.max(peak, process.memoryUsage().heapUsed / 2 ** 20);
          }, 2);
          await trace(tracer);
          clearInterval(sampler);
          report(
            `retry: OTLP huge answer (${protocol})`,
            `${traceRequests(receiver).length} request(s), peak heap +${(peak - before).toFixed(1)} MiB; ${describeAccounts(stats())} ` +
              `(the sink kept the spans; the client, cut off at the SDK's 4 MiB, counts them as failed)`,
          );
          expect(traceRequests(receiver)).toHaveLength(1);
          expect(identityGap(stats())).toBe(0);
          expect(peak - before).toBeLessThan(32);
        },
      );
    });
  }
});

describe.concurrent('LangSmith transport', () => {
  it('400 is final: one request, dropped as http-400, reported', async () => {
    await langsmithCase(
      () => ({ status: 400, body: 'bad request' }),
      async ({ receiver, tracer, stats, errors }) => {
        await trace(tracer);
        await pause(1_500);
        report(
          'retry: LangSmith 400',
          `${receiver.requests.length} request(s); ${describeAccounts(stats())}`,
        );
        expect(receiver.requests).toHaveLength(1);
        expect(stats()).toMatchObject({ exported: 0, queued: 0, dropped: { 'http-400': STEPS } });
        expect(errors.length).toBeGreaterThan(0);
      },
    );
  });

  for (const [status, retryAfter] of [
    [429, '2'],
    [503, '2'],
    [429, 'date'],
  ] as const) {
    it(`${status} with Retry-After ${retryAfter === 'date' ? 'as an HTTP date' : `${retryAfter} s`}: waits that long, then delivers once`, async () => {
      await langsmithCase(
        (i) =>
          i === 0
            ? { status, retryAfter: retryAfter === 'date' ? httpDate(3) : retryAfter }
            : { status: 'ok' },
        async ({ receiver, tracer, stats }) => {
          await trace(tracer);
          const [first, second] = receiver.requests;
          const gap = second ? gapMs(first!, second) : Number.NaN;
          report(
            `retry: LangSmith ${status} + Retry-After ${retryAfter === 'date' ? 'date (+3 s)' : `${retryAfter} s`}`,
            `retried after ${ms(gap)}; ${receiver.requests.length} requests; ${describeAccounts(stats())}`,
          );
          expect(receiver.requests).toHaveLength(2);
          expect(gap).toBeGreaterThanOrEqual(1_950);
          expect(gap).toBeLessThan(4_500);
          expect(runSeqs(receiver)).toEqual(ALL);
          expect(stats()).toMatchObject({ exported: STEPS, queued: 0, dropped: {} });
        },
      );
    });
  }

  it('a reset connection is retried and the batch delivered once', async () => {
    await langsmithCase(
      (i) => (i === 0 ? { reset: true } : { status: 'ok' }),
      async ({ receiver, tracer, stats }) => {
        await trace(tracer);
        report(
          'retry: LangSmith connection reset',
          `${receiver.requests.length} requests; ${describeAccounts(stats())}`,
        );
        expect(receiver.requests.map((r) => r.outcome?.kind)).toEqual(['reset', 'accepted']);
        expect(runSeqs(receiver)).toEqual(ALL);
      },
    );
  });

  it('a slow answer within the deadline is waited for, not retried', async () => {
    await langsmithCase(
      () => ({ delayMs: 1_500 }),
      async ({ receiver, tracer, stats }) => {
        await trace(tracer);
        report(
          'retry: LangSmith slow (1.5 s) answer',
          `${receiver.requests.length} request(s); ${describeAccounts(stats())}`,
        );
        expect(receiver.requests).toHaveLength(1);
        expect(runSeqs(receiver)).toEqual(ALL);
      },
    );
  });

  it('413 is final for the batch as it is: the same body is not sent again', async () => {
    await langsmithCase(
      (_i, request) => (request.body.length > 8_192 ? { status: 413, body: 'too large' } : { status: 'ok' }),
      async ({ receiver, tracer, stats }) => {
        await trace(tracer, STEPS, () => ({ filler: 'x'.repeat(2_000) }));
        await pause(1_500);
        report(
          'retry: LangSmith 413',
          `${receiver.requests.length} request(s); ${describeAccounts(stats())}`,
        );
        const bodies = receiver.requests.map((r) => r.bytes.toString('base64'));
        expect(new Set(bodies).size).toBe(bodies.length);
        expect(identityGap(stats())).toBe(0);
      },
      // One batch of all ten; uncompressed, so the sink sees the size the client sent.
      { compression: 'none' },
    );
  });

  // A 413 halves the batch, down to single runs if need be: every run fits alone here, so all ten
  // arrive, each once.
  it('413 splits the batch until the parts fit, and everything arrives once', async () => {
    await langsmithCase(
      (_i, request) => (request.body.length > 8_192 ? { status: 413, body: 'too large' } : { status: 'ok' }),
      async ({ receiver, tracer, stats }) => {
        await trace(tracer, STEPS, () => ({ filler: 'x'.repeat(2_000) }));
        const sizes = receiver.requests.map(
          (r) => `${r.posts.length}${r.outcome?.kind === 'accepted' ? '' : '×'}`,
        );
        report(
          'retry: LangSmith 413 split',
          `${sizes.length} requests of ${sizes.join(', ')} runs (× refused); ${describeAccounts(stats())}`,
        );
        expect(runSeqs(receiver)).toEqual(ALL);
        expect(stats()).toMatchObject({ exported: STEPS, dropped: {} });
      },
      { compression: 'none' },
    );
  });

  it('a huge answer (64 MiB) is cut off, not buffered, and not retried', async () => {
    await langsmithCase(
      () => ({ hugeBody: 64 * 2 ** 20 }),
      async ({ receiver, tracer, stats }) => {
        const before = await heapMiB();
        let peak = 0;
        const sampler = setInterval(() => {
          peak = Math.max(peak, process.memoryUsage().heapUsed / 2 ** 20);
        }, 2);
        await trace(tracer);
        clearInterval(sampler);
        report(
          'retry: LangSmith huge answer',
          `${receiver.requests.length} request(s), peak heap +${(peak - before).toFixed(1)} MiB; ${describeAccounts(stats())}`,
        );
        expect(receiver.requests).toHaveLength(1);
        expect(runSeqs(receiver)).toEqual(ALL);
        expect(stats()).toMatchObject({ exported: STEPS, dropped: {} });
        expect(peak - before).toBeLessThan(32);
      },
    );
  });
});
