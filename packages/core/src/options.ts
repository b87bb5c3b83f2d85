import { z } from 'zod';
import type { Middleware } from './compose.js';
import type { ErrorHandler } from './error-handler.js';
import { SpanchainError } from './errors.js';
import { isPlugin, type Plugin } from './plugin.js';
import { scrubSecrets } from './secrets.js';

const SECRET_PATH = /key|secret|token|password|auth|credential/i;

function describeValue(value: unknown, secret: boolean): string {
  if (secret && value !== undefined) return '[REDACTED]';
  if (typeof value === 'string')
    return JSON.stringify(scrubSecrets(value.length > 60 ? `${value.slice(0, 60)}…` : value));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cursor: unknown = input;
  for (const key of path) {
    if (cursor === null || typeof cursor !== 'object') return undefined;
    cursor = (cursor as Record<PropertyKey, unknown>)[key];
  }
  return cursor;
}

/**
 * Parses an option object with its schema, or throws one `SpanchainError('INVALID_OPTIONS')`
 * whose message names each bad option, the value (masked when it looks like a credential) and
 * what was expected. Plugin packages use it for their own options.
 *
 * @example const options = parseOptions(MyPluginOptionsSchema, input, 'langfuse plugin options');
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.slice(0, 10).map((issue) => {
    const path = issue.path.map(String).join('.') || '(root)';
    const secret = issue.path.some((p) => typeof p === 'string' && SECRET_PATH.test(p));
    return `  - ${path}: ${issue.message} (got ${describeValue(valueAt(input, issue.path), secret)})`;
  });
  throw new SpanchainError('INVALID_OPTIONS', `Invalid ${what}:\n${lines.join('\n')}`);
}

/** Reads a boolean environment variable (`true/1/yes/on`, `false/0/no/off`); anything else is an error. */
export function envBoolean(name: string, env: NodeJS.ProcessEnv = process.env): boolean | undefined {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return undefined;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new SpanchainError(
    'INVALID_OPTIONS',
    `Invalid environment variable ${name}: expected true or false (got ${JSON.stringify(raw)})`,
  );
}

/**
 * The error for a bad environment variable: it names the variable and what was expected, and shows
 * the value only when the caller passes it (never for credentials).
 */
export function envError(name: string, expected: string, shown?: string): SpanchainError {
  const got = shown === undefined ? '' : ` (got ${shown})`;
  return new SpanchainError(
    'INVALID_OPTIONS',
    `Invalid environment variable ${name}: expected ${expected}${got}`,
  );
}

/** Reads a string environment variable, trimmed; empty counts as unset. */
export function envString(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

/** Reads an integer environment variable from `min` to `max`; anything else is an error naming it. */
export function envInteger(
  name: string,
  min: number,
  max: number,
  env: NodeJS.ProcessEnv = process.env,
): number | undefined {
  const raw = envString(name, env);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw envError(name, `an integer from ${min} to ${max}`, JSON.stringify(raw.slice(0, 40)));
  }
  return value;
}

/** Reads a comma-separated list environment variable. */
export function envList(name: string, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const fn = <T>(what = 'a function') => z.custom<T>((v) => typeof v === 'function', `expected ${what}`);

const PluginSchema = z.custom<Plugin>(
  isPlugin,
  'expected a plugin object ({ name, onEnd }) or a plugin package name',
);

export const TracerOptionsSchema = z
  .object({
    /** Service name on every step. Env: `OTEL_SERVICE_NAME`. Default `spanchain`. */
    serviceName: z.string().min(1).max(256).optional(),
    /** Backends: plugin objects, or names resolved to installed `@spanchain/<name>` packages. Env: `SPANCHAIN_PLUGINS`. */
    plugins: z.array(z.union([z.string().min(1).max(214), PluginSchema])).optional(),
    /** Middleware, outermost first. */
    use: z.array(fn<Middleware>('a middleware function (step, next) => Promise<void>')).optional(),
    /** Handler of spanchain's internal errors (default: the process-wide one, see `setErrorHandler`). */
    onError: fn<ErrorHandler>().optional(),
    /** Off: every wrap calls the function directly and records nothing. Env: `SPANCHAIN_ENABLED`. */
    enabled: z.boolean().optional(),
    /** Deadline of `flush()`, ms. Default 5,000. */
    flushTimeoutMs: z.number().int().positive().max(600_000).optional(),
    /** One overall deadline of `shutdown()`, ms. Default 10,000. */
    shutdownTimeoutMs: z.number().int().positive().max(600_000).optional(),
    /** Flush when the event loop empties (`beforeExit`). Default true. */
    flushOnExit: z.boolean().optional(),
    /** Steps kept for plugins that are still loading; beyond it they are dropped and counted. Default 10,000. */
    pendingLimit: z.number().int().min(0).max(1_000_000).optional(),
    /** Check each step call's options against `StepOptionsSchema`, reporting problems as warnings. */
    validateSteps: z.boolean().optional(),
  })
  .strict();

export type TracerOptions = z.input<typeof TracerOptionsSchema>;

export interface ResolvedTracerOptions {
  serviceName: string;
  plugins: (string | Plugin)[];
  use: Middleware[];
  onError: ErrorHandler | undefined;
  enabled: boolean;
  flushTimeoutMs: number;
  shutdownTimeoutMs: number;
  flushOnExit: boolean;
  pendingLimit: number;
  validateSteps: boolean;
}

/** The only place the core reads the environment: option > environment > default. */
export function resolveTracerOptions(
  input: unknown,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedTracerOptions {
  const options = parseOptions(TracerOptionsSchema, input ?? {}, 'tracer options');
  const envPlugins = envList('SPANCHAIN_PLUGINS', env);
  return {
    serviceName: options.serviceName ?? (env.OTEL_SERVICE_NAME?.trim() || 'spanchain'),
    plugins: options.plugins ?? envPlugins ?? [],
    use: options.use ?? [],
    onError: options.onError,
    enabled: options.enabled ?? envBoolean('SPANCHAIN_ENABLED', env) ?? true,
    flushTimeoutMs: options.flushTimeoutMs ?? 5_000,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 10_000,
    flushOnExit: options.flushOnExit ?? true,
    pendingLimit: options.pendingLimit ?? 10_000,
    validateSteps: options.validateSteps ?? false,
  };
}
