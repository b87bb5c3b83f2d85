import { z } from 'zod';
import { parseOptions } from '../../options.js';

/** Where the console plugin writes: `process.stderr` or anything with a `write(text)`. */
export interface ConsoleStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

const StreamSchema = z.custom<ConsoleStream>(
  (value) =>
    typeof value === 'object' && value !== null && typeof (value as { write?: unknown }).write === 'function',
  'expected a writable stream (an object with a write(text) method)',
);

export const ConsolePluginOptionsSchema = z
  .object({
    /** `tree`: a waterfall per trace when its root ends. `jsonl`: one JSON line per ended step. Env: `SPANCHAIN_CONSOLE_FORMAT`. */
    format: z.enum(['tree', 'jsonl']).optional(),
    /** ANSI colours. Default: on when the stream is a TTY and `NO_COLOR` is unset; `FORCE_COLOR` wins over both. */
    colors: z.boolean().optional(),
    /** Default `process.stderr`, so traced output never mixes with the app's stdout. */
    stream: StreamSchema.optional(),
    /** Width of the duration bar, in characters. Default 24. */
    width: z.number().int().min(4).max(200).optional(),
    /** Print the trace id on each tree's header line. Default true. */
    showIds: z.boolean().optional(),
    /** Steps kept per trace; later leaf steps are counted as "… N more steps". Default 2,000. */
    maxStepsPerTrace: z.number().int().min(1).max(1_000_000).optional(),
    /** Traces held at once; beyond it the oldest is dropped and its steps counted. Default 1,000. */
    maxOpenTraces: z.number().int().min(1).max(1_000_000).optional(),
    /** JSON-lines mode: lines waiting for the next write; beyond it steps are dropped and counted. Default 10,000. */
    maxQueuedLines: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

export type ConsolePluginOptions = z.input<typeof ConsolePluginOptionsSchema>;

export interface ResolvedConsoleOptions {
  format: 'tree' | 'jsonl';
  colors: boolean;
  stream: ConsoleStream;
  width: number;
  showIds: boolean;
  maxStepsPerTrace: number;
  maxOpenTraces: number;
  maxQueuedLines: number;
}

const ConsoleEnvironmentSchema = z.object({
  SPANCHAIN_CONSOLE_FORMAT: z.enum(['tree', 'jsonl']).optional(),
});

/**
 * `FORCE_COLOR` as Node reads it: `0`/`false` turn colours off, any other value (even empty)
 * turns them on. Undefined when unset.
 */
function forceColor(env: NodeJS.ProcessEnv): boolean | undefined {
  const raw = env.FORCE_COLOR;
  if (raw === undefined) return undefined;
  const value = raw.trim().toLowerCase();
  return value !== '0' && value !== 'false';
}

/**
 * The only place the console plugin reads the environment: option > environment > default.
 * Colours: the `colors` option, else `FORCE_COLOR`, else off under a non-empty `NO_COLOR`
 * (no-color.org), else on for a TTY.
 *
 * @example
 * resolveConsoleOptions({ width: 32 }, { NO_COLOR: '1' }).colors // false
 */
export function resolveConsoleOptions(
  input: unknown,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConsoleOptions {
  const options = parseOptions(ConsolePluginOptionsSchema, input ?? {}, 'console plugin options');
  const fromEnv = parseOptions(
    ConsoleEnvironmentSchema,
    { SPANCHAIN_CONSOLE_FORMAT: env.SPANCHAIN_CONSOLE_FORMAT?.trim().toLowerCase() || undefined },
    'console plugin environment',
  );
  const stream = options.stream ?? process.stderr;
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  return {
    format: options.format ?? fromEnv.SPANCHAIN_CONSOLE_FORMAT ?? 'tree',
    colors: options.colors ?? forceColor(env) ?? (!noColor && stream.isTTY === true),
    stream,
    width: options.width ?? 24,
    showIds: options.showIds ?? true,
    maxStepsPerTrace: options.maxStepsPerTrace ?? 2_000,
    maxOpenTraces: options.maxOpenTraces ?? 1_000,
    maxQueuedLines: options.maxQueuedLines ?? 10_000,
  };
}
