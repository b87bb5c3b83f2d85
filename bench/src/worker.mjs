// @ts-check
/**
 * Runs one round of one contender in this process and reports it: to the parent over IPC when
 * forked by `run.mjs`, as JSON on stdout when started by hand:
 *
 *   node --expose-gc src/worker.mjs spanchain-memory --pipelines=100000 --warmup=10000
 *   node --expose-gc src/worker.mjs spanchain-otel --rate=50000 --ms=3000   # paced: steps per second
 *
 * Unpaced, pipelines run back to back and only yield to microtasks: the cost of the
 * instrumentation itself. Paced, pipelines are started at a fixed rate and the process yields to
 * the event loop between ticks, as a server does: timers and sockets run, so background export
 * happens inside the measured time and drops show.
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { loadContender } from './contender.mjs';
import { percentile } from './stats.mjs';
import { STEPS_PER_PIPELINE } from './workload.mjs';

/**
 * What one round measured. Latencies are per pipeline (5 steps), in µs.
 *
 * @typedef {object} RoundResult
 * @property {string} name
 * @property {number} pipelines measured pipelines
 * @property {number} warmup pipelines run before measuring
 * @property {number} usPerStep wall time of the measured loop / (pipelines × 5)
 * @property {number} cpuUsPerStep CPU time (user + system, all threads) of the measured loop / (pipelines × 5)
 * @property {number | null} [mainCpuUsPerStep] the same for the main thread alone (Linux; `null` elsewhere)
 * @property {number} p50Us
 * @property {number} p99Us
 * @property {number} p999Us
 * @property {number} heapDeltaMb heap used after the run and its flush − before, both after a full GC
 * @property {number} heapRunDeltaMb heap used after the run, before its flush − before, after a full GC
 * @property {number} rssRunMb resident set size after the run, before its flush
 * @property {number} rssFlushMb resident set size after the flush
 * @property {number} flushMs time of the final flush
 * @property {number} created steps made in the whole process (warm-up included)
 * @property {number | null} delivered steps delivered after the final flush; null when not recorded
 * @property {number} [rate] paced runs: the steps per second asked for
 * @property {number} [achievedRate] paced runs: the steps per second reached
 */

/**
 * What the sink-down phase measured.
 *
 * @typedef {object} DownResult
 * @property {string} name
 * @property {number} pipelines
 * @property {number} runs steps made (each one run, span or observation)
 * @property {number} heapDeltaMb heap used after the run and a 2 s pause − before, after full GCs
 * @property {number} rssMb resident set size at the end
 * @property {number | null} delivered
 *
 * @typedef {{ ok: true, result: RoundResult } | { ok: false, name: string, error: string }} WorkerMessage
 * @typedef {{ ok: true, result: DownResult } | { ok: false, name: string, error: string }} DownMessage
 */

/** @param {string[]} argv */
function parseArgs(argv) {
  const [name, ...flags] = argv;
  if (!name) throw new Error('usage: worker.mjs <contender> [--pipelines=N] [--warmup=N] [--rate=N --ms=N]');
  /** @param {string} flag @param {number} fallback */
  const number = (flag, fallback) => {
    const raw = flags.find((f) => f.startsWith(`--${flag}=`))?.slice(flag.length + 3);
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 0)
      throw new Error(`--${flag} must be a whole number (got ${raw})`);
    return value;
  };
  return {
    name,
    pipelines: number('pipelines', 100_000),
    warmup: number('warmup', 10_000),
    rate: number('rate', 0),
    ms: number('ms', 3_000),
    down: number('down', 0),
  };
}

/**
 * A contender that costs hundreds of µs per step declares `maxPipelines`: it runs at most that
 * many pipelines per round (a tenth of it as warm-up), so a full bench ends in minutes. Its
 * figures are per step, so they stay comparable; the pipelines measured are in the result.
 *
 * @param {import('./contender.mjs').ContenderModule} contender
 * @param {number} pipelines
 * @param {number} warmup
 */
function capped(contender, pipelines, warmup) {
  const cap = contender.maxPipelines;
  if (cap === undefined) return { pipelines, warmup };
  return { pipelines: Math.min(pipelines, cap), warmup: Math.min(warmup, Math.ceil(cap / 10)) };
}

const rssMb = () => process.memoryUsage().rss / 2 ** 20;

const MAIN_THREAD_CLOCK = `/proc/self/task/${process.pid}/schedstat`;
/**
 * CPU time of the main thread alone, in µs: the time the app's own thread spends (JavaScript,
 * synchronous socket writes, the GC's pauses), without GC helper threads, libuv's pool or a
 * plugin's worker threads. Linux only (the scheduler's per-thread clock, ns); `null` elsewhere.
 *
 * @returns {number | null}
 */
function mainThreadCpuUs() {
  try {
    return Number(readFileSync(MAIN_THREAD_CLOCK, 'utf8').split(' ')[0]) / 1e3;
  } catch {
    return null;
  }
}

/** @param {number | null} start @param {number} steps @param {number} [leftOut] µs not to count */
function mainCpuPerStep(start, steps, leftOut = 0) {
  const end = mainThreadCpuUs();
  return start === null || end === null ? null : (end - start - leftOut) / steps;
}

/**
 * Heap and RSS at the end of a run, before its flush (heap after full collections), and the CPU
 * those collections took, which the caller leaves out of the run's CPU time.
 */
function afterRun() {
  const cpuStart = process.cpuUsage();
  const mainStart = mainThreadCpuUs();
  const heapMb = settledHeapMb();
  const rss = rssMb();
  const cpu = process.cpuUsage(cpuStart);
  const mainEnd = mainThreadCpuUs();
  const mainCpuUs = mainStart === null || mainEnd === null ? 0 : mainEnd - mainStart;
  return { heapMb, rssMb: rss, cpuUs: cpu.user + cpu.system, mainCpuUs };
}

/** Heap in use after full collections, so garbage does not count as growth. */
function settledHeapMb() {
  const gc = globalThis.gc;
  if (!gc) throw new Error('the worker needs --expose-gc to measure the heap');
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/**
 * @param {{ name: string, pipelines: number, warmup: number }} options
 * @returns {Promise<RoundResult>}
 */
async function measure({ name, pipelines: asked, warmup: askedWarmup }) {
  const contender = await loadContender(name);
  const { pipelines, warmup } = capped(contender, asked, askedWarmup);
  const running = await contender.setup();
  for (let i = 0; i < warmup; i++) await running.pipeline();
  await running.flush();

  const heapBefore = settledHeapMb();
  const samples = new Float64Array(pipelines);
  const cpuStart = process.cpuUsage();
  const mainStart = mainThreadCpuUs();
  const start = process.hrtime.bigint();
  for (let i = 0; i < pipelines; i++) {
    const begin = process.hrtime.bigint();
    await running.pipeline();
    samples[i] = Number(process.hrtime.bigint() - begin);
  }
  const totalNs = Number(process.hrtime.bigint() - start);
  const cpu = process.cpuUsage(cpuStart);
  const mainCpuUsPerStep = mainCpuPerStep(mainStart, pipelines * STEPS_PER_PIPELINE);
  const run = afterRun();
  const flushStart = process.hrtime.bigint();
  await running.flush();
  const flushMs = Number(process.hrtime.bigint() - flushStart) / 1e6;
  const rssFlushMb = rssMb();
  const heapAfter = settledHeapMb();

  samples.sort();
  return {
    name,
    pipelines,
    warmup,
    usPerStep: totalNs / 1e3 / (pipelines * STEPS_PER_PIPELINE),
    cpuUsPerStep: (cpu.user + cpu.system) / (pipelines * STEPS_PER_PIPELINE),
    mainCpuUsPerStep,
    p50Us: percentile(samples, 0.5) / 1e3,
    p99Us: percentile(samples, 0.99) / 1e3,
    p999Us: percentile(samples, 0.999) / 1e3,
    heapDeltaMb: heapAfter - heapBefore,
    heapRunDeltaMb: run.heapMb - heapBefore,
    rssRunMb: run.rssMb,
    rssFlushMb,
    flushMs,
    created: (warmup + pipelines) * STEPS_PER_PIPELINE,
    delivered: running.delivered ? running.delivered() : null,
  };
}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What the instrumentation holds when its backend never answers: `pipelines` run (yielding to
 * the event loop every 50, so background sending and retries run), a 2 s pause, then heap and
 * RSS after full GCs. No flush: with the sink down it could only wait or give up.
 *
 * @param {{ name: string, down: number }} options
 */
async function measureDown({ name, down }) {
  const contender = await loadContender(name);
  const { pipelines } = capped(contender, down, 0);
  const running = await contender.setup();
  const heapBefore = settledHeapMb();
  for (let i = 0; i < pipelines; i++) {
    await running.pipeline();
    if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  await sleep(2_000);
  const heapAfter = settledHeapMb();
  return {
    name,
    pipelines,
    runs: pipelines * STEPS_PER_PIPELINE,
    heapDeltaMb: heapAfter - heapBefore,
    rssMb: process.memoryUsage().rss / 2 ** 20,
    delivered: running.delivered ? running.delivered() : null,
  };
}

/**
 * Pipelines started at `rate` steps per second for `ms`, the process yielding to the event loop
 * between ticks (1 ms timers). When the instrumentation cannot keep up, the loop stops sleeping
 * and the achieved rate falls below the asked one.
 *
 * @param {{ name: string, warmup: number, rate: number, ms: number }} options
 * @returns {Promise<RoundResult>}
 */
async function measurePaced({ name, warmup: askedWarmup, rate, ms }) {
  const contender = await loadContender(name);
  const { warmup } = capped(contender, askedWarmup, askedWarmup);
  const running = await contender.setup();
  const perSecond = rate / STEPS_PER_PIPELINE;
  const perTick = Math.max(1, Math.ceil(perSecond / 1000));
  // Warm-up at about the same pace: bursts beyond it would fill export queues and count as drops.
  for (let i = 0; i < warmup; i++) {
    await running.pipeline();
    if (i % perTick === perTick - 1) await sleep(1);
  }
  await running.flush();

  const total = capped(contender, Math.max(1, Math.round((perSecond * ms) / 1000)), 0).pipelines;
  const heapBefore = settledHeapMb();
  const samples = new Float64Array(total);
  const cpuStart = process.cpuUsage();
  const mainStart = mainThreadCpuUs();
  const start = process.hrtime.bigint();
  let done = 0;
  while (done < total) {
    const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
    // Behind schedule, a tick runs at most twice its share: a server that falls behind still
    // returns to its event loop, so the achieved rate drops instead of the loop never yielding.
    const due = Math.min(total, Math.floor(elapsedS * perSecond) + 1, done + 2 * perTick);
    while (done < due) {
      const begin = process.hrtime.bigint();
      await running.pipeline();
      samples[done++] = Number(process.hrtime.bigint() - begin);
    }
    await sleep(1);
  }
  const totalNs = Number(process.hrtime.bigint() - start);
  const run = afterRun();
  const flushStart = process.hrtime.bigint();
  await running.flush();
  const flushMs = Number(process.hrtime.bigint() - flushStart) / 1e6;
  // CPU up to the end of the flush: what the export of these steps cost, wherever it ran (the
  // full collections that measured the heap after the run left out).
  const cpu = process.cpuUsage(cpuStart);
  const steps = total * STEPS_PER_PIPELINE;
  const mainCpuUsPerStep = mainCpuPerStep(mainStart, steps, run.mainCpuUs);
  const rssFlushMb = rssMb();
  const heapAfter = settledHeapMb();

  samples.sort();
  return {
    name,
    pipelines: total,
    warmup,
    usPerStep: totalNs / 1e3 / steps,
    cpuUsPerStep: (cpu.user + cpu.system - run.cpuUs) / steps,
    mainCpuUsPerStep,
    p50Us: percentile(samples, 0.5) / 1e3,
    p99Us: percentile(samples, 0.99) / 1e3,
    p999Us: percentile(samples, 0.999) / 1e3,
    heapDeltaMb: heapAfter - heapBefore,
    heapRunDeltaMb: run.heapMb - heapBefore,
    rssRunMb: run.rssMb,
    rssFlushMb,
    flushMs,
    created: (warmup + total) * STEPS_PER_PIPELINE,
    delivered: running.delivered ? running.delivered() : null,
    rate,
    achievedRate: steps / (totalNs / 1e9),
  };
}

/**
 * @param {WorkerMessage | DownMessage} message
 * @param {number} code
 */
function report(message, code) {
  if (process.send) process.send(message, () => process.exit(code));
  else {
    console.log(JSON.stringify(message, null, 2));
    process.exit(code);
  }
}

const args = process.argv.slice(2);
try {
  const options = parseArgs(args);
  if (options.down > 0) report({ ok: true, result: await measureDown(options) }, 0);
  else {
    const result = options.rate > 0 ? await measurePaced(options) : await measure(options);
    report({ ok: true, result }, 0);
  }
} catch (error) {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  report({ ok: false, name: args[0] ?? '?', error: text }, 1);
}
