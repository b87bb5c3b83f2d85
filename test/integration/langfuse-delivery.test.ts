// @spanchain/langfuse delivery against the loopback receiver: per-team key pairs never mixed in one
// request, retries on 429/503 with Retry-After, immediate (serverless) mode, debug output without
// keys, and the plugin loaded by name from LANGFUSE_* variables.
import { createTracer, setErrorHandler, type Tracer } from '@spanchain/core';
import { type LangfusePluginOptions, langfuse } from '@spanchain/langfuse';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ReceivedRequest } from '../support/otlp-receiver.js';
import { useOtlpReceiver } from '../support/receiver-fixture.js';

const PK = 'pk-lf-default-1111111111';
const SK = 'sk-lf-default-2222222222-delivery';
const TEAMS: Record<string, { publicKey: string; secretKey: string }> = {
  red: { publicKey: 'pk-lf-red-333333333333', secretKey: 'sk-lf-red-444444444444-secret' },
  blue: { publicKey: 'pk-lf-blue-55555555555', secretKey: 'sk-lf-blue-66666666666-secret' },
};
const basic = (pk: string, sk: string) => `Basic ${Buffer.from(`${pk}:${sk}`).toString('base64')}`;

const fixture = useOtlpReceiver({ grpc: false });
const { tracers } = fixture;

afterEach(() => {
  vi.restoreAllMocks();
  setErrorHandler();
});

function startTracer(options: LangfusePluginOptions = {}): Tracer {
  const tracer = createTracer({
    flushOnExit: false,
    plugins: [
      langfuse(
        {
          publicKey: PK,
          secretKey: SK,
          baseUrl: fixture.receiver.httpUrl,
          flushIntervalMillis: 10,
          ...options,
        },
        {},
      ),
    ],
  });
  tracers.push(tracer);
  return tracer;
}

/** Span names and identity teams of one OTLP/JSON request. */
function spansOf(request: ReceivedRequest): { name: string; team: string | undefined }[] {
  const body = request.decoded as {
    resourceSpans: {
      scopeSpans: {
        spans: { name: string; attributes: { key: string; value: { stringValue?: string } }[] }[];
      }[];
    }[];
  };
  const out: { name: string; team: string | undefined }[] = [];
  for (const rs of body.resourceSpans)
    for (const ss of rs.scopeSpans)
      for (const s of ss.spans) {
        const identity = s.attributes.find((a) => a.key === 'langfuse.observation.metadata.identity');
        const team = identity?.value.stringValue
          ? (JSON.parse(identity.value.stringValue) as { team?: string }).team
          : undefined;
        out.push({ name: s.name, team });
      }
  return out;
}

const pluginStats = (tracer: Tracer) => tracer.stats().plugins.find((p) => p.name === 'langfuse');

describe('per-team key pairs', () => {
  it('exports each team with its own keys, never two teams in one request', async () => {
    const tracer = startTracer({
      protocol: 'http/json',
      credentials: (step) => {
        const team = step.identity?.team;
        return team === undefined ? undefined : TEAMS[team];
      },
    });
    const order = ['red', 'blue', 'red', 'blue', 'blue', 'red', undefined];
    for (const [i, team] of order.entries()) {
      await tracer.chain({ name: `job-${i}`, ...(team && { identity: { team } }) }, async () =>
        tracer.tool({ name: `tool-${i}` }, async () => i),
      );
    }
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: order.length * 2 }, 5000);

    const expectedAuth: Record<string, string> = {
      red: basic(TEAMS.red!.publicKey, TEAMS.red!.secretKey),
      blue: basic(TEAMS.blue!.publicKey, TEAMS.blue!.secretKey),
      default: basic(PK, SK),
    };
    const seen = new Set<string>();
    for (const request of fixture.receiver.requests) {
      const spans = spansOf(request);
      const teams = new Set(spans.map((s) => s.team ?? 'default'));
      expect(teams.size, JSON.stringify(spans)).toBe(1);
      const team = [...teams][0]!;
      seen.add(team);
      expect(request.headers.authorization).toBe(expectedAuth[team]);
      expect(request.headers['x-langfuse-public-key']).toBe(team === 'default' ? PK : TEAMS[team]!.publicKey);
      for (const key of [SK, TEAMS.red!.secretKey, TEAMS.blue!.secretKey])
        expect(request.body.includes(key)).toBe(false);
    }
    expect([...seen].sort()).toEqual(['blue', 'default', 'red']);
  });

  it('drops (and counts) a step with no key pair when the plugin has none', async () => {
    const reports: string[] = [];
    // The plugin reports through the process-wide handler.
    setErrorHandler((report) => reports.push(`${report.source}: ${report.message}`));
    const tracer = createTracer({
      flushOnExit: false,
      plugins: [
        langfuse(
          {
            baseUrl: fixture.receiver.httpUrl,
            flushIntervalMillis: 10,
            credentials: (step) => (step.identity?.team === 'red' ? TEAMS.red : undefined),
          },
          {},
        ),
      ],
    });
    tracers.push(tracer);
    await tracer.chain({ name: 'red-job', identity: { team: 'red' } }, async () => 1);
    await tracer.chain('keyless-job', async () => 1);
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 1 }, 5000);
    expect(fixture.receiver.spans().map((s) => s.name)).toEqual(['red-job']);
    expect(pluginStats(tracer)?.dropped).toMatchObject({ 'headers-error': 1 });
    expect(reports).toEqual([
      'plugin:langfuse.headers: Error: no Langfuse key pair for this step (credentials returned none)',
    ]);
  });
});

describe('backend answers', () => {
  it.each([429, 503])('retries after %i with Retry-After, then delivers', async (status) => {
    let first = true;
    fixture.receiver.respondWith(() => {
      if (!first) return { status: 'ok' };
      first = false;
      return { status, retryAfter: 1, body: 'slow down' };
    });
    const tracer = startTracer();
    await tracer.chain('retried', async () => 'x');
    const report = await tracer.flush();
    expect(report.timedOut).toBe(false);
    await fixture.receiver.waitFor({ spans: 1 }, 5000);
    const outcomes = fixture.receiver.requests.map((r) => r.outcome?.kind);
    expect(outcomes).toEqual(['rejected', 'accepted']);
    // Retry-After: 1 (second) was honoured.
    expect(
      fixture.receiver.requests[1]!.receivedAt - fixture.receiver.requests[0]!.receivedAt,
    ).toBeGreaterThanOrEqual(900);
    expect(pluginStats(tracer)).toMatchObject({ exported: 1, failed: 0 });
  });
});

describe('immediate mode', () => {
  it('sends each span as its step ends, without waiting for a batch', async () => {
    const tracer = startTracer({ immediate: true, flushIntervalMillis: 60_000 });
    await tracer.chain('one', async () => 1);
    await fixture.receiver.waitFor({ spans: 1 }, 3000);
    await tracer.chain('two', async () => 2);
    await fixture.receiver.waitFor({ spans: 2 }, 3000);
    expect(fixture.receiver.requests).toHaveLength(2);
    expect(fixture.receiver.spans().map((s) => s.name)).toEqual(['one', 'two']);
  });
});

describe('debug output', () => {
  it('prints configuration and results to stderr, never a key, even when the backend echoes it', async () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    let calls = 0;
    fixture.receiver.respondWith((request) =>
      calls++ === 0
        ? { status: 401, body: `bad credentials ${request.headers.authorization ?? ''} secret=${SK}` }
        : { status: 'ok' },
    );
    setErrorHandler((report) => written.push(report.message));
    const tracer = createTracer({
      flushOnExit: false,
      plugins: [
        langfuse(
          {
            publicKey: PK,
            secretKey: SK,
            baseUrl: fixture.receiver.httpUrl,
            flushIntervalMillis: 10,
            debug: true,
          },
          {},
        ),
      ],
    });
    tracers.push(tracer);
    await tracer.chain('first', async () => 1);
    await tracer.flush();
    await tracer.chain('second', async () => 2);
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 1 }, 5000);
    vi.restoreAllMocks();

    const text = written.join('');
    expect(text).toContain('configured');
    expect(text).toContain('/api/public/otel');
    expect(text).toMatch(/export of 1 spans failed/);
    expect(text).toMatch(/exported 1 spans/);
    expect(text).not.toContain(SK);
    expect(text).not.toContain(Buffer.from(`${PK}:${SK}`).toString('base64'));
    for (const request of fixture.receiver.requests) expect(request.body.includes(SK)).toBe(false);
  });
});

describe('loading by name', () => {
  it("createTracer({ plugins: ['langfuse'] }) reads LANGFUSE_* variables", async () => {
    // The plugin is made when its package has loaded (asynchronously) and reads process.env then:
    // keep the variables until flush(), which waits for the load.
    const saved = { ...process.env };
    for (const key of Object.keys(process.env)) {
      if (key.startsWith('LANGFUSE_') || key.startsWith('OTEL_') || key.startsWith('SPANCHAIN_'))
        delete process.env[key];
    }
    Object.assign(process.env, {
      LANGFUSE_PUBLIC_KEY: PK,
      LANGFUSE_SECRET_KEY: SK,
      LANGFUSE_HOST: fixture.receiver.httpUrl,
      LANGFUSE_FLUSH_INTERVAL: '0.01',
      LANGFUSE_TRACING_ENVIRONMENT: 'ci',
    });
    let tracer: Tracer;
    try {
      tracer = createTracer({ plugins: ['langfuse'], flushOnExit: false });
      tracers.push(tracer);
      await tracer.chain('by-name', async () => tracer.llm({ model: 'gpt-4o' }, async () => 'named'));
      const report = await tracer.flush();
      expect(report.timedOut).toBe(false);
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
    await fixture.receiver.waitFor({ spans: 2 }, 3000);
    const spans = fixture.receiver.spans();
    expect(spans.map((s) => s.attributes['langfuse.observation.type']).sort()).toEqual([
      'chain',
      'generation',
    ]);
    expect(spans.every((s) => s.attributes['langfuse.environment'] === 'ci')).toBe(true);
    expect(fixture.receiver.requests.every((r) => r.path === '/api/public/otel/v1/traces')).toBe(true);
    expect(fixture.receiver.requests.every((r) => r.headers.authorization === basic(PK, SK))).toBe(true);
    expect(pluginStats(tracer)).toMatchObject({ received: 2, exported: 2 });
  });
});
