// @spanchain/otel configured from the environment alone: OTEL_DEBUG output in a real child process
// (configuration and export results, never a credential, even when the backend echoes it), and the
// plugin loaded by name with OTEL_EXPORTER_OTLP_ENDPOINT.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTracer, type Tracer } from '@spanchain/core';
import { describe, expect, it } from 'vitest';
import { useOtlpReceiver } from '../support/receiver-fixture.js';

const run = promisify(execFile);
// The workspace packages resolve from test/.
const TEST_DIR = new URL('..', import.meta.url).pathname;
const SECRET = 'sup3r-secret';

const fixture = useOtlpReceiver();
const { tracers } = fixture;

/** The parent's environment without any OTEL_* or SPANCHAIN_* setting, plus `extra`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('OTEL_') && !key.startsWith('SPANCHAIN_')) env[key] = value;
  }
  return { ...env, ...extra };
}

const script = `
import { createTracer } from '@spanchain/core';
import { otel } from '@spanchain/otel';
const tracer = createTracer({
  flushOnExit: false,
  plugins: [otel({ batch: { scheduledDelayMillis: 10 }, metrics: false })],
});
const result = await tracer.llm({ model: 'gpt-4o', provider: 'openai' }, async () => 'fine');
await tracer.flush();
await tracer.shutdown();
process.stdout.write('result=' + result + '\\n');
`;

async function runDebugChild(): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: TEST_DIR,
    timeout: 8000,
    env: cleanEnv({
      OTEL_DEBUG: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: fixture.receiver.httpUrl,
      OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${SECRET}`,
    }),
  });
}

describe('OTEL_DEBUG', () => {
  it('prints the configuration and export results to stderr, header names but never their values', async () => {
    const { stdout, stderr } = await runDebugChild();
    expect(stdout).toBe('result=fine\n');
    // The header from the environment was used…
    const traces = fixture.receiver.requests.filter((r) => r.signal === 'traces');
    expect(traces.map((r) => r.headers.authorization)).toEqual([`Bearer ${SECRET}`]);
    expect(fixture.receiver.spans().map((s) => s.name)).toEqual(['chat gpt-4o']);
    // …and the debug output names the target and the header, and reports the export.
    expect(stderr).toContain('[spanchain:otel] configured');
    expect(stderr).toContain(`otlp http/protobuf ${fixture.receiver.httpUrl}`);
    expect(stderr).toContain('headers [authorization]');
    expect(stderr).toMatch(/exported 1 spans/);
    expect(stderr).not.toContain(SECRET);
  });

  it('reports a rejected export without the credential, even when the backend echoes it', async () => {
    fixture.receiver.respondWith((request) => ({
      status: 401,
      body: `invalid credentials: ${request.headers.authorization ?? ''} (token ${SECRET})`,
    }));
    const { stdout, stderr } = await runDebugChild();
    expect(stdout).toBe('result=fine\n');
    const traces = fixture.receiver.requests.filter((r) => r.signal === 'traces');
    expect(traces).toHaveLength(1);
    expect(traces[0]!.outcome).toMatchObject({ kind: 'rejected', status: 401 });
    expect(stderr).toContain('[spanchain:otel] configured');
    expect(stderr).toMatch(/export of 1 spans failed/);
    expect(stderr).not.toContain(SECRET);
  });
});

describe('loading by name', () => {
  it("createTracer({ plugins: ['otel'] }) exports to OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    // The plugin is made when its package has loaded (asynchronously) and reads process.env then:
    // keep the variables until flush(), which waits for the load.
    const saved = { ...process.env };
    for (const key of Object.keys(process.env)) {
      if (key.startsWith('OTEL_') || key.startsWith('SPANCHAIN_')) delete process.env[key];
    }
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = fixture.receiver.httpUrl;
    process.env.OTEL_SERVICE_NAME = 'named-plugin-service';
    let tracer: Tracer;
    try {
      tracer = createTracer({ plugins: ['otel'], flushOnExit: false });
      tracers.push(tracer);
      const out = await tracer.chain('by-name', async () =>
        tracer.llm({ model: 'gpt-4o', provider: 'openai' }, async () => 'named'),
      );
      expect(out).toBe('named');
      const report = await tracer.flush();
      expect(report.timedOut).toBe(false);
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
    await fixture.receiver.waitFor({ spans: 2 }, 3000);
    const spans = fixture.receiver.spans();
    expect(spans.map((s) => s.name).sort()).toEqual(['by-name', 'chat gpt-4o']);
    expect(spans.every((s) => s.resource['service.name'] === 'named-plugin-service')).toBe(true);
    expect(
      fixture.receiver.requests.filter((r) => r.signal === 'traces').every((r) => r.path === '/v1/traces'),
    ).toBe(true);
    expect(tracer.stats().plugins.find((p) => p.name === 'otel')).toMatchObject({ received: 2, exported: 2 });
  });
});
