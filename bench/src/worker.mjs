// @ts-check
/**
 * Runs one round of one contender in this process and reports it: to the parent over IPC when
 * forked by `run.mjs`, as JSON on stdout when started by hand:
 *
 *   node --expose-gc src/worker.mjs spanchain-memory --pipelines=100000 --warmup=10000
 */
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
 * @property {number} p50Us
 * @property {number} p99Us
 * @property {number} p999Us
 * @property {number} heapDeltaMb heap used after the run and its flush − before, both after a full GC
 * @property {number} flushMs time of the final flush
 * @property {number} created steps made in the whole process (warm-up included)
 * @property {number | null} delivered steps delivered after the final flush; null when not recorded
 */

/**
 * @typedef {{ ok: true, result: RoundResult } | { ok: false, name: string, error: string }} WorkerMessage
 */

/** @param {string[]} argv */
function parseArgs(argv) {
  const [name, ...flags] = argv;
  if (!name) throw new Error('usage: worker.mjs <contender> [--pipelines=N] [--warmup=N]');
  /** @param {string} flag @param {number} fallback */
  const number = (flag, fallback) => {
    const raw = flags.find((f) => f.startsWith(`--${flag}=`))?.slice(flag.length + 3);
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 0)
      throw new Error(`--${flag} must be a whole number (got ${raw})`);
    return value;
  };
  return { name, pipelines: number('pipelines', 100_000), warmup: number('warmup', 10_000) };
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
async function measure({ name, pipelines, warmup }) {
  const contender = await loadContender(name);
  const running = await contender.setup();
  for (let i = 0; i < warmup; i++) await running.pipeline();
  await running.flush();

  const heapBefore = settledHeapMb();
  const samples = new Float64Array(pipelines);
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < pipelines; i++) {
    const begin = process.hrtime.bigint();
    await running.pipeline();
    samples[i] = Number(process.hrtime.bigint() - begin);
  }
  const totalNs = Number(process.hrtime.bigint() - start);
  const cpu = process.cpuUsage(cpuStart);
  const flushStart = process.hrtime.bigint();
  await running.flush();
  const flushMs = Number(process.hrtime.bigint() - flushStart) / 1e6;
  const heapAfter = settledHeapMb();

  samples.sort();
  return {
    name,
    pipelines,
    warmup,
    usPerStep: totalNs / 1e3 / (pipelines * STEPS_PER_PIPELINE),
    cpuUsPerStep: (cpu.user + cpu.system) / (pipelines * STEPS_PER_PIPELINE),
    p50Us: percentile(samples, 0.5) / 1e3,
    p99Us: percentile(samples, 0.99) / 1e3,
    p999Us: percentile(samples, 0.999) / 1e3,
    heapDeltaMb: heapAfter - heapBefore,
    flushMs,
    created: (warmup + pipelines) * STEPS_PER_PIPELINE,
    delivered: running.delivered ? running.delivered() : null,
  };
}

/**
 * @param {WorkerMessage} message
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
  report({ ok: true, result: await measure(parseArgs(args)) }, 0);
} catch (error) {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  report({ ok: false, name: args[0] ?? '?', error: text }, 1);
}
