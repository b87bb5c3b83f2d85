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
import { longestTurn } from './support/turns.js';

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

  // Metadata, trace metadata, tags and a step's own attributes, as 100k keys, a Buffer and 16 and
  // 24 MiB strings: every OTLP plugin's spans keep at most `limits.maxObjectKeys` of the app's keys
  // (the rest counted), strings within `maxStringLength`, and LangSmith cuts tags too; mapping stays
  // within a short turn and every run arrives.
  it('metadata and attributes are bounded in count and size in every plugin', async () => {
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
    const spans = otlp.spans();
    const widest = Math.max(0, ...spans.map((span) => Object.keys(span.attributes).length));
    const longestValue = Math.max(
      0,
      ...spans.flatMap((span) =>
        Object.values(span.attributes).map((v) =>
          typeof v === 'string'
            ? v.length
            : Array.isArray(v)
              ? Math.max(0, ...v.map((x) => String(x).length))
              : 0,
        ),
      ),
    );
    const lsBytes = Math.max(0, ...ls.runs().map((r) => JSON.stringify(r).length));
    const dropped = spans
      .map((span) => span.attributes['spanchain.attributes.dropped'])
      .filter((n) => n !== undefined);
    report(
      'limits: metadata and attributes',
      `100k metadata keys + 100k attributes, a 1 MiB Buffer as metadata, a 16 MiB metadata string and a 24 MiB tag: ` +
        `${spans.length} spans, at most ${widest} attributes each (dropped counts ${JSON.stringify(dropped)}), longest string value ${longestValue} chars; ` +
        `largest OTLP request ${(requestBytes(otlp) / MiB).toFixed(2)} MiB, largest LangSmith run ${(lsBytes / MiB).toFixed(2)} MiB; ` +
        `longest turn ${ms(longest)}; ` +
        tracer.stats().plugins.map(describeAccounts).join('; '),
    );
    expect(ls.runs()).toHaveLength(3);
    expect(spans).toHaveLength(9);
    for (const span of spans) {
      expect(Object.keys(span.attributes).length, `${span.scope.name} ${span.name}`).toBeLessThan(1_200);
      for (const value of Object.values(span.attributes)) {
        if (typeof value === 'string') expect(value.length).toBeLessThanOrEqual(64 * 1024);
        if (Array.isArray(value))
          for (const item of value) expect(String(item).length).toBeLessThanOrEqual(64 * 1024);
      }
    }
    expect(lsBytes).toBeLessThan(MiB);
    expect(requestBytes(otlp)).toBeLessThan(4 * MiB);
    // What is left of the walk is listing the keys of each 100k-key record once per plugin (the
    // engine always lists them all, ~10–25 ms here), and the four plugins export in one turn
    // (before: 7.4 s for OTel, 11 s for Langfuse).
    expect(longest).toBeLessThan(1_000);
    for (const p of tracer.stats().plugins)
      expect(p, describeAccounts(p)).toMatchObject({ exported: 3, queued: 0, dropped: {} });
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
