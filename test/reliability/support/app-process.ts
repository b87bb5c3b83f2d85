// Runs support/app.mjs (the traced app) as a child process and drives it: the child asks for each
// phase (the outage starting, the sinks coming back, …) and waits for the parent's hook to have
// changed the sinks; the result comes back over IPC. The child's lifetime is bounded: it is killed
// if it has not answered by `config.deadlineMs` plus `graceMs`.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FlushReport, TracerStats } from '@spanchain/core';

const APP = fileURLToPath(new URL('./app.mjs', import.meta.url));

export interface AppPluginTargets {
  otel?: { endpoint: string; options?: Record<string, unknown> };
  langfuse?: { baseUrl: string; options?: Record<string, unknown> };
  phoenix?: { endpoint: string; options?: Record<string, unknown> };
  langsmith?: { endpoint: string; options?: Record<string, unknown> };
}

export interface AppConfig {
  plugins: AppPluginTargets;
  /** Requests in all, traced and untraced (alternating blocks of `blockSize`). */
  requests: number;
  ratePerSecond: number;
  blockSize: number;
  /** Requests in flight at most. */
  concurrency?: number;
  /** The workload stops here, whatever is left (ms from its start). */
  deadlineMs: number;
  /** Phases the parent acts on, by request index. */
  phases?: Array<{ name: string; atRequest: number }>;
  /** Simulated model latency per request (default 10 ms). */
  workMs?: number;
  /** Bytes of input, messages and output per traced request (default 0: small). */
  payloadBytes?: number;
  warmupRequests?: number;
  identitySampleMs?: number;
  lagIntervalMs?: number;
  /** Deadline of the final flush. */
  drainTimeoutMs?: number;
  /** Force a GC and read the heap when the outage ends (default true). */
  gcAtOutageEnd?: boolean;
  shutdownAtEnd?: boolean;
}

export interface Distribution {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface AppResult {
  requests: number;
  completed: number;
  /** The deadline cut the workload short. */
  timedOut: boolean;
  tracedRequests: number;
  tracedSteps: number;
  workloadMs: number;
  drainMs: number;
  phaseAckMs: number[];
  latency: {
    traced: Distribution;
    untraced: Distribution;
    /** p99 of each block with 20 or more requests. */
    blockP99: { traced: number[]; untraced: number[] };
    blockP50: { traced: number[]; untraced: number[] };
  };
  /** During the workload (not the final drain); `worst`: the longest, when (ms from start) and in which mode. */
  lag: {
    traced: Distribution;
    untraced: Distribution;
    eldMaxMs: number;
    worst: { ms: number; at: number; mode: string };
  };
  /** MiB. `afterOutage` and `final` after a forced GC; `maxSampled` without. */
  heap: { baseline: number; maxSampled: number; afterOutage?: number; final: number };
  identity: {
    samples: number;
    violations: Array<{ plugin: string; diff: number; at: number; stats: unknown }>;
  };
  /** Per plugin: the first step number whose request started after its first export since the sinks came back. */
  recovery: Record<string, { seq: number; lagMs: number }>;
  flush: FlushReport;
  shutdown?: FlushReport;
  stats: TracerStats;
  errors: string[];
  inFlightAtEnd: number;
}

export interface AppHooks {
  /** Called for each phase the child reaches; the child goes on when it resolves. */
  onPhase?: (name: string, info: { request: number; tracedSteps: number }) => Promise<void> | void;
}

/** Runs the app with `config` and resolves with what it measured. */
export function runApp(config: AppConfig, hooks: AppHooks = {}, graceMs = 60_000): Promise<AppResult> {
  return new Promise<AppResult>((resolve, reject) => {
    const child = fork(APP, [], {
      execArgv: ['--expose-gc'],
      env: { ...process.env, RELIABILITY_APP_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 20_000) stderr += chunk.toString('utf8');
    });
    let settled = false;
    const finish = (error: Error | undefined, result?: AppResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      if (error) reject(error);
      else resolve(result as AppResult);
    };
    const timer = setTimeout(
      () =>
        finish(
          new Error(`the app did not finish within ${config.deadlineMs + graceMs} ms; stderr: ${stderr}`),
        ),
      config.deadlineMs + graceMs,
    );
    child.on('message', (message: { type: string; [key: string]: unknown }) => {
      if (message.type === 'phase') {
        const name = String(message.name);
        Promise.resolve(
          hooks.onPhase?.(name, {
            request: Number(message.request),
            tracedSteps: Number(message.tracedSteps),
          }),
        ).then(
          () => child.connected && child.send({ type: 'ack', name }),
          (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
        );
      } else if (message.type === 'result') {
        finish(undefined, message.result as AppResult);
      } else if (message.type === 'error') {
        finish(new Error(`the app failed: ${String(message.message)}; stderr: ${stderr}`));
      }
    });
    child.on('error', (error) => finish(error));
    child.on('exit', (code, signal) => {
      if (!settled)
        finish(new Error(`the app exited (${code ?? signal}) without a result; stderr: ${stderr}`));
    });
  });
}
