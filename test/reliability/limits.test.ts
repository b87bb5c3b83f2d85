// Attribute and cardinality limits: what one step can put on the wire, and how many distinct
// things (metric attribute sets, resources, projects, credential sets) the plugins keep, stay
// bounded whatever the app sends — and everything still arrives where it belongs.
import { createTracer, type Tracer } from '@spanchain/core';
import { langsmith } from '@spanchain/langsmith';
import { otel } from '@spanchain/otel';
import { phoenix } from '@spanchain/phoenix';
import { afterEach, describe, expect, it } from 'vitest';
import { type LangSmithReceiver, startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';
import { describeAccounts, identityGap } from './support/accounting.js';
import { exportingPlugins, KEYS, pause } from './support/plugins.js';
import { ms, report } from './support/report.js';

const MiB = 2 ** 20;
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

async function receivers(): Promise<{ otlp: OtlpReceiver; ls: LangSmithReceiver }> {
  const otlp = await startOtlpReceiver({ grpc: false, maxBodyBytes: 512 * MiB });
  const ls = await startLangSmithReceiver({ maxBodyBytes: 512 * MiB });
  closers.push(
    () => otlp.close(),
    () => ls.close(),
  );
  return { otlp, ls };
}

function tracerWith(
  plugins: Parameters<typeof createTracer>[0] extends infer O
    ? O extends { plugins?: infer P }
      ? P
      : never
    : never,
): Tracer {
  const tracer = createTracer({ flushOnExit: false, onError: () => undefined, plugins });
  closers.push(() => tracer.shutdown({ timeoutMs: 2_000 }));
  return tracer;
}

/** Longest event-loop turn while `fn` runs (1 ms timer). */
async function longestTurn<T>(fn: () => Promise<T>): Promise<{ result: T; longest: number }> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  try {
    return { result: await fn(), longest };
  } finally {
    clearInterval(timer);
  }
}

const requestBytes = (r: { requests: Array<{ body: Buffer }> }) =>
  Math.max(0, ...r.requests.map((q) => q.body.length));

describe('what one step puts on the wire', () => {
  it('content (input, output, messages, arguments) is cut to the budgets in every plugin', async () => {
    const { otlp, ls } = await receivers();
    const tracer = tracerWith(
      exportingPlugins({ otlp: otlp.httpUrl, langsmith: ls.url }, { otel: { captureContent: true } }),
    );
    const big = 'x'.repeat(16 * MiB);
    const { longest } = await longestTurn(async () => {
      await tracer.chain({ name: 'big', input: big }, () =>
        tracer.llm(
          { model: 'gpt-4o', provider: 'openai', inputMessages: [{ role: 'user', content: big }] },
          async () => ({ text: big, list: Array.from({ length: 100_000 }, (_, i) => i) }),
        ),
      );
      await tracer.tool({ name: 'tool', arguments: { big } }, async () => big);
      await tracer.flush({ timeoutMs: 15_000 });
    });
    const otlpMax = requestBytes(otlp);
    const lsMax = requestBytes(ls);
    report(
      'limits: content',
      `3 steps carrying 16 MiB each in input, messages, output and arguments: largest OTLP request ${(otlpMax / MiB).toFixed(2)} MiB, ` +
        `largest LangSmith request ${(lsMax / MiB).toFixed(2)} MiB (uncompressed); longest turn ${ms(longest)}; ` +
        tracer.stats().plugins.map(describeAccounts).join('; '),
    );
    for (const p of tracer.stats().plugins)
      expect(p, describeAccounts(p)).toMatchObject({ exported: 3, queued: 0, dropped: {} });
    // Three OTLP plugins' requests each hold 3 spans with a few fields of ≤ 32 KiB each.
    expect(otlpMax).toBeLessThan(2 * MiB);
    expect(lsMax).toBeLessThan(2 * MiB);
    expect(longest).toBeLessThan(250);
  });

  // BUG: metadata, trace metadata and tags reach OTel and Langfuse spans uncut, one attribute per
  // key (`AttributeWriter.spread` in packages/otel/src/attribute-writer.ts, Langfuse's `metadata()`
  // in packages/langfuse/src/map.ts), and a step's own `attributes` reach all three OTLP plugins'
  // spans key by key (otel, langfuse and phoenix map.ts); strings are kept whole. Only content goes
  // through the serialisation budgets, and the spans bypass the SDK's attribute limits. A Buffer or a
  // 1M-item array passed as metadata becomes a million attributes: mapping it held the event loop
  // 7.4 s (OTel) and 11+ s (Langfuse) here; 100k attribute keys give Phoenix spans of 100,004
  // attributes; a 16 MiB metadata string makes a 16 MiB attribute, and its request outgrows a
  // collector's limit (413: the whole batch is lost, nothing splits it). LangSmith cuts metadata
  // but not tags: a 50 MiB tag makes a 52 MiB run, dropped as 'run-too-large'
  // (packages/langsmith/src/map.ts).
  it.skip('metadata and attributes are bounded in count and size in every plugin', async () => {
    const { otlp, ls } = await receivers();
    const tracer = tracerWith(exportingPlugins({ otlp: otlp.httpUrl, langsmith: ls.url }));
    const wide: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) wide[`k${i}`] = i;
    const { longest } = await longestTurn(async () => {
      await tracer.custom({ name: 'wide', metadata: wide, attributes: { ...wide } as never }, async () => 1);
      await tracer.custom({ name: 'buffer', metadata: Buffer.alloc(MiB) as never }, async () => 1);
      await tracer.custom(
        { name: 'long', metadata: { note: 'x'.repeat(16 * MiB) }, tags: ['y'.repeat(24 * MiB)] },
        async () => 1,
      );
      await tracer.flush({ timeoutMs: 60_000 });
    });
    expect(ls.runs()).toHaveLength(3);
    for (const span of otlp.spans()) {
      expect(Object.keys(span.attributes).length, `${span.scope.name} ${span.name}`).toBeLessThan(1_200);
      for (const value of Object.values(span.attributes))
        if (typeof value === 'string') expect(value.length).toBeLessThanOrEqual(64 * 1024);
    }
    expect(requestBytes(otlp)).toBeLessThan(4 * MiB);
    expect(longest).toBeLessThan(250);
  });
});

describe('cardinality', () => {
  it('metrics: 3,000 distinct models keep at most 1,000 attribute sets per instrument, the rest in one overflow set', async () => {
    const { otlp } = await receivers();
    const tracer = tracerWith([
      otel({
        endpoint: otlp.httpUrl,
        metrics: { exportIntervalMillis: 60_000 },
        batch: { scheduledDelayMillis: 20, maxQueueSize: 10_000 },
      }),
    ]);
    const models = 3_000;
    for (let i = 0; i < models; i++) {
      await tracer.llm({ model: `model-${i}`, provider: 'openai' }, (step) => {
        step.update({ usage: { inputTokens: 10, outputTokens: 2 } });
        return 'ok';
      });
    }
    await tracer.flush({ timeoutMs: 15_000 });
    await otlp.waitFor({ metrics: 1 }, 5_000);
    const metrics = otlp.metrics();
    const points = Object.fromEntries(
      metrics.map((m) => [m.name, m.dataPoints.length] as const).sort((a, b) => b[1] - a[1]),
    );
    const overflow = metrics.some((m) =>
      m.dataPoints.some((p) => p.attributes['otel.metric.overflow'] === true),
    );
    report(
      'limits: metric cardinality',
      `${models} distinct models → data points per instrument ${JSON.stringify(points)}; overflow set used: ${overflow}; ${otlp.spans().length} spans`,
    );
    expect(otlp.spans()).toHaveLength(models);
    expect(metrics.length).toBeGreaterThan(0);
    for (const m of metrics) expect(m.dataPoints.length, m.name).toBeLessThanOrEqual(2 * 1_000 + 2);
    expect(overflow).toBe(true);
  });

  it('Phoenix: 300 per-request projects (beyond the resource cache and maxCredentialSets) each arrive under their own project', async () => {
    const wrong: string[] = [];
    let spans = 0;
    const otlp = await startOtlpReceiver({
      grpc: false,
      retain: false,
      onData: (data, request) => {
        for (const span of data.spans) {
          spans++;
          const { project } = JSON.parse(String(span.attributes.metadata)) as { project: string };
          const resource = span.resource['openinference.project.name'];
          const header = request.headers['x-project-name'];
          if (resource !== project || header !== project)
            wrong.push(`${project}: resource ${String(resource)}, header ${header}`);
        }
      },
    });
    closers.push(() => otlp.close());
    const tracer = tracerWith([
      phoenix({
        endpoint: otlp.httpUrl,
        batch: { scheduledDelayMillis: 20 },
        project: (step) => String(step.metadata?.project),
      }),
    ]);
    const projects = 300;
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: projects }, (_, p) =>
          tracer.custom({ name: `r${round}`, metadata: { project: `project-${p}` } }, async () => p),
        ),
      );
      await pause(20);
    }
    await tracer.flush({ timeoutMs: 30_000 });
    const stats = tracer.stats().plugins[0]!;
    report(
      'limits: Phoenix projects',
      `${projects} projects × 3 rounds: ${spans} spans in ${otlp.requests.length} requests, ${wrong.length} misfiled (header or resource); ${describeAccounts(stats)}`,
    );
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(spans).toBe(3 * projects);
    expect(identityGap(stats)).toBe(0);
  });

  it('LangSmith: 1,500 projects (beyond the idle-target bound) each get their runs; per-target state stays bounded', async () => {
    const { ls } = await receivers();
    const plugin = langsmith({
      endpoint: ls.url,
      apiKey: KEYS.langsmith,
      flushIntervalMillis: 20,
      project: (step) => String(step.metadata?.project),
    });
    const tracer = tracerWith([plugin]);
    const projects = 1_500;
    await Promise.all(
      Array.from({ length: projects }, (_, p) =>
        tracer.custom({ name: 'r', metadata: { project: `p-${p}` } }, async () => p),
      ),
    );
    await tracer.flush({ timeoutMs: 30_000 });
    await pause(50);
    await tracer.custom({ name: 'one more', metadata: { project: 'p-last' } }, async () => 0);
    await tracer.flush({ timeoutMs: 10_000 });
    const misfiled = ls
      .runs()
      .filter(
        (r) => r.session_name !== (r.extra as { metadata: { project: string } }).metadata.project,
      ).length;
    const targets = plugin.targetStats().length;
    report(
      'limits: LangSmith projects',
      `${projects + 1} projects: ${ls.runs().length} runs in ${ls.requests.length} requests, ${misfiled} misfiled; per-target state kept for ${targets} targets`,
    );
    expect(ls.runs()).toHaveLength(projects + 1);
    expect(misfiled).toBe(0);
    expect(targets).toBeLessThanOrEqual(1_001);
  });
});
