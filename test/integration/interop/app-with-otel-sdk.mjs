// @ts-check
// Child process of otel-interop.test.ts: an app with its own OpenTelemetry SDK (a NodeTracerProvider
// with the HTTP instrumentation, registered globally) that also traces with spanchain and the
// @spanchain/otel plugin. Usage: node app-with-otel-sdk.mjs <private|app-provider|llm-parent>
//   private       the plugin exports through its own pipeline (memory exporter)
//   app-provider  the plugin emits through the app's provider (`tracerProvider`)
//   llm-parent    private pipeline with `llmSpans: 'parent'`: LLM calls under an app span and a step
// Prints one JSON object per line: every exported span, every request the server received, and the
// step ids seen from inside the steps, and the plugin's counters.
//
// The instrumentation patches `http` through require hooks, so it is set up before `http` is
// loaded, `http` is loaded with require, and spanchain is imported afterwards.
import { createRequire } from 'node:module';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';

const mode = process.argv[2];
if (mode !== 'private' && mode !== 'app-provider' && mode !== 'llm-parent') {
  process.stderr.write(`unknown mode ${String(mode)}\n`);
  process.exit(64);
}

// Bounded: whatever hangs, the process ends.
setTimeout(() => {
  process.stderr.write('interop scenario timed out\n');
  process.exit(70);
}, 15_000).unref();

const appExporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(appExporter)] });
provider.register(); // the SDK's context manager and W3C propagator, globally
registerInstrumentations({ tracerProvider: provider, instrumentations: [new HttpInstrumentation()] });

/** @type {typeof import('node:http')} */
const http = createRequire(import.meta.url)('node:http');
const { createTracer } = await import('@spanchain/core');
const { otel } = await import('@spanchain/otel');

/** @type {{ path: string | undefined, traceparent: string | undefined }[]} */
const requests = [];
const server = http.createServer((req, res) => {
  const traceparent = req.headers.traceparent;
  requests.push({ path: req.url, traceparent: typeof traceparent === 'string' ? traceparent : undefined });
  res.end('ok');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('no port');
const { port } = address;

/** A GET to the local server, through the (instrumented) http module. */
function get(/** @type {string} */ path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`timeout on ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

const plugin =
  mode === 'app-provider'
    ? otel({ tracerProvider: provider, metrics: false })
    : otel({ exporter: 'memory', metrics: false, llmSpans: mode === 'llm-parent' ? 'parent' : 'nested' });
const tracer = createTracer({ serviceName: 'interop-app', plugins: [plugin], flushOnExit: false });
const appTracer = provider.getTracer('interop-app');

/** @type {Record<string, { traceId: string, spanId: string }>} */
const handles = {};

if (mode === 'llm-parent') await llmParentScenario();
else await httpScenarios();

async function llmParentScenario() {
  // An LLM call whose parent is an app span (not a step), and one under a step (folded into it).
  await appTracer.startActiveSpan('app-request', async (span) => {
    try {
      await tracer.llm({ model: 'model-under-app-span', provider: 'openai' }, async () => 'a');
    } finally {
      span.end();
    }
  });
  await tracer.chain('chain-step', async () => {
    await tracer.llm({ model: 'model-under-step', provider: 'openai' }, async () => 'b');
  });
}

async function httpScenarios() {
  // An HTTP call inside a step.
  await tracer.chain('lookup-step', async (step) => {
    handles['lookup-step'] = { traceId: step.traceId, spanId: step.spanId };
    await get('/inside-step');
  });

  // A step inside an app span, itself making an HTTP call.
  await appTracer.startActiveSpan('app-request', async (span) => {
    try {
      await tracer.chain('step-in-app-span', async (step) => {
        handles['step-in-app-span'] = { traceId: step.traceId, spanId: step.spanId };
        await get('/inside-app-span');
      });
    } finally {
      span.end();
    }
  });

  // Step → app span → step → HTTP call: the app span sits between two steps.
  await tracer.chain('outer-step', async () => {
    await appTracer.startActiveSpan('app-mid', async (span) => {
      try {
        await tracer.chain('step-under-app-mid', async (step) => {
          handles['step-under-app-mid'] = { traceId: step.traceId, spanId: step.spanId };
          await get('/nested');
        });
      } finally {
        span.end();
      }
    });
  });
}

// Read before shutting down: an InMemorySpanExporter forgets its spans on shutdown.
await tracer.flush();
await provider.forceFlush();

/**
 * @param {string} source
 * @param {import('@opentelemetry/sdk-trace-base').ReadableSpan} span
 */
function describe(source, span) {
  const context = span.spanContext();
  return {
    type: 'span',
    source,
    scope: span.instrumentationScope.name,
    name: span.name,
    kind: span.kind,
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    parentTraceId: span.parentSpanContext?.traceId,
    attributes: span.attributes,
  };
}

const lines = [];
for (const span of appExporter.getFinishedSpans()) lines.push(describe('app-exporter', span));
for (const span of plugin.memory?.getFinishedSpans() ?? []) lines.push(describe('plugin-exporter', span));
for (const request of requests) lines.push({ type: 'request', ...request });
for (const [name, ids] of Object.entries(handles)) lines.push({ type: 'handle', name, ...ids });
const stats = tracer.stats().plugins.find((p) => p.name === plugin.name);
lines.push({ type: 'stats', received: stats?.received, exported: stats?.exported, dropped: stats?.dropped });
process.stdout.write(`${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);

await tracer.shutdown();
await new Promise((resolve) => server.close(() => resolve(undefined)));
await provider.shutdown();
