// examples/distributed run as users run it: the client starts the service as its own child process;
// the steps of both processes come back as JSON lines on the client's stderr.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startOtlpReceiver } from '../support/otlp-receiver.js';

const run = promisify(execFile);
const client = fileURLToPath(new URL('../../examples/distributed/src/client.mjs', import.meta.url));

interface JsonStep {
  kind: string;
  name: string;
  serviceName: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  parentStepId?: string;
  parentIsRemote: boolean;
  status: string;
  startTime: number;
  endTime: number;
}

async function runClient(env: Record<string, string>) {
  const started = Date.now();
  const result = await run(process.execPath, [client], {
    env: {
      ...process.env,
      FORCE_COLOR: '0',
      SPANCHAIN_PLUGINS: '',
      SPANCHAIN_CONSOLE_FORMAT: 'jsonl',
      ...env,
    },
    timeout: 9_000,
    killSignal: 'SIGKILL',
  });
  return { ...result, ms: Date.now() - started };
}

/** The service's pid is printed by the client once the service has exited: it must be gone. */
function expectServiceGone(stdout: string) {
  const stopped = /service \(pid (\d+)\) stopped: exit code 0/.exec(stdout);
  expect(stopped, stdout).not.toBeNull();
  expect(() => process.kill(Number(stopped?.[1]), 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
}

describe('examples/distributed', () => {
  it('continues one trace across the client and the service, and joins it again by id', async () => {
    const { stdout, stderr, ms } = await runClient({});
    expect(ms).toBeLessThan(9_000);
    expectServiceGone(stdout);
    const traceId = /^trace ([0-9a-f]{32})$/m.exec(stdout)?.[1];
    expect(traceId).toBeDefined();

    const steps = stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as JsonStep);
    const one = (service: string, name: string) => {
      const found = steps.filter((s) => s.serviceName === service && s.name === name);
      expect(found, `${service} ${name}`).toHaveLength(1);
      return found[0] as JsonStep;
    };
    expect(new Set(steps.map((s) => s.serviceName))).toEqual(new Set(['trip-client', 'quote-service']));
    expect(steps).toHaveLength(9);
    // One trace, both processes.
    expect(new Set(steps.map((s) => s.traceId))).toEqual(new Set([traceId]));

    const root = one('trip-client', 'trip-planner');
    expect(root.parentSpanId).toBeUndefined();
    const quoteCall = one('trip-client', 'POST /quote');
    expect(quoteCall.parentSpanId).toBe(root.spanId);

    // The service's request step hangs from the client's HTTP step, across the process boundary.
    const quoteHandler = one('quote-service', 'POST /quote');
    expect(quoteHandler.kind).toBe('chain');
    expect(quoteHandler.parentSpanId).toBe(quoteCall.spanId);
    expect(quoteHandler.parentIsRemote).toBe(true);
    expect(quoteHandler.parentStepId).toBeUndefined();
    for (const name of ['lookup-fares', 'pick-fare']) {
      const child = one('quote-service', name);
      expect(child.parentSpanId, name).toBe(quoteHandler.spanId);
      expect(child.parentIsRemote, name).toBe(false);
    }

    // The follow-up job ran after the planner had ended and joined its trace by id.
    const job = one('trip-client', 'confirm-booking-job');
    expect(job.startTime).toBeGreaterThanOrEqual(root.endTime);
    expect(job.parentIsRemote).toBe(true);
    expect(job.parentStepId).toBeUndefined();
    expect(job.parentSpanId).toBe(root.spanId);
    const confirmCall = one('trip-client', 'POST /confirm');
    expect(confirmCall.parentSpanId).toBe(job.spanId);
    const confirmHandler = one('quote-service', 'POST /confirm');
    expect(confirmHandler.parentSpanId).toBe(confirmCall.spanId);
    expect(confirmHandler.parentIsRemote).toBe(true);
    expect(one('quote-service', 'send-confirmation').parentSpanId).toBe(confirmHandler.spanId);

    for (const step of steps) expect(step.status, step.name).toBe('ok');
  });

  it('exports both processes to one OTLP trace with SPANCHAIN_PLUGINS=otel', async () => {
    const receiver = await startOtlpReceiver({ grpc: false });
    try {
      const { stdout } = await runClient({
        SPANCHAIN_PLUGINS: 'otel',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpUrl,
      });
      expectServiceGone(stdout);
      const traceId = /^trace ([0-9a-f]{32})$/m.exec(stdout)?.[1];
      const spans = receiver.spans();
      expect(spans).toHaveLength(9);
      expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
      expect(new Set(spans.map((s) => s.resource['service.name']))).toEqual(
        new Set(['trip-client', 'quote-service']),
      );
      const call = spans.find(
        (s) =>
          s.resource['service.name'] === 'trip-client' &&
          s.attributes['spanchain.step.name'] === 'POST /quote',
      );
      const handler = spans.find(
        (s) => s.resource['service.name'] === 'quote-service' && s.name === 'POST /quote',
      );
      expect(call).toBeDefined();
      expect(handler?.parentSpanId).toBe(call?.spanId);
    } finally {
      await receiver.close();
    }
  });
});
