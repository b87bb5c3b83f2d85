// @spanchain/phoenix delivery against the loopback receiver: per-request projects and per-team API
// keys never mixed in one request, the transport detected from each endpoint form (grpc://, the gRPC
// port without a path, a base URL, a full /v1/traces URL, a custom path), the variables Phoenix's
// own packages read, the plugin loaded by name, and debug output without keys.
import { createTracer, setErrorHandler, type Tracer } from '@spanchain/core';
import { type PhoenixPluginOptions, phoenix } from '@spanchain/phoenix';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OtlpSpan, ReceivedRequest } from '../support/otlp-receiver.js';
import { decodeOtlpProtobuf } from '../support/otlp-receiver.js';
import { useOtlpReceiver } from '../support/receiver-fixture.js';

const API_KEY = 'px-default-1111111111111111';
const TEAMS: Record<string, string> = {
  red: 'px-red-2222222222222222-secret',
  blue: 'px-blue-333333333333333-secret',
};

const fixture = useOtlpReceiver();
const { tracers } = fixture;

afterEach(() => {
  vi.restoreAllMocks();
  setErrorHandler();
});

function startTracer(options: PhoenixPluginOptions = {}, env: NodeJS.ProcessEnv = {}): Tracer {
  const tracer = createTracer({
    flushOnExit: false,
    plugins: [phoenix({ batch: { scheduledDelayMillis: 10 }, ...options }, env)],
  });
  tracers.push(tracer);
  return tracer;
}

const pluginStats = (tracer: Tracer) => tracer.stats().plugins.find((p) => p.name === 'phoenix');

interface SentSpan {
  name: string;
  project: unknown;
  metadata: Record<string, unknown>;
}

/** The spans of one request with the project of their resource and their metadata. */
function spansOf(request: ReceivedRequest): SentSpan[] {
  const body = decodeOtlpProtobuf('traces', request.body) as {
    resourceSpans: {
      resource: { attributes: { key: string; value: { stringValue?: string } }[] };
      scopeSpans: {
        spans: { name: string; attributes: { key: string; value: { stringValue?: string } }[] }[];
      }[];
    }[];
  };
  const out: SentSpan[] = [];
  for (const rs of body.resourceSpans) {
    const project = rs.resource.attributes.find((a) => a.key === 'openinference.project.name')?.value
      .stringValue;
    for (const ss of rs.scopeSpans)
      for (const s of ss.spans) {
        const metadata = s.attributes.find((a) => a.key === 'metadata')?.value.stringValue;
        out.push({ name: s.name, project, metadata: metadata ? JSON.parse(metadata) : {} });
      }
  }
  return out;
}

describe('per-request projects and per-team keys', () => {
  it('exports each (key, project) pair in its own requests, header and resource agreeing', async () => {
    const tracer = startTracer({
      endpoint: fixture.receiver.httpUrl,
      apiKey: API_KEY,
      project: 'main',
      credentials: (step) => (step.identity?.team === undefined ? undefined : TEAMS[step.identity.team]),
    });
    const jobs: Array<{ team?: string; project?: string }> = [
      { team: 'red' },
      { team: 'blue', project: 'experiments' },
      {},
      { team: 'red', project: 'experiments' },
      { project: 'experiments' },
      { team: 'blue' },
      { team: 'red' },
    ];
    for (const [i, job] of jobs.entries()) {
      await tracer.chain(
        {
          name: `job-${i}`,
          ...(job.team && { identity: { team: job.team } }),
          ...(job.project && { trace: { metadata: { phoenix_project_name: job.project } } }),
        },
        async () => tracer.tool({ name: `tool-${i}` }, async () => i),
      );
    }
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: jobs.length * 2 }, 5000);

    const seen = new Set<string>();
    for (const request of fixture.receiver.requests) {
      const spans = spansOf(request);
      const teams = new Set(
        spans.map((s) => String((s.metadata.identity as { team?: string })?.team ?? 'default')),
      );
      const projects = new Set(spans.map((s) => s.project));
      expect(teams.size, JSON.stringify(spans)).toBe(1);
      expect(projects.size, JSON.stringify(spans)).toBe(1);
      const team = [...teams][0] as string;
      const project = [...projects][0] as string;
      seen.add(`${team}/${project}`);
      expect(request.headers.authorization).toBe(`Bearer ${team === 'default' ? API_KEY : TEAMS[team]}`);
      expect(request.headers['x-project-name']).toBe(project);
      for (const key of [API_KEY, ...Object.values(TEAMS)]) expect(request.body.includes(key)).toBe(false);
    }
    expect([...seen].sort()).toEqual([
      'blue/experiments',
      'blue/main',
      'default/experiments',
      'default/main',
      'red/experiments',
      'red/main',
    ]);
    // Every span of a job went to its job's project, children included (Phoenix files a trace by its first span).
    const spans = fixture.receiver.spans();
    for (const [i, job] of jobs.entries()) {
      for (const name of [`job-${i}`, `tool-${i}`]) {
        const span = spans.find((s) => s.name === name) as OtlpSpan;
        expect(span.resource['openinference.project.name'], name).toBe(job.project ?? 'main');
      }
    }
  });

  it('a project function decides per step; a step without a key for its team is dropped and counted', async () => {
    const reports: string[] = [];
    setErrorHandler((report) => reports.push(`${report.source}: ${report.message}`));
    const tracer = startTracer({
      endpoint: fixture.receiver.httpUrl,
      project: (step) => (step.identity?.team ? `team-${step.identity.team}` : undefined),
      credentials: (step) => {
        if (step.identity?.team === 'ghost') throw new Error('no key for team ghost');
        return undefined;
      },
    });
    await tracer.chain({ name: 'red-job', identity: { team: 'red' } }, async () => 1);
    await tracer.chain({ name: 'ghost-job', identity: { team: 'ghost' } }, async () => 1);
    await tracer.chain('plain-job', async () => 1);
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 2 }, 5000);
    const projects = Object.fromEntries(
      fixture.receiver.spans().map((s) => [s.name, s.resource['openinference.project.name']]),
    );
    expect(projects).toEqual({ 'red-job': 'team-red', 'plain-job': 'default' });
    expect(fixture.receiver.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
    expect(pluginStats(tracer)?.dropped).toMatchObject({ 'headers-error': 1 });
    expect(reports).toEqual(['plugin:phoenix.headers: Error: no key for team ghost']);
  });

  it('a project name that cannot be a header still reaches Phoenix through the resource attribute', async () => {
    const tracer = startTracer({ endpoint: fixture.receiver.httpUrl, project: 'équipe-été' });
    await tracer.chain('accented', async () => 1);
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 1 }, 5000);
    expect(fixture.receiver.requests[0]?.headers['x-project-name']).toBeUndefined();
    expect(fixture.receiver.spans()[0]?.resource['openinference.project.name']).toBe('équipe-été');
  });
});

describe('transport detected from the endpoint', () => {
  const forms: Array<{
    form: string;
    endpoint: () => string;
    env?: () => NodeJS.ProcessEnv;
    transport: 'http' | 'grpc';
    path: string;
  }> = [
    {
      form: 'grpc://host:port',
      endpoint: () => fixture.receiver.grpcUrl.replace(/^http:/, 'grpc:'),
      transport: 'grpc',
      path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    },
    {
      // Phoenix's gRPC port without a path means gRPC. The receiver cannot take port 4317 itself, so
      // PHOENIX_GRPC_PORT (what Phoenix's own register() compares with) names the receiver's port.
      form: 'http://host:<gRPC port> without a path',
      endpoint: () => fixture.receiver.grpcUrl,
      env: () => ({ PHOENIX_GRPC_PORT: new URL(fixture.receiver.grpcUrl).port }),
      transport: 'grpc',
      path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    },
    {
      form: 'http://host:port',
      endpoint: () => fixture.receiver.httpUrl,
      transport: 'http',
      path: '/v1/traces',
    },
    {
      form: 'http://host:port/v1/traces',
      endpoint: () => `${fixture.receiver.httpUrl}/v1/traces`,
      transport: 'http',
      path: '/v1/traces',
    },
    {
      form: 'http://host:port/custom/path',
      endpoint: () => `${fixture.receiver.httpUrl}/phoenix/collector`,
      transport: 'http',
      path: '/phoenix/collector/v1/traces',
    },
  ];

  it.each(forms)('$form → $transport $path', async ({ endpoint, env, transport, path }) => {
    // Through the environment, as Phoenix's packages configure it.
    const tracer = startTracer({}, { PHOENIX_COLLECTOR_ENDPOINT: endpoint(), ...env?.() });
    await tracer.chain('detected', async () => 1);
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 1 }, 5000);
    const [request] = fixture.receiver.requests;
    expect(request?.transport).toBe(transport);
    expect(request?.path).toBe(path);
    if (transport === 'http') expect(request?.contentType).toBe('application/x-protobuf');
    expect(fixture.receiver.spans()[0]?.attributes['openinference.span.kind']).toBe('CHAIN');
  });

  it('PHOENIX_COLLECTOR_HTTP_ENDPOINT wins over PHOENIX_COLLECTOR_ENDPOINT; PHOENIX_CLIENT_HEADERS are sent', async () => {
    const tracer = startTracer(
      {},
      {
        PHOENIX_COLLECTOR_HTTP_ENDPOINT: `${fixture.receiver.httpUrl}/http-endpoint`,
        PHOENIX_COLLECTOR_ENDPOINT: fixture.receiver.grpcUrl.replace(/^http:/, 'grpc:'),
        PHOENIX_API_KEY: API_KEY,
        PHOENIX_CLIENT_HEADERS: '{"x-tenant":"acme"}',
        PHOENIX_PROJECT_NAME: 'from-env',
      },
    );
    await tracer.chain('env', async () => 1);
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 1 }, 5000);
    const [request] = fixture.receiver.requests;
    expect(request).toMatchObject({ transport: 'http', path: '/http-endpoint/v1/traces' });
    expect(request?.headers).toMatchObject({
      authorization: `Bearer ${API_KEY}`,
      'x-tenant': 'acme',
      'x-project-name': 'from-env',
    });
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
        ? { status: 401, body: `bad credentials ${request.headers.authorization ?? ''} key=${API_KEY}` }
        : { status: 'ok' },
    );
    setErrorHandler((report) => written.push(report.message));
    const tracer = startTracer({ endpoint: fixture.receiver.httpUrl, apiKey: API_KEY, debug: true });
    await tracer.chain('first', async () => 1);
    await tracer.flush();
    await tracer.chain('second', async () => 2);
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 1 }, 5000);
    vi.restoreAllMocks();
    const text = written.join('');
    expect(text).toContain('configured');
    expect(text).toMatch(/export of 1 spans failed/);
    expect(text).toMatch(/exported 1 spans/);
    expect(text).not.toContain(API_KEY);
  });
});

describe('loading by name', () => {
  it("createTracer({ plugins: ['phoenix'] }) reads PHOENIX_* variables", async () => {
    // The plugin is made when its package has loaded (asynchronously) and reads process.env then:
    // keep the variables until flush(), which waits for the load.
    const saved = { ...process.env };
    for (const key of Object.keys(process.env)) {
      if (key.startsWith('PHOENIX_') || key.startsWith('OTEL_') || key.startsWith('OPENINFERENCE_'))
        delete process.env[key];
    }
    Object.assign(process.env, {
      PHOENIX_COLLECTOR_ENDPOINT: fixture.receiver.httpUrl,
      PHOENIX_API_KEY: API_KEY,
      PHOENIX_PROJECT_NAME: 'by-name',
    });
    let tracer: Tracer;
    try {
      tracer = createTracer({ plugins: ['phoenix'], flushOnExit: false });
      tracers.push(tracer);
      await tracer.chain('by-name', async () => tracer.llm({ model: 'gpt-4o' }, async () => 'named'));
      expect((await tracer.flush()).timedOut).toBe(false);
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
    // The default batch delay is 5 s; flush sent it.
    await fixture.receiver.waitFor({ spans: 2 }, 3000);
    const spans = fixture.receiver.spans();
    expect(spans.map((s) => s.attributes['openinference.span.kind']).sort()).toEqual(['CHAIN', 'LLM']);
    expect(spans.every((s) => s.resource['openinference.project.name'] === 'by-name')).toBe(true);
    expect(fixture.receiver.requests.every((r) => r.headers.authorization === `Bearer ${API_KEY}`)).toBe(
      true,
    );
    expect(pluginStats(tracer)).toMatchObject({ received: 2, exported: 2 });
  });
});
