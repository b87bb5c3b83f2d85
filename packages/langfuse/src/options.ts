/**
 * The Langfuse plugin's options and environment (the variable names and units of Langfuse's own
 * SDKs), parsed once when the plugin is made. Explicit options win over the environment; bad
 * values fail here with one message, and keys never appear in it.
 */
import {
  envBoolean,
  envError,
  envInteger,
  envString,
  parseOptions,
  RedactOptionsSchema,
  registerSecret,
  type SerializeLimits,
  SerializeLimitsSchema,
  SpanchainError,
  type Step,
} from '@spanchain/core';
import { z } from 'zod';
import { normalizeEnvironment } from './map.js';

export const DEFAULT_BASE_URL = 'https://cloud.langfuse.com';

/** A Langfuse project's key pair. */
export interface LangfuseCredentials {
  publicKey: string;
  secretKey: string;
}

/** Per-step key pair (per team, per tenant); `undefined` uses the plugin's own keys. */
export type CredentialsFunction = (step: Step) => LangfuseCredentials | undefined;

const positiveInt = (max: number) => z.number().int().positive().max(max);

export const LangfusePluginOptionsSchema = z
  .object({
    /** The plugin's name in `tracer.stats()`. Default `langfuse`. */
    name: z.string().min(1).max(100).optional(),
    /** `pk-lf-…`. Env `LANGFUSE_PUBLIC_KEY`. */
    publicKey: z.string().min(1).optional(),
    /** `sk-lf-…`. Env `LANGFUSE_SECRET_KEY`. Never printed. */
    secretKey: z.string().min(1).optional(),
    /**
     * Langfuse's URL. Env `LANGFUSE_BASE_URL` (also `LANGFUSE_BASEURL`, `LANGFUSE_HOST`).
     * Default `https://cloud.langfuse.com` (EU); US: `https://us.cloud.langfuse.com`.
     */
    baseUrl: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
    /** Default trace environment (`[a-z0-9_-]`, ≤ 40, not `langfuse…`). Env `LANGFUSE_TRACING_ENVIRONMENT`. */
    environment: z.string().min(1).max(40).optional(),
    /** Default release. Env `LANGFUSE_RELEASE`. */
    release: z.string().min(1).max(200).optional(),
    /** Default version (`langfuse.version`). */
    version: z.string().min(1).max(200).optional(),
    /** OTLP encoding. Default `http/protobuf`. */
    protocol: z.enum(['http/protobuf', 'http/json']).optional(),
    /**
     * Default `none`, as Langfuse's own SDK sends: gzip costs about 4.5 µs of CPU per step at
     * 50,000 steps/s (bench), worth it only on a slow or metered link.
     */
    compression: z.enum(['gzip', 'none']).optional(),
    /** Deadline of one export request (retries included), ms. Env `LANGFUSE_TIMEOUT` (seconds). Default 10000. */
    timeoutMillis: positiveInt(600_000).optional(),
    /** Spans per request. Env `LANGFUSE_FLUSH_AT`. Default 512. */
    flushAt: positiveInt(1_000_000).optional(),
    /** Delay between exports, ms. Env `LANGFUSE_FLUSH_INTERVAL` (seconds). Default 5000. */
    flushIntervalMillis: z.number().int().min(0).max(3_600_000).optional(),
    /** Spans held before new ones are dropped. Default 2048. */
    maxQueueSize: positiveInt(1_000_000).optional(),
    /** Export each span when its step ends (serverless); `tracer.flush()` still awaits them. */
    immediate: z.boolean().optional(),
    /** Redaction for Langfuse only, on top of the tracer's (the options of `redact()`). */
    redact: RedactOptionsSchema.optional(),
    /** Budgets for each serialised content attribute. */
    limits: SerializeLimitsSchema.optional(),
    /**
     * Per-step key pairs, e.g. one Langfuse project per team: `(step) => ({ publicKey, secretKey })`
     * or `undefined` for the plugin's own keys. Each key pair is exported in its own batches.
     */
    credentials: z
      .custom<CredentialsFunction>((v) => typeof v === 'function', 'expected a function (step) => keys')
      .optional(),
    /** Key pairs kept open at once with `credentials` (one exporter each). Default 32. */
    maxCredentialSets: positiveInt(10_000).optional(),
    /** Share of traces sent to Langfuse, 0 to 1, decided per trace id (a kept trace is whole). Default 1. */
    samplingRate: z.number().min(0).max(1).optional(),
    /** Print configuration and export results to stderr; keys are never printed. Env `LANGFUSE_DEBUG`. */
    debug: z.boolean().optional(),
  })
  .strict();

export type LangfusePluginOptions = Omit<z.input<typeof LangfusePluginOptionsSchema>, 'credentials'> & {
  credentials?: CredentialsFunction;
};

export interface ResolvedLangfuseOptions {
  name: string;
  publicKey: string | undefined;
  secretKey: string | undefined;
  /** Without a trailing slash. */
  baseUrl: string;
  environment: string | undefined;
  release: string | undefined;
  version: string | undefined;
  protocol: 'http/protobuf' | 'http/json';
  compression: 'gzip' | 'none';
  timeoutMillis: number;
  batch:
    | false
    | {
        maxQueueSize: number;
        maxExportBatchSize: number;
        scheduledDelayMillis: number;
        exportTimeoutMillis: number;
      };
  redact: z.output<typeof RedactOptionsSchema> | undefined;
  limits: Partial<SerializeLimits> | undefined;
  credentials: CredentialsFunction | undefined;
  maxCredentialSets: number;
  samplingRate: number;
  debug: boolean;
}

/** Langfuse's SDKs give these in seconds (fractions allowed); spanchain works in ms. */
function envSeconds(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = envString(name, env);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw envError(name, `a number of seconds from ${min} to ${max}`, JSON.stringify(raw.slice(0, 40)));
  }
  return Math.round(value * 1000);
}

function envUrl(env: NodeJS.ProcessEnv, names: readonly string[]): string | undefined {
  for (const name of names) {
    const raw = envString(name, env);
    if (raw === undefined) continue;
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw envError(name, 'an http:// or https:// URL');
    }
    return raw;
  }
  return undefined;
}

function environmentSetting(value: string | undefined, source: string): string | undefined {
  if (value === undefined) return undefined;
  const normalized = normalizeEnvironment(value);
  if (normalized === undefined) {
    throw new SpanchainError(
      'INVALID_OPTIONS',
      `Invalid ${source}: Langfuse environments are 1 to 40 characters of a-z, 0-9, _ and -, and do not start with "langfuse" (got ${JSON.stringify(value.slice(0, 60))})`,
    );
  }
  return normalized;
}

/**
 * Parses options and environment into settings. Throws `SpanchainError('INVALID_OPTIONS')` on
 * bad input, or when there are no keys (and no `credentials` function); the secret key is
 * registered, so it is scrubbed from any error text.
 */
export function resolveLangfuseOptions(
  input: unknown,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedLangfuseOptions {
  const options = parseOptions(
    LangfusePluginOptionsSchema,
    input ?? {},
    '@spanchain/langfuse options',
  ) as LangfusePluginOptions;

  const publicKey = options.publicKey ?? envString('LANGFUSE_PUBLIC_KEY', env);
  const secretKey = options.secretKey ?? envString('LANGFUSE_SECRET_KEY', env);
  registerSecret(secretKey);
  const missing = [
    publicKey === undefined ? 'publicKey (LANGFUSE_PUBLIC_KEY)' : undefined,
    secretKey === undefined ? 'secretKey (LANGFUSE_SECRET_KEY)' : undefined,
  ].filter((m): m is string => m !== undefined);
  // A credentials function may stand in for both keys, never for one of them.
  if (missing.length === 2 && options.credentials === undefined) {
    throw new SpanchainError(
      'INVALID_OPTIONS',
      'The Langfuse plugin needs a key pair: pass { publicKey, secretKey } or set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (or pass a credentials function for per-step keys).',
    );
  }
  if (missing.length === 1) {
    throw new SpanchainError(
      'INVALID_OPTIONS',
      `The Langfuse plugin got only half a key pair: ${missing[0]} is missing.`,
    );
  }

  const baseUrl = (
    options.baseUrl ??
    envUrl(env, ['LANGFUSE_BASE_URL', 'LANGFUSE_BASEURL', 'LANGFUSE_HOST']) ??
    DEFAULT_BASE_URL
  ).replace(/\/+$/, '');

  const environment =
    options.environment !== undefined
      ? environmentSetting(options.environment, 'option environment')
      : environmentSetting(
          envString('LANGFUSE_TRACING_ENVIRONMENT', env),
          'environment variable LANGFUSE_TRACING_ENVIRONMENT',
        );

  const immediate = options.immediate ?? false;
  const maxQueueSize = options.maxQueueSize ?? 2048;
  const batch = immediate
    ? (false as const)
    : {
        maxQueueSize,
        maxExportBatchSize: Math.min(
          options.flushAt ?? envInteger('LANGFUSE_FLUSH_AT', 1, 1_000_000, env) ?? 512,
          maxQueueSize,
        ),
        scheduledDelayMillis:
          options.flushIntervalMillis ?? envSeconds(env, 'LANGFUSE_FLUSH_INTERVAL', 0, 3600) ?? 5000,
        exportTimeoutMillis: 30_000,
      };
  const timeoutMillis = options.timeoutMillis ?? envSeconds(env, 'LANGFUSE_TIMEOUT', 0.001, 600) ?? 10_000;
  // One export (the exporter's retries included) must fit in the batch processor's deadline.
  if (batch) batch.exportTimeoutMillis = Math.max(batch.exportTimeoutMillis, timeoutMillis + 1000);

  return {
    name: options.name ?? 'langfuse',
    publicKey,
    secretKey,
    baseUrl,
    environment,
    release: options.release ?? envString('LANGFUSE_RELEASE', env),
    version: options.version,
    protocol: options.protocol ?? 'http/protobuf',
    compression: options.compression ?? 'none',
    timeoutMillis,
    batch,
    redact: options.redact,
    limits: options.limits,
    credentials: options.credentials,
    maxCredentialSets: options.maxCredentialSets ?? 32,
    samplingRate: options.samplingRate ?? 1,
    debug: options.debug ?? envBoolean('LANGFUSE_DEBUG', env) ?? false,
  };
}
