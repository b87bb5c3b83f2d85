// The app side of the process-level reliability tests (outage, payload lag, flapping soak), run as a
// child process by app-process.ts so that its latency, event-loop lag and heap are its own: the
// loopback sinks, which decode and validate everything, live in the parent. Plain JavaScript, since
// Node 20 runs no TypeScript; it imports the built packages, as an app does.
//
// The workload: `requests` app requests paced at `ratePerSecond`, in alternating blocks of
// `blockSize` traced and untraced ones (interleaved runs of the same code). A traced request is a
// chain step around an llm step (steps numbered by `metadata.seq`: 2k and 2k+1 for the k-th traced
// request); an untraced one runs the same function directly. At most `concurrency` requests are in
// flight and the whole run stops at `deadlineMs`. The config comes in RELIABILITY_APP_CONFIG (JSON),
// phases and the result go to the parent over IPC.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTracer } from '@spanchain/core';
import { langfuse } from '@spanchain/langfuse';
import { langsmith } from '@spanchain/langsmith';
import { otel } from '@spanchain/otel';
import { phoenix } from '@spanchain/phoenix';

const config = JSON.parse(process.env.RELIABILITY_APP_CONFIG ?? '{}');
const gc = globalThis.gc;
if (typeof gc !== 'function') throw new Error('app.mjs needs --expose-gc');
if (typeof process.send !== 'function') throw new Error('app.mjs runs as a forked child (IPC)');

const send = (message) => process.send(message);
const errors = [];

function makePlugins() {
  const p = config.plugins ?? {};
  const out = [];
  // Defaults everywhere (batch sizes, queues, timeouts) except where a test says otherwise.
  if (p.otel) out.push(otel({ endpoint: p.otel.endpoint, ...p.otel.options }));
  if (p.langfuse)
    out.push(
      langfuse({
        baseUrl: p.langfuse.baseUrl,
        publicKey: 'pk-lf-reliability',
        secretKey: 'sk-lf-reliability',
        ...p.langfuse.options,
      }),
    );
  if (p.phoenix) out.push(phoenix({ endpoint: p.phoenix.endpoint, ...p.phoenix.options }));
  if (p.langsmith)
    out.push(
      langsmith({
        endpoint: p.langsmith.endpoint,
        apiKey: 'lsv2_pt_reliability',
        ...p.langsmith.options,
      }),
    );
  return out;
}

const tracer = createTracer({
  serviceName: 'reliability-app',
  plugins: makePlugins(),
  flushOnExit: false,
  shutdownTimeoutMs: config.shutdownTimeoutMs ?? 10_000,
  // Internal errors are expected while a sink is down: count them, print nothing.
  onError: (report) => {
    if (errors.length < 20) errors.push(`${report.source}: ${report.message}`.slice(0, 300));
  },
});

const payloadBytes = config.payloadBytes ?? 0;
// One big string per request, made by the app in both modes: what differs is only the tracing.
const bigText = payloadBytes > 0 ? 'p'.repeat(payloadBytes) : '';

/** The app's own work: a little CPU and a wait standing in for the model call. */
async function modelCall(k) {
  const prompt = JSON.stringify({ question: `question ${k}`, context: payloadBytes > 0 ? bigText : 'ctx' });
  await sleep(config.workMs ?? 10);
  return { answer: `answer ${k}`, promptChars: prompt.length };
}

let tracedCount = 0;

function tracedRequest() {
  const k = tracedCount++;
  const inputMessages = [{ role: 'user', content: payloadBytes > 0 ? bigText : `q${k}` }];
  return tracer.chain(
    { name: 'request', metadata: { seq: 2 * k }, trace: { userId: `user-${k % 100}` }, input: { k } },
    () =>
      tracer.llm(
        { name: 'model', model: 'gpt-4o', provider: 'openai', metadata: { seq: 2 * k + 1 }, inputMessages },
        async (step) => {
          const result = await modelCall(k);
          step.update({ usage: { inputTokens: 12, outputTokens: 3 } });
          return payloadBytes > 0 ? { ...result, echo: bigText } : result;
        },
      ),
  );
}

async function untracedRequest() {
  const result = await modelCall(-1);
  return payloadBytes > 0 ? { ...result, echo: bigText } : result;
}

// ------------------------------------------------------------------------------------------------
// Accounting: received = exported + Σ dropped + queued (in flight included), sampled all along.

const identity = { samples: 0, violations: [] };
function checkIdentity() {
  identity.samples++;
  for (const p of tracer.stats().plugins) {
    const dropped = Object.values(p.dropped).reduce((a, b) => a + b, 0);
    const diff = p.received - (p.exported + dropped + p.queued);
    if (diff !== 0 && identity.violations.length < 10) {
      identity.violations.push({ plugin: p.name, diff, at: Math.round(performance.now() - t0), stats: p });
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Phases: the parent changes the sinks when told, and acknowledges.

const acks = new Map();
process.on('message', (message) => {
  if (message?.type === 'ack') acks.get(message.name)?.();
});
function phase(name, request) {
  const at = performance.now();
  return new Promise((resolve) => {
    acks.set(name, () => resolve(performance.now() - at));
    send({ type: 'phase', name, request, tracedSteps: 2 * tracedCount });
  });
}

// Recovery: the first export a plugin completes after the sinks came back. Steps of requests
// started after that are the ones that must all arrive.
const recovery = {};
let upSince;
let exportedAtUp;
function watchRecovery() {
  if (upSince === undefined) return;
  for (const p of tracer.stats().plugins) {
    if (recovery[p.name] !== undefined) continue;
    if (p.exported > (exportedAtUp.get(p.name) ?? 0)) {
      recovery[p.name] = { seq: 2 * tracedCount, lagMs: Math.round(performance.now() - upSince) };
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Measurements

const heapMiB = () => process.memoryUsage().heapUsed / 2 ** 20;
function heapAfterGc() {
  gc();
  gc();
  return heapMiB();
}

/** Event-loop lateness, attributed to the mode of the block running when the timer fired. */
let currentMode = 'traced';
const lag = { traced: [], untraced: [] };
const worstLag = { ms: 0, at: 0, mode: '' };
function startLagSampler(intervalMs) {
  let expected = performance.now() + intervalMs;
  const timer = setInterval(() => {
    const now = performance.now();
    const late = Math.max(0, now - expected);
    if (lag[currentMode].length < 200_000) lag[currentMode].push(late);
    if (late > worstLag.ms)
      Object.assign(worstLag, { ms: late, at: Math.round(now - t0), mode: currentMode });
    expected = now + intervalMs;
  }, intervalMs);
  return () => clearInterval(timer);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const sortNumbers = (values) => Float64Array.from(values).sort();

// ------------------------------------------------------------------------------------------------

let t0 = performance.now();

async function main() {
  const requests = config.requests;
  const rate = config.ratePerSecond;
  const blockSize = config.blockSize;
  const concurrency = config.concurrency ?? 64;
  const phases = [...(config.phases ?? [])].sort((a, b) => a.atRequest - b.atRequest);

  // Warm up both paths (JIT, connections), let the sinks drain, then take the heap baseline.
  const warmup = config.warmupRequests ?? 200;
  for (let i = 0; i < warmup; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, (_, j) => ((i + j) % 2 === 0 ? tracedRequest() : untracedRequest())),
    );
  }
  await tracer.flush({ timeoutMs: 10_000 });
  const heap = { baseline: heapAfterGc(), maxSampled: 0, afterOutage: undefined, final: 0 };
  const heapTimer = setInterval(() => {
    heap.maxSampled = Math.max(heap.maxSampled, heapMiB());
  }, 100);
  const identityTimer = setInterval(() => {
    checkIdentity();
    watchRecovery();
  }, config.identitySampleMs ?? 25);
  const stopLag = startLagSampler(config.lagIntervalMs ?? 5);
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();

  const latencies = { traced: [], untraced: [] }; // per block: array of ms
  const blocks = []; // { mode, latencies: [] }
  t0 = performance.now();
  const deadline = t0 + config.deadlineMs;
  let next = 0;
  let inFlight = 0;
  let completed = 0;
  let timedOut = false;
  const phaseWork = [];

  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= requests) return;
      const at = t0 + (i * 1000) / rate;
      const wait = at - performance.now();
      if (wait > 1) await sleep(wait);
      if (performance.now() > deadline) {
        timedOut = true;
        next = requests;
        return;
      }
      while (phases.length > 0 && phases[0].atRequest <= i) {
        const p = phases.shift();
        if (p.name === 'outage-end') {
          // From the moment the sinks are back, watch for each plugin's first successful export.
          phaseWork.push(
            phase(p.name, i).then((ackMs) => {
              if (config.gcAtOutageEnd !== false) heap.afterOutage = heapAfterGc();
              upSince = performance.now();
              exportedAtUp = new Map(tracer.stats().plugins.map((s) => [s.name, s.exported]));
              return ackMs;
            }),
          );
        } else phaseWork.push(phase(p.name, i));
      }
      const block = Math.floor(i / blockSize);
      const mode = block % 2 === 0 ? 'traced' : 'untraced';
      currentMode = mode;
      blocks[block] ??= { mode, latencies: [] };
      inFlight++;
      const start = performance.now();
      try {
        await (mode === 'traced' ? tracedRequest() : untracedRequest());
      } catch (error) {
        errors.push(`request ${i} threw: ${String(error)}`);
      }
      const ms = performance.now() - start;
      inFlight--;
      completed++;
      blocks[block].latencies.push(ms);
      latencies[mode].push(ms);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const phaseAckMs = await Promise.all(phaseWork);
  const workloadMs = performance.now() - t0;
  // Lag is the workload's: the final drain below is test machinery, with nothing else running.
  stopLag();
  eld.disable();

  // Drain: everything still queued gets its chance now that the sinks are (back) up.
  const drainStart = performance.now();
  const flush = await tracer.flush({ timeoutMs: config.drainTimeoutMs ?? 30_000 });
  const drainMs = performance.now() - drainStart;
  watchRecovery();
  clearInterval(identityTimer);
  clearInterval(heapTimer);
  checkIdentity();
  heap.final = heapAfterGc();

  const blockP99 = { traced: [], untraced: [] };
  const blockP50 = { traced: [], untraced: [] };
  for (const b of blocks) {
    if (!b || b.latencies.length < 20) continue;
    const sorted = sortNumbers(b.latencies);
    blockP99[b.mode].push(percentile(sorted, 99));
    blockP50[b.mode].push(percentile(sorted, 50));
  }
  const summary = (values) => {
    const sorted = sortNumbers(values);
    return {
      n: sorted.length,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1] : 0,
    };
  };
  const shutdown = config.shutdownAtEnd ? await tracer.shutdown() : undefined;
  send({
    type: 'result',
    result: {
      requests,
      completed,
      timedOut,
      tracedRequests: tracedCount,
      tracedSteps: 2 * tracedCount,
      workloadMs,
      drainMs,
      phaseAckMs,
      latency: {
        traced: summary(latencies.traced),
        untraced: summary(latencies.untraced),
        blockP99,
        blockP50,
      },
      lag: {
        traced: summary(lag.traced),
        untraced: summary(lag.untraced),
        eldMaxMs: eld.max / 1e6,
        worst: worstLag,
      },
      heap,
      identity,
      recovery,
      flush,
      shutdown,
      stats: tracer.stats(),
      errors,
      inFlightAtEnd: inFlight,
    },
  });
}

main().then(
  () => process.disconnect(),
  (error) => {
    send({ type: 'error', message: String(error?.stack ?? error) });
    process.disconnect();
  },
);
