import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { createTracer, type InternalErrorReport, isTraceSampled } from '@spanchain/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type OtelPluginOptions, otel } from './index.js';
import { encodeTraceRequest } from './otlp-proto.js';

const tracers: { shutdown(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(tracers.splice(0).map((t) => t.shutdown()));
  vi.restoreAllMocks();
});

function setup(options: OtelPluginOptions = {}, serviceName = 'svc') {
  const plugin = otel({
    exporter: 'memory',
    metrics: false,
    batch: { scheduledDelayMillis: 10 },
    ...options,
  });
  const reports: InternalErrorReport[] = [];
  const tracer = createTracer({
    serviceName,
    plugins: [plugin],
    flushOnExit: false,
    onError: (r) => reports.push(r),
  });
  tracers.push(tracer);
  return { plugin, tracer, reports };
}

const spansOf = (exporter: InMemorySpanExporter | undefined) => {
  if (!exporter) throw new Error('no memory exporter');
  return exporter.getFinishedSpans();
};
const named = (spans: ReadableSpan[], name: string) => {
  const span = spans.find((s) => s.name === name);
  if (!span) throw new Error(`no span ${name} in ${spans.map((s) => s.name).join(', ')}`);
  return span;
};

describe('spans through the SDK pipeline', () => {
  it('exports each step as a span with the core’s ids, parents, times, resource and scope', async () => {
    const { plugin, tracer } = setup({}, 'checkout');
    let ids: { root?: string; llm?: string; trace?: string } = {};
    const started = Date.now();
    await tracer.chain('root', async (root) => {
      ids = { root: root.spanId, trace: root.traceId };
      await tracer.llm({ name: 'call', model: 'gpt-4o', provider: 'openai' }, async (s) => {
        ids.llm = s.spanId;
      });
    });
    await tracer.flush();
    const spans = spansOf(plugin.memory);
    expect(spans.map((s) => s.name).sort()).toEqual(['chat gpt-4o', 'root']);
    const root = named(spans, 'root');
    const llm = named(spans, 'chat gpt-4o');
    expect(root.spanContext()).toMatchObject({ traceId: ids.trace, spanId: ids.root });
    expect(root.parentSpanContext).toBeUndefined();
    expect(llm.spanContext()).toMatchObject({ traceId: ids.trace, spanId: ids.llm });
    expect(llm.parentSpanContext).toMatchObject({ spanId: ids.root, isRemote: false });
    expect(llm.kind).toBe(SpanKind.CLIENT);
    expect(root.resource.attributes['service.name']).toBe('checkout');
    expect(root.instrumentationScope.name).toBe('@spanchain/otel');
    const startMs = root.startTime[0] * 1000 + root.startTime[1] / 1e6;
    expect(Math.abs(startMs - started)).toBeLessThan(1000);
    expect(plugin.stats()).toMatchObject({ exported: 2, queued: 0, failed: 0 });
  });

  it('marks a child of a remote parent as such', async () => {
    const { plugin, tracer } = setup();
    const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await tracer.chain({ name: 'remote-child', parent }, async () => 1);
    await tracer.flush();
    const span = named(spansOf(plugin.memory), 'remote-child');
    expect(span.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(span.parentSpanContext).toMatchObject({ spanId: 'b7ad6b7169203331', isRemote: true });
  });
});

describe('sampling', () => {
  it('exports whole traces at the given rate, decided by trace id as the core decides', async () => {
    const { plugin, tracer } = setup({ samplingRate: 0.5 });
    const traces: string[] = [];
    for (let i = 0; i < 200; i++) {
      await tracer.chain('root', async (step) => {
        traces.push(step.traceId);
        await tracer.tool('child', () => 1);
      });
    }
    await tracer.flush();
    const spans = spansOf(plugin.memory);
    const kept = new Set(spans.map((s) => s.spanContext().traceId));
    expect(kept.size).toBeGreaterThan(60);
    expect(kept.size).toBeLessThan(140);
    for (const traceId of traces) expect(kept.has(traceId)).toBe(isTraceSampled(traceId, 0.5));
    // Every kept trace is whole: its root and its child.
    expect(spans).toHaveLength(kept.size * 2);
    expect(plugin.stats().dropped).toEqual({ 'sampled-out': (200 - kept.size) * 2 });
  });

  it('exports nothing at 0', async () => {
    const { plugin, tracer } = setup({ samplingRate: 0 });
    await tracer.chain('root', () => 1);
    await tracer.flush();
    expect(spansOf(plugin.memory)).toHaveLength(0);
    expect(plugin.stats().dropped).toEqual({ 'sampled-out': 1 });
  });
});

describe('llmSpans: parent', () => {
  it('puts the LLM call’s attributes on its parent instead of a span of its own', async () => {
    const { plugin, tracer } = setup({ llmSpans: 'parent' });
    await tracer.agent({ name: 'agent', agentName: 'support' }, async () => {
      await tracer.llm({ name: 'call', model: 'gpt-4o', provider: 'openai' }, async (s) => {
        s.update({ usage: { inputTokens: 9, outputTokens: 4 } });
      });
    });
    await tracer.llm({ name: 'root-call', model: 'gpt-4o-mini' }, async () => 1);
    await tracer.flush();
    const spans = spansOf(plugin.memory);
    expect(spans.map((s) => s.name).sort()).toEqual(['chat gpt-4o-mini', 'invoke_agent support']);
    const agent = named(spans, 'invoke_agent support');
    expect(agent.attributes).toMatchObject({
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': 9,
      'gen_ai.usage.output_tokens': 4,
      // The parent's own attributes win.
      'gen_ai.operation.name': 'invoke_agent',
      'spanchain.step.kind': 'agent',
    });
  });

  it('exports an LLM call that ends after its parent as a span of its own', async () => {
    const { plugin, tracer } = setup({ llmSpans: 'parent' });
    let release!: () => void;
    const late = new Promise<void>((resolve) => {
      release = resolve;
    });
    let pending: Promise<unknown> | undefined;
    await tracer.chain('parent', async () => {
      pending = tracer.llm({ name: 'late', model: 'm' }, () => late);
    });
    release();
    await pending;
    await tracer.flush();
    expect(
      spansOf(plugin.memory)
        .map((s) => s.name)
        .sort(),
    ).toEqual(['chat m', 'parent']);
  });
});

describe('failures stay inside the plugin', () => {
  it('counts a failed export, reports it once, and flush still resolves', async () => {
    const failing: SpanExporter = {
      export: (_spans, done) => done({ code: ExportResultCode.FAILED, error: new Error('collector down') }),
      shutdown: async () => undefined,
    };
    // The plugin's reports reach the tracer's onError (not only the process-wide handler).
    const { plugin, tracer, reports } = setup({ exporter: failing });
    const global: InternalErrorReport[] = [];
    const { setErrorHandler } = await import('@spanchain/core');
    setErrorHandler((r) => global.push(r));
    try {
      await tracer.chain('x', async () => 1);
      const report = await tracer.flush();
      expect(report.ok).toBe(true);
      expect(plugin.stats()).toMatchObject({
        exported: 0,
        failed: 1,
        dropped: { 'export-failed': 1 },
        queued: 0,
      });
      expect(reports.map((r) => r.source)).toContain('plugin:otel.export');
      expect(tracer.stats().errors['plugin:otel.export']).toBeGreaterThan(0);
      expect(global).toEqual([]);
    } finally {
      setErrorHandler();
    }
  });

  it('drops and counts beyond the queue bound when the exporter hangs', async () => {
    const hanging: SpanExporter = { export: () => undefined, shutdown: async () => undefined };
    const plugin = otel({
      exporter: hanging,
      metrics: false,
      // Batches of 10 go to the exporter and hang there, 8 at once (the export slots); 10 more
      // spans wait in the queue, and the rest are dropped.
      batch: {
        maxQueueSize: 10,
        maxExportBatchSize: 10,
        scheduledDelayMillis: 60_000,
        exportTimeoutMillis: 60_000,
      },
    });
    const tracer = createTracer({ plugins: [plugin], flushOnExit: false, shutdownTimeoutMs: 200 });
    tracers.push(tracer);
    for (let i = 0; i < 100; i++) await tracer.custom(`s${i}`, async () => i);
    const stats = plugin.stats();
    expect(stats.dropped?.['queue-full']).toBe(10);
    expect(stats.queued).toBe(90);
    expect(stats.exported).toBe(0);
  });

  it('exports a step whose data cannot be read with a minimal mapping, and the rest of its batch in full', async () => {
    // An exporter that encodes as the OTLP exporter does: every span of the batch is read.
    const encoded: ReadableSpan[] = [];
    const encoding: SpanExporter = {
      export: (spans, done) => {
        encodeTraceRequest(spans).then(
          () => {
            encoded.push(...spans);
            done({ code: ExportResultCode.SUCCESS });
          },
          (error: unknown) => done({ code: ExportResultCode.FAILED, error: error as Error }),
        );
      },
      shutdown: async () => undefined,
    };
    const { plugin, tracer, reports } = setup({ exporter: encoding });
    const hostile = {
      get boom(): never {
        throw new Error('getter throws');
      },
    };
    const trap = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('trap throws');
        },
      },
    );
    await tracer.chain('before', async () => 1);
    expect(await tracer.chain({ name: 'getter', metadata: hostile }, async () => 'kept')).toBe('kept');
    await tracer.chain({ name: 'proxy', trace: { metadata: trap } }, async () => 2);
    await tracer.chain('after', async () => 3);
    await tracer.flush();
    expect(plugin.stats()).toMatchObject({ exported: 4, queued: 0, dropped: {} });
    expect(encoded.map((s) => s.name).sort()).toEqual(['after', 'before', 'getter', 'proxy']);
    const getter = named(encoded, 'getter');
    expect(getter.attributes).toMatchObject({
      'spanchain.step.kind': 'chain',
      'spanchain.mapping.error': 'Error: getter throws',
    });
    expect(getter.status.code).toBe(1); // OK: the step itself succeeded
    expect(named(encoded, 'after').attributes['spanchain.mapping.error']).toBeUndefined();
    expect(reports.filter((r) => r.source === 'plugin:otel.map')).toHaveLength(2);
  });

  it('sends the app’s own attribute values OTLP cannot carry as JSON text, and the batch with them', async () => {
    const encoded: ReadableSpan[] = [];
    const encoding: SpanExporter = {
      export: (spans, done) => {
        encodeTraceRequest(spans).then(
          () => {
            encoded.push(...spans);
            done({ code: ExportResultCode.SUCCESS });
          },
          (error: unknown) => done({ code: ExportResultCode.FAILED, error: error as Error }),
        );
      },
      shutdown: async () => undefined,
    };
    const { plugin, tracer } = setup({ exporter: encoding });
    const cycle: unknown[] = [1];
    cycle.push(cycle);
    const own = {
      'app.cycle': cycle,
      'app.big': 2n,
      'app.nested': [[1]],
      'app.mixed': [1, 'a'],
      'app.ok': [1, 2],
    };
    await tracer.custom({ name: 'odd', attributes: own as never }, (step) => {
      step.addEvent('seen', { detail: { deep: true } } as never);
    });
    await tracer.custom('plain', () => 1);
    await tracer.flush();
    expect(plugin.stats()).toMatchObject({ exported: 2, dropped: {} });
    const odd = named(encoded, 'odd');
    expect(odd.attributes).toMatchObject({
      'app.cycle': expect.any(String),
      'app.big': expect.any(String),
      'app.nested': '[[1]]',
      'app.mixed': '[1,"a"]',
      'app.ok': [1, 2],
    });
    expect(odd.events[0]?.attributes).toEqual({ detail: '{"deep":true}' });
    expect(odd.attributes['spanchain.mapping.error']).toBeUndefined();
    // The app's objects are left as they were.
    expect(own['app.nested']).toEqual([[1]]);
  });

  it('flushes a queue of more batches than exports may run at once, and waits for every one', async () => {
    // The batch processor hands all queued batches to the exporter at once on flush; the SDK's OTLP
    // exporters refuse more than 30 at a time. One batch failing must not end the flush early.
    let active = 0;
    let most = 0;
    let calls = 0;
    const slow: SpanExporter = {
      export: (_spans, done) => {
        calls++;
        active++;
        most = Math.max(most, active);
        if (active > 30) {
          active--;
          done({ code: ExportResultCode.FAILED, error: new Error('Concurrent export limit reached') });
          return;
        }
        const failing = calls === 1;
        setTimeout(() => {
          active--;
          done(
            failing
              ? { code: ExportResultCode.FAILED, error: new Error('first batch refused') }
              : { code: ExportResultCode.SUCCESS },
          );
        }, 20);
      },
      shutdown: async () => undefined,
    };
    const { plugin, tracer } = setup({
      exporter: slow,
      batch: { maxQueueSize: 5_000, maxExportBatchSize: 50, scheduledDelayMillis: 60_000 },
    });
    for (let i = 0; i < 2_000; i++) tracer.custom(`s${i}`, () => i);
    await tracer.flush({ timeoutMs: 10_000 });
    const stats = plugin.stats();
    expect(most).toBeLessThanOrEqual(30);
    // 40 batches: the first refused by the backend, every other one delivered, none still running.
    expect(stats).toMatchObject({ exported: 1_950, queued: 0, dropped: { 'export-failed': 50 } });
  });

  it('drops a step whose headers function throws, and the traced code is untouched', async () => {
    const { plugin, tracer } = setup({
      exporter: 'memory',
      headers: () => {
        throw new Error('no team');
      },
    });
    const result = await tracer.tool('t', async () => 'ok');
    expect(result).toBe('ok');
    expect(plugin.stats().dropped).toMatchObject({ 'headers-error': 1 });
  });
});

describe('per-team headers', () => {
  it('sends every team’s spans with its headers, also after its pipeline was evicted and made again', async () => {
    // A collector that notes each request's team header.
    const seen: string[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push(String(req.headers['x-team'] ?? 'none'));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      // The same header object for the same team, as plugins built on this one cache them.
      const byTeam = new Map(['red', 'blue', 'green'].map((t) => [t, { 'x-team': t }]));
      const { tracer } = setup({
        exporter: 'otlp',
        endpoint: `http://127.0.0.1:${port}`,
        maxCredentialSets: 1, // every change of team evicts the other team's pipeline
        headers: (step) => byTeam.get(String(step.identity?.team)),
      });
      for (let i = 0; i < 12; i++) {
        await tracer.custom(
          { name: `s${i}`, identity: { team: ['red', 'blue', 'green'][i % 3] } },
          async () => i,
        );
      }
      await tracer.flush();
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.filter((team) => team === 'none')).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('where spans go', () => {
  it('hands spans to the app’s own processors', async () => {
    const exporter = new InMemorySpanExporter();
    const { tracer } = setup({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    await tracer.retrieval({ name: 'r', dataSource: 'kb' }, async () => []);
    await tracer.flush();
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['retrieval kb']);
  });

  it('emits through the app’s provider with the core’s ids', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const { tracer } = setup({ tracerProvider: provider });
    let ids: string[] = [];
    await tracer.chain('outer', async (outer) => {
      await tracer.tool({ name: 'inner', toolName: 'calc' }, async (inner) => {
        ids = [outer.traceId, outer.spanId, inner.spanId];
      });
    });
    await tracer.flush();
    const spans = exporter.getFinishedSpans();
    const outer = named(spans, 'outer');
    const inner = named(spans, 'execute_tool calc');
    expect(outer.spanContext()).toMatchObject({ traceId: ids[0], spanId: ids[1] });
    expect(inner.spanContext()).toMatchObject({ traceId: ids[0], spanId: ids[2] });
    expect(inner.parentSpanContext?.spanId).toBe(ids[1]);
    await provider.shutdown();
  });

  it('applies its own redaction on top of the tracer’s', async () => {
    const { plugin, tracer } = setup({ captureContent: true, redact: { content: false } });
    await tracer.llm(
      { name: 'c', model: 'm', inputMessages: [{ role: 'user', content: 'my password is hunter2' }] },
      async () => 'the answer',
    );
    await tracer.flush();
    const span = named(spansOf(plugin.memory), 'chat m');
    expect(JSON.stringify(span.attributes)).not.toContain('hunter2');
    expect(JSON.stringify(span.attributes)).not.toContain('the answer');
    expect(span.attributes['spanchain.redacted']).toBeDefined();
  });
});

describe('for plugin authors', () => {
  it('maps with a given mapper and names the given scope, reusing the rest of the pipeline', async () => {
    const { plugin, tracer } = setup({
      scope: { name: '@spanchain/custom', version: '9.9.9' },
      mapper: (step, options) => ({
        name: `custom ${step.name}`,
        kind: SpanKind.INTERNAL,
        attributes: { 'custom.kind': step.kind, 'custom.content': options.captureContent },
        events: [],
        status: { code: 0 },
      }),
    });
    await tracer.tool('t', async () => 1);
    await tracer.flush();
    const [span] = spansOf(plugin.memory);
    expect(span?.name).toBe('custom t');
    expect(span?.attributes).toEqual({ 'custom.kind': 'tool', 'custom.content': false });
    expect(span?.instrumentationScope).toEqual({ name: '@spanchain/custom', version: '9.9.9' });
  });

  it('adds per-step resource attributes, one resource per distinct value, and survives a throwing hook', async () => {
    const projects: Record<string, Record<string, string>> = { a: { project: 'a' }, b: { project: 'b' } };
    const { setErrorHandler } = await import('@spanchain/core');
    const { plugin, tracer, reports } = setup({
      resourceAttributes: { team: 'search' },
      stepResource: (step) => {
        if (step.name === 'boom') throw new Error('no project');
        return projects[String(step.metadata?.project)];
      },
    });
    try {
      for (const project of ['a', 'b', 'a', 'none']) {
        await tracer.chain({ name: `step-${project}`, metadata: { project } }, async () => 1);
      }
      await tracer.chain('boom', async () => 1);
      await tracer.flush();
    } finally {
      setErrorHandler();
    }
    const spans = spansOf(plugin.memory);
    const resourceOf = (name: string) => named(spans, name).resource;
    expect(resourceOf('step-a').attributes).toMatchObject({
      project: 'a',
      team: 'search',
      'service.name': 'svc',
    });
    expect(resourceOf('step-b').attributes.project).toBe('b');
    expect(resourceOf('step-none').attributes.project).toBeUndefined();
    expect(resourceOf('boom').attributes.project).toBeUndefined();
    // The same values give the same resource object (the exporter groups spans by it).
    const sameA = spans.filter((s) => s.name === 'step-a').map((s) => s.resource);
    expect(sameA).toHaveLength(2);
    expect(sameA[0]).toBe(sameA[1]);
    expect(resourceOf('step-a')).not.toBe(resourceOf('step-b'));
    expect(reports.map((r) => r.source)).toContain('plugin:otel.stepResource');
  });
});

describe('debug output', () => {
  it('says what it does without printing credentials', async () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const failing: SpanExporter = {
      export: (_spans, done) =>
        done({ code: ExportResultCode.FAILED, error: new Error('401 for token s3cr3t-value-xyz') }),
      shutdown: async () => undefined,
    };
    const plugin = otel({
      exporter: failing,
      metrics: false,
      debug: true,
      headers: { authorization: 's3cr3t-value-xyz' },
    });
    const tracer = createTracer({ plugins: [plugin], flushOnExit: false, onError: () => undefined });
    await tracer.chain('x', async () => 1);
    await tracer.shutdown();
    vi.restoreAllMocks();
    const text = lines.join('');
    expect(text).toContain('[spanchain:otel] configured');
    expect(text).toContain('authorization');
    expect(text).toContain('export of 1 spans failed');
    expect(text).not.toContain('s3cr3t-value-xyz');
  });
});
