// One trace across two processes. The client starts the quote service (src/service.mjs) as a child
// process, calls it with the trace context in the headers, then runs a follow-up job that joins the
// same trace by its id after the first part has ended, prints the trace id and shuts everything down.
// Run: npx -y pnpm@10 --filter @spanchain/example-distributed start
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createConsolePlugin, createTracer } from '@spanchain/core';

const extra = (process.env.SPANCHAIN_PLUGINS ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name && name !== 'console');

const tracer = createTracer({ serviceName: 'trip-client', plugins: [createConsolePlugin(), ...extra] });

/** Starts the service on a free port (port 0) and waits for it to say which one. */
async function startService() {
  const service = fork(fileURLToPath(new URL('./service.mjs', import.meta.url)), {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  // The service's waterfall (or JSON lines) joins ours on stderr, one whole line at a time.
  for (const stream of [service.stdout, service.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stderr.write(`${line}\n`));
  }
  const timer = setTimeout(() => service.kill(), 10_000);
  try {
    const [message] = await Promise.race([
      once(service, 'message'),
      once(service, 'exit').then(([code]) => {
        throw new Error(`the service exited early (code ${code})`);
      }),
    ]);
    return { service, port: message.port };
  } finally {
    clearTimeout(timer);
  }
}

/** POSTs JSON to the service inside a `tool` step, with that step's trace context in the headers. */
function callService(port, path, body) {
  return tracer.tool(
    {
      name: `POST ${path}`,
      toolName: 'quote-service',
      toolType: 'extension',
      arguments: body,
      attributes: { 'http.request.method': 'POST', 'server.address': '127.0.0.1', 'server.port': port },
    },
    async (step) => {
      // traceparent names this step as the parent of the service's steps.
      const headers = tracer.inject({ 'content-type': 'application/json' });
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      step.setAttributes({ 'http.response.status_code': res.status });
      if (!res.ok) throw new Error(`${path} answered ${res.status}`);
      return res.json();
    },
  );
}

const { service, port } = await startService();
const exited = once(service, 'exit');
try {
  // Part 1: the trip planner asks the service for a quote; the service's steps nest under the call.
  const { traceId, spanId, fare } = await tracer.agent(
    {
      name: 'trip-planner',
      agentName: 'trip-planner',
      input: 'Berlin to Lisbon, cheapest non-stop',
      trace: { name: 'distributed-demo', sessionId: 'session-1' },
    },
    async (root) => {
      const best = await callService(port, '/quote', { from: 'BER', to: 'LIS' });
      return { traceId: root.traceId, spanId: root.spanId, fare: best };
    },
  );

  // Part 2, later: a job that only knows the trace id (as a queue message would carry it) joins
  // the same trace, under the planner's step, and calls the service again.
  const confirmation = await tracer.custom(
    { name: 'confirm-booking-job', existingTraceId: traceId, existingParentSpanId: spanId },
    () => callService(port, '/confirm', { fareId: fare?.id }),
  );

  console.log(`fare: ${fare ? `${fare.id} at ${fare.price} EUR` : 'none'}`);
  console.log(`confirmation sent: ${confirmation.sent}`);
  console.log(`trace ${traceId}`);
} finally {
  await tracer.shutdown();
  // The service shuts down when its IPC channel closes; it gets 5 s before it is killed.
  if (service.connected) service.disconnect();
  const killer = setTimeout(() => service.kill('SIGKILL'), 5_000);
  const [code, signal] = await exited;
  clearTimeout(killer);
  console.log(`service (pid ${service.pid}) stopped: ${signal ? `signal ${signal}` : `exit code ${code}`}`);
}
