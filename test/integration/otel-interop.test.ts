// Interop with an app's own OpenTelemetry SDK: a NodeTracerProvider with the HTTP instrumentation,
// registered globally, next to spanchain and @spanchain/otel. The scenario runs in a child process
// (interop/app-with-otel-sdk.mjs) because the HTTP instrumentation patches `http` through require
// hooks, which an ESM test file under vitest does not reliably go through; the child prints the
// exported spans, and the tests below check the ids on that exported data.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SpanKind } from '@opentelemetry/api';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = fileURLToPath(new URL('./interop/app-with-otel-sdk.mjs', import.meta.url));
// The workspace packages and the SDK resolve from test/.
const cwd = fileURLToPath(new URL('..', import.meta.url));

type Source = 'app-exporter' | 'plugin-exporter';

interface SpanLine {
  type: 'span';
  source: Source;
  scope: string;
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  parentTraceId?: string;
  attributes: Record<string, unknown>;
}
interface RequestLine {
  type: 'request';
  path: string;
  traceparent?: string;
}
interface HandleLine {
  type: 'handle';
  name: string;
  traceId: string;
  spanId: string;
}
interface StatsLine {
  type: 'stats';
  received: number;
  exported: number;
  dropped: Record<string, number>;
}
type Line = SpanLine | RequestLine | HandleLine | StatsLine;

const HTTP_SCOPE = '@opentelemetry/instrumentation-http';
const PLUGIN_SCOPE = '@spanchain/otel';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

class Output {
  constructor(readonly lines: Line[]) {}

  get spans(): SpanLine[] {
    return this.lines.filter((l): l is SpanLine => l.type === 'span');
  }

  /** The one span matching, failing loudly if there are none or several. */
  one(predicate: (span: SpanLine) => boolean, what: string): SpanLine {
    const found = this.spans.filter(predicate);
    expect(found, `${what}: ${JSON.stringify(this.spans, null, 1)}`).toHaveLength(1);
    return found[0] as SpanLine;
  }

  stepSpan(name: string): SpanLine {
    return this.one((s) => s.scope === PLUGIN_SCOPE && s.name === name, `step span ${name}`);
  }

  httpClient(path: string): SpanLine {
    return this.one(
      (s) =>
        s.scope === HTTP_SCOPE &&
        s.kind === SpanKind.CLIENT &&
        typeof s.attributes['url.full'] === 'string' &&
        new URL(s.attributes['url.full']).pathname === path,
      `HTTP client span for ${path}`,
    );
  }

  httpServer(path: string): SpanLine {
    return this.one(
      (s) => s.scope === HTTP_SCOPE && s.kind === SpanKind.SERVER && s.attributes['url.path'] === path,
      `HTTP server span for ${path}`,
    );
  }

  appSpan(name: string): SpanLine {
    return this.one((s) => s.scope === 'interop-app' && s.name === name, `app span ${name}`);
  }

  stats(): StatsLine {
    const found = this.lines.filter((l): l is StatsLine => l.type === 'stats');
    expect(found).toHaveLength(1);
    return found[0] as StatsLine;
  }

  handle(name: string): HandleLine {
    const found = this.lines.filter((l): l is HandleLine => l.type === 'handle' && l.name === name);
    expect(found).toHaveLength(1);
    return found[0] as HandleLine;
  }

  traceparent(path: string): string {
    const found = this.lines.filter((l): l is RequestLine => l.type === 'request' && l.path === path);
    expect(found).toHaveLength(1);
    const value = found[0]?.traceparent;
    expect(value, `traceparent received on ${path}`).toMatch(TRACEPARENT);
    return value as string;
  }
}

async function scenario(mode: string): Promise<Output> {
  const { stdout } = await run(process.execPath, [script, mode], { cwd, timeout: 20_000 });
  const lines = stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Line);
  return new Output(lines);
}

const modes = [
  {
    mode: 'private',
    title: "the plugin's private pipeline next to the app's provider",
    stepSource: 'plugin-exporter',
  },
  {
    mode: 'app-provider',
    title: "the plugin emitting through the app's provider (tracerProvider)",
    stepSource: 'app-exporter',
  },
] as const;

describe.each(modes)('OpenTelemetry interop: $title', ({ mode, stepSource }) => {
  let out: Output;

  beforeAll(async () => {
    out = await scenario(mode);
  }, 30_000);

  it('the HTTP instrumentation really produced client and server spans', () => {
    for (const path of ['/inside-step', '/inside-app-span', '/nested']) {
      const client = out.httpClient(path);
      expect(client.source).toBe('app-exporter');
      expect(client.attributes['http.request.method']).toBe('GET');
      expect(client.attributes['server.address']).toBe('127.0.0.1');
      expect(client.attributes['http.response.status_code']).toBe(200);
      const server = out.httpServer(path);
      expect(server.source).toBe('app-exporter');
      expect(server.attributes['http.request.method']).toBe('GET');
    }
  });

  it("an HTTP client span made inside a step is the step span's child, in the same trace", () => {
    const step = out.stepSpan('lookup-step');
    expect(step.source).toBe(stepSource);
    // The exported step span carries exactly the ids the step had while it ran.
    const handle = out.handle('lookup-step');
    expect({ traceId: step.traceId, spanId: step.spanId }).toEqual({
      traceId: handle.traceId,
      spanId: handle.spanId,
    });
    expect(step.parentSpanId).toBeUndefined();

    const client = out.httpClient('/inside-step');
    expect(client.traceId).toBe(step.traceId);
    expect(client.parentSpanId).toBe(step.spanId);
    expect(client.parentTraceId).toBe(step.traceId);
  });

  it("the server span is the client span's child: step → HTTP client → HTTP server", () => {
    const step = out.stepSpan('lookup-step');
    const client = out.httpClient('/inside-step');
    const server = out.httpServer('/inside-step');
    expect(server.traceId).toBe(step.traceId);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(client.parentSpanId).toBe(step.spanId);
  });

  it("the traceparent the server received carries the step's trace id and the client span's id", () => {
    const step = out.stepSpan('lookup-step');
    const client = out.httpClient('/inside-step');
    const [, traceId, parentId] = TRACEPARENT.exec(out.traceparent('/inside-step')) ?? [];
    expect(traceId).toBe(step.traceId);
    expect(parentId).toBe(client.spanId);
    // Not the step's own id: the app's instrumentation made the client span under the step.
    expect(parentId).not.toBe(step.spanId);
  });

  it("a step started inside an app span is that span's child, and the HTTP call inside it the step's", () => {
    const appSpan = out.appSpan('app-request');
    expect(appSpan.source).toBe('app-exporter');
    expect(appSpan.parentSpanId).toBeUndefined();

    const step = out.stepSpan('step-in-app-span');
    expect(step.source).toBe(stepSource);
    expect(step.traceId).toBe(appSpan.traceId);
    expect(step.parentSpanId).toBe(appSpan.spanId);
    expect(step.parentTraceId).toBe(appSpan.traceId);
    const handle = out.handle('step-in-app-span');
    expect({ traceId: step.traceId, spanId: step.spanId }).toEqual({
      traceId: handle.traceId,
      spanId: handle.spanId,
    });

    const client = out.httpClient('/inside-app-span');
    expect(client.traceId).toBe(appSpan.traceId);
    expect(client.parentSpanId).toBe(step.spanId);
    expect(out.httpServer('/inside-app-span').parentSpanId).toBe(client.spanId);
    const [, traceId, parentId] = TRACEPARENT.exec(out.traceparent('/inside-app-span')) ?? [];
    expect(traceId).toBe(appSpan.traceId);
    expect(parentId).toBe(client.spanId);
  });

  it("step → app span → step: the app span is the outer step's child, the HTTP call the inner step's", () => {
    const outer = out.stepSpan('outer-step');
    const appMid = out.appSpan('app-mid');
    const inner = out.stepSpan('step-under-app-mid');
    expect(outer.parentSpanId).toBeUndefined();
    expect(appMid.traceId).toBe(outer.traceId);
    expect(appMid.parentSpanId).toBe(outer.spanId);
    expect(inner.traceId).toBe(outer.traceId);
    const handle = out.handle('step-under-app-mid');
    expect({ traceId: inner.traceId, spanId: inner.spanId }).toEqual({
      traceId: handle.traceId,
      spanId: handle.spanId,
    });
    const client = out.httpClient('/nested');
    expect(client.traceId).toBe(outer.traceId);
    expect(client.parentSpanId).toBe(inner.spanId);
    expect(out.httpServer('/nested').parentSpanId).toBe(client.spanId);
  });

  // The innermost span is the parent: step → app span → step (fixed in the core's parent resolution).
  it('step → app span → step: the inner step is the app span’s child', () => {
    const appMid = out.appSpan('app-mid');
    const inner = out.stepSpan('step-under-app-mid');
    expect(inner.parentSpanId).toBe(appMid.spanId);
  });

  it('every span is exported once, with its own span id', () => {
    const ids = out.spans.map((s) => s.spanId);
    expect(new Set(ids).size).toBe(ids.length);
    // 4 steps, 2 app spans, a client and a server span for each of the 3 requests.
    expect(out.spans).toHaveLength(12);
    expect(out.stats()).toMatchObject({ received: 4, exported: 4, dropped: {} });
  });

  if (mode === 'app-provider') {
    it("the whole tree is in the app's exporter alone", () => {
      expect(out.spans.every((s) => s.source === 'app-exporter')).toBe(true);
      const step = out.stepSpan('lookup-step');
      const trace = out.spans.filter((s) => s.traceId === step.traceId);
      // step (root) → client → server, nothing else and nothing dangling.
      expect(trace.map((s) => s.name).sort()).toEqual(['GET', 'GET', 'lookup-step']);
      const byId = new Map(trace.map((s) => [s.spanId, s]));
      for (const span of trace) {
        if (span !== step) expect(byId.has(span.parentSpanId as string)).toBe(true);
      }
    });
  } else {
    it("the step spans go to the plugin's pipeline only, the app's spans to the app's exporter only", () => {
      const pluginSpans = out.spans.filter((s) => s.source === 'plugin-exporter');
      expect(pluginSpans.map((s) => s.name).sort()).toEqual([
        'lookup-step',
        'outer-step',
        'step-in-app-span',
        'step-under-app-mid',
      ]);
      expect(pluginSpans.every((s) => s.scope === PLUGIN_SCOPE)).toBe(true);
      expect(out.spans.filter((s) => s.source === 'app-exporter' && s.scope === PLUGIN_SCOPE)).toEqual([]);
    });
  }
});

describe("OpenTelemetry interop: llmSpans 'parent' under an app span", () => {
  let out: Output;

  beforeAll(async () => {
    out = await scenario('llm-parent');
  }, 30_000);

  it('an LLM call under a step is folded into the step span (the mode is really on)', () => {
    const chain = out.stepSpan('chain-step');
    expect(chain.attributes['gen_ai.request.model']).toBe('model-under-step');
    expect(out.spans.filter((s) => s.name === 'chat model-under-step')).toEqual([]);
  });

  // Only a step can take an LLM call's attributes; under an app span the call stays a span of its own.
  it('an LLM call whose parent is an app span is exported as its own span, the app span’s child', () => {
    const appSpan = out.appSpan('app-request');
    const llm = out.one((s) => s.name === 'chat model-under-app-span', 'LLM span under the app span');
    expect(llm.source).toBe('plugin-exporter');
    expect(llm.traceId).toBe(appSpan.traceId);
    expect(llm.parentSpanId).toBe(appSpan.spanId);
  });
});
