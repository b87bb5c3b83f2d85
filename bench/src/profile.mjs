// @ts-check
/**
 * Profiles one contender and prints the functions with the most self time, to see what
 * dominates its cost:
 *
 *   node src/profile.mjs spanchain-noplugin [--pipelines=100000] [--top=25]
 *   node src/profile.mjs spanchain-otel --rate=50000 --ms=5000     # the paced phase
 *
 * The profile covers the whole worker process (import and warm-up included), so use enough
 * pipelines for the measured loop to dominate. The `.cpuprofile` file is kept in the temporary
 * directory (it opens in Chrome DevTools).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startSink } from './sink.mjs';

/**
 * @typedef {{ functionName: string, url: string, lineNumber: number }} CallFrame
 * @typedef {{ id: number, callFrame: CallFrame }} ProfileNode
 * @typedef {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[] }} CpuProfile
 */

const [name, ...flags] = process.argv.slice(2);
if (!name) {
  console.error('usage: profile.mjs <contender> [--pipelines=N] [--top=N]');
  process.exit(2);
}
/** @param {string} flag @param {number} fallback */
const flagValue = (flag, fallback) =>
  Number(flags.find((f) => f.startsWith(`--${flag}=`))?.split('=')[1] ?? fallback);
const pipelines = flagValue('pipelines', 100_000);
const top = flagValue('top', 25);

const worker = fileURLToPath(new URL('./worker.mjs', import.meta.url));
const directory = mkdtempSync(path.join(os.tmpdir(), 'spanchain-profile-'));
// Contenders that export OTLP need the sink; it must not block, so the worker runs asynchronously.
const sink = await startSink();
const child = promisify(execFile)(
  process.execPath,
  [
    '--expose-gc',
    '--cpu-prof',
    `--cpu-prof-dir=${directory}`,
    worker,
    name,
    `--pipelines=${pipelines}`,
    // Anything else is the worker's (--rate, --ms, --warmup).
    ...flags.filter((f) => !f.startsWith('--pipelines=') && !f.startsWith('--top=')),
  ],
  { env: { ...process.env, BENCH_OTLP_URL: sink.url }, maxBuffer: 64 * 2 ** 20 },
);
const { stderr } = await child;
if (stderr) process.stderr.write(stderr);
await sink.close();
const [file] = readdirSync(directory).filter((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error('the worker wrote no profile');
/** @type {CpuProfile} */
const profile = JSON.parse(readFileSync(path.join(directory, file), 'utf8'));
const kept = path.join(os.tmpdir(), `spanchain-bench-${name}.cpuprofile`);
renameSync(path.join(directory, file), kept);
rmSync(directory, { recursive: true, force: true });

/** Where a frame comes from, short: the package and file, or node's own module. */
/** @param {CallFrame} frame */
function where(frame) {
  if (!frame.url) return '';
  const url = frame.url.replace(/^file:\/\//, '');
  const match = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
  const short = match ? `${match[1]}/${match[2]}` : url.replace(/^.*\/(packages|bench)\//, '$1/');
  return `${short}:${frame.lineNumber + 1}`;
}

/** @type {Map<number, ProfileNode>} */
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
/** @type {Map<string, number>} */
const selfUs = new Map();
let totalUs = 0;
profile.samples.forEach((id, i) => {
  const frame = nodes.get(id)?.callFrame;
  const delta = profile.timeDeltas[i] ?? 0;
  totalUs += delta;
  if (!frame) return;
  const key = `${frame.functionName || '(anonymous)'}  ${where(frame)}`;
  selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
});

console.log(`${name}: ${(totalUs / 1e3).toFixed(0)} ms sampled; top ${top} by self time`);
for (const [key, us] of [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(
    `${((100 * us) / totalUs).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(1).padStart(8)} ms  ${key}`,
  );
}
console.log(`profile: ${kept}`);
