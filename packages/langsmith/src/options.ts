/**
 * The LangSmith plugin's options and environment (the variable names of LangSmith's own SDK,
 * `LANGSMITH_*` with the legacy `LANGCHAIN_*` aliases), parsed once when the plugin is made.
 * Explicit options win over the environment; bad values fail here with one message, and API keys
 * never appear in it.
 */
import {
  envBoolean,
  envError,
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

export const DEFAULT_ENDPOINT = 'https://api.smith.langchain.com';
export const DEFAULT_PROJECT = 'default';
const DEFAULT_CONCURRENT_REQUESTS = 2;
const DEFAULT_TOTAL_CONCURRENT_REQUESTS = 8;

/** A value, or a function of the step giving it (`undefined` falls back to the plugin's own). */
export type PerStep<T> = T | ((step: Step) => T | undefined);

/** One more destination for every run: the same run in another project, workspace or instance. */
export interface Replica {
  project: string;
  /** Default: the plugin's API key. */
  apiKey?: string;
  /** Default: the plugin's endpoint. */
  endpoint?: string;
  workspaceId?: string;
}

const positiveInt = (max: number) => z.number().int().positive().max(max);
const url = z
  .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
  .refine((value) => !hasCredentials(value), 'put the API key in apiKey, not in the URL');

/** `https://user:pass@host`: fetch refuses such URLs, and the credentials would end up in logs. */
function hasCredentials(value: string): boolean {
  try {
    const parsed = new URL(value);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return false;
  }
}
const perStep = <T extends z.ZodType>(value: T) =>
  z.union([value, z.custom<(step: Step) => unknown>((v) => typeof v === 'function')]);

const ReplicaSchema = z
  .object({
    project: z.string().min(1).max(1000),
    apiKey: z.string().min(1).optional(),
    endpoint: url.optional(),
    workspaceId: z.string().min(1).max(200).optional(),
  })
  .strict();

export const LangSmithPluginOptionsSchema = z
  .object({
    /** The plugin's name in `tracer.stats()`. Default `langsmith`. */
    name: z.string().min(1).max(100).optional(),
    /** `lsv2_…`, or a function of the step (per team). Env `LANGSMITH_API_KEY`. Never printed. */
    apiKey: perStep(z.string().min(1)).optional(),
    /** API URL, or a function of the step. Env `LANGSMITH_ENDPOINT`. Default `https://api.smith.langchain.com`. */
    endpoint: perStep(url).optional(),
    /** Project name, or a function of the step. Env `LANGSMITH_PROJECT`. Default `default`. */
    project: perStep(z.string().min(1).max(1000)).optional(),
    /** `x-tenant-id` for keys that span workspaces, or a function of the step. Env `LANGSMITH_WORKSPACE_ID`. */
    workspaceId: perStep(z.string().min(1).max(200)).optional(),
    /** The same runs to more projects or instances. Env `LANGSMITH_RUNS_ENDPOINTS` (JSON). */
    replicas: z.array(ReplicaSchema).max(16).optional(),
    /** Share of traces sent, 0 to 1, decided per trace id. Env `LANGSMITH_TRACING_SAMPLING_RATE`. Default 1. */
    samplingRate: z.number().min(0).max(1).optional(),
    /** Send runs without inputs. Env `LANGSMITH_HIDE_INPUTS`. */
    hideInputs: z.boolean().optional(),
    /** Send runs without outputs. Env `LANGSMITH_HIDE_OUTPUTS`. */
    hideOutputs: z.boolean().optional(),
    /** `multipart` (`/runs/multipart`, default) or `batch` (`/runs/batch`, one JSON body). */
    mode: z.enum(['multipart', 'batch']).optional(),
    /** Whole-request compression. Default `gzip`. */
    compression: z.enum(['gzip', 'none']).optional(),
    /** Runs per request. Default 100. */
    maxBatchRuns: positiveInt(10_000).optional(),
    /** Uncompressed bytes per request. Default 20 MiB (LangSmith accepts 24 MiB). */
    maxBatchBytes: positiveInt(1 << 30).optional(),
    /** Runs waiting to be sent, all destinations together; more are dropped (`queue-full`). Default 10000. */
    maxQueueRuns: positiveInt(10_000_000).optional(),
    /** Encoded bytes held in flight or waiting for a retry; past it the oldest batch is dropped. Default 64 MiB. */
    maxBufferBytes: positiveInt(2 ** 31).optional(),
    /** Delay between sends, ms. Default 1000; 0 sends as soon as the event loop is free. */
    flushIntervalMillis: z.number().int().min(0).max(3_600_000).optional(),
    /** Deadline of one request, ms. Default 10000. */
    timeoutMillis: positiveInt(600_000).optional(),
    /** Retries of a request answered 429/5xx or lost. Default 3. */
    maxRetries: z.number().int().min(0).max(20).optional(),
    /** Requests in flight at once to one destination. Default 2. */
    maxConcurrentRequests: positiveInt(64).optional(),
    /** Requests in flight at once over all destinations. Default 8 (or maxConcurrentRequests if larger). */
    maxTotalConcurrentRequests: positiveInt(64).optional(),
    /** Redaction for LangSmith only, on top of the tracer's (the options of `redact()`). */
    redact: RedactOptionsSchema.optional(),
    /** Budgets for each serialised field (inputs, outputs, metadata values). */
    limits: SerializeLimitsSchema.optional(),
    /** Print configuration and send results to stderr; keys are never printed. Env `LANGSMITH_DEBUG`. */
    debug: z.boolean().optional(),
  })
  .strict()
  .superRefine((options, context) => {
    const { maxConcurrentRequests: perDestination, maxTotalConcurrentRequests: total } = options;
    // A total below one destination's share would make the per-destination limit a lie.
    if (total !== undefined && total < (perDestination ?? DEFAULT_CONCURRENT_REQUESTS)) {
      context.addIssue({
        code: 'custom',
        path: ['maxTotalConcurrentRequests'],
        message: `must be at least maxConcurrentRequests (${perDestination ?? DEFAULT_CONCURRENT_REQUESTS})`,
      });
    }
  });

export type LangSmithPluginOptions = Omit<
  z.input<typeof LangSmithPluginOptionsSchema>,
  'apiKey' | 'endpoint' | 'project' | 'workspaceId'
> & {
  apiKey?: PerStep<string>;
  endpoint?: PerStep<string>;
  project?: PerStep<string>;
  workspaceId?: PerStep<string>;
};

export interface ResolvedLangSmithOptions {
  name: string;
  apiKey: PerStep<string> | undefined;
  /** Without a trailing slash (when a string). */
  endpoint: PerStep<string>;
  project: PerStep<string>;
  workspaceId: PerStep<string> | undefined;
  replicas: Replica[];
  samplingRate: number;
  hideInputs: boolean;
  hideOutputs: boolean;
  mode: 'multipart' | 'batch';
  compression: 'gzip' | 'none';
  maxBatchRuns: number;
  maxBatchBytes: number;
  maxQueueRuns: number;
  maxBufferBytes: number;
  flushIntervalMillis: number;
  timeoutMillis: number;
  maxRetries: number;
  maxConcurrentRequests: number;
  maxTotalConcurrentRequests: number;
  redact: z.output<typeof RedactOptionsSchema> | undefined;
  limits: Partial<SerializeLimits> | undefined;
  debug: boolean;
}

/** `LANGSMITH_<name>`, else the legacy `LANGCHAIN_<name>`. */
function lsEnv(env: NodeJS.ProcessEnv, name: string): { value: string; variable: string } | undefined {
  for (const variable of [`LANGSMITH_${name}`, `LANGCHAIN_${name}`]) {
    const value = envString(variable, env);
    if (value !== undefined) return { value, variable };
  }
  return undefined;
}

function lsBoolean(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  for (const variable of [`LANGSMITH_${name}`, `LANGCHAIN_${name}`]) {
    const value = envBoolean(variable, env);
    if (value !== undefined) return value;
  }
  return undefined;
}

function checkUrl(value: string, variable: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw envError(variable, 'an http:// or https:// URL');
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw envError(variable, 'a URL without user:password@ (the API key goes in LANGSMITH_API_KEY)');
  }
  return trimUrl(value);
}

export function trimUrl(value: string): string {
  return value.replace(/\/+$/, '');
}

/**
 * `LANGSMITH_RUNS_ENDPOINTS`, as LangSmith's SDK reads it: a JSON array of
 * `{ api_url, api_key, project_name? }` or an object `{ "<url>": "<key>" }`. Unlike the SDK, a bad
 * value fails at configuration time instead of being skipped with a warning.
 */
function envReplicas(env: NodeJS.ProcessEnv, defaultProject: string | undefined): Replica[] {
  const raw = envString('LANGSMITH_RUNS_ENDPOINTS', env);
  if (raw === undefined) return [];
  const expected =
    'a JSON array of { api_url, api_key, project_name? } or an object { "<url>": "<api key>" }';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw envError('LANGSMITH_RUNS_ENDPOINTS', expected, '(not JSON)');
  }
  const entries: Array<{ url: unknown; key: unknown; project?: unknown }> = Array.isArray(parsed)
    ? parsed.map((item: Record<string, unknown> | null) => ({
        url: item?.api_url,
        key: item?.api_key,
        project: item?.project_name ?? undefined,
      }))
    : typeof parsed === 'object' && parsed !== null
      ? Object.entries(parsed).map(([url, key]) => ({ url, key }))
      : [];
  if (entries.length === 0 && !Array.isArray(parsed)) throw envError('LANGSMITH_RUNS_ENDPOINTS', expected);
  return entries.map((entry) => {
    if (typeof entry.url !== 'string' || typeof entry.key !== 'string' || entry.key === '') {
      throw envError('LANGSMITH_RUNS_ENDPOINTS', expected, '(an entry without api_url or api_key)');
    }
    if (entry.project !== undefined && (typeof entry.project !== 'string' || entry.project === '')) {
      throw envError('LANGSMITH_RUNS_ENDPOINTS', expected, '(project_name is not a string)');
    }
    registerSecret(entry.key);
    const project = (entry.project as string | undefined) ?? defaultProject ?? DEFAULT_PROJECT;
    return { endpoint: checkUrl(entry.url, 'LANGSMITH_RUNS_ENDPOINTS'), apiKey: entry.key, project };
  });
}

/**
 * Parses options and environment into settings. Throws `SpanchainError('INVALID_OPTIONS')` on
 * bad input or when there is no API key; keys are registered as secrets first, so they are
 * scrubbed from any error text.
 */
export function resolveLangSmithOptions(
  input: unknown,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedLangSmithOptions {
  // Register keys before parsing, so a message about a bad option cannot show them.
  const given = (input ?? {}) as Record<string, unknown>;
  if (typeof given.apiKey === 'string') registerSecret(given.apiKey);
  if (Array.isArray(given.replicas)) {
    for (const replica of given.replicas as Array<Record<string, unknown> | null>) {
      if (typeof replica?.apiKey === 'string') registerSecret(replica.apiKey);
    }
  }
  const options = parseOptions(
    LangSmithPluginOptionsSchema,
    input ?? {},
    '@spanchain/langsmith options',
  ) as LangSmithPluginOptions;

  const envKey = lsEnv(env, 'API_KEY');
  registerSecret(envKey?.value);
  const apiKey = options.apiKey ?? envKey?.value;
  if (apiKey === undefined) {
    throw new SpanchainError(
      'INVALID_OPTIONS',
      'The LangSmith plugin needs an API key: pass { apiKey } (a string, or a function of the step for per-team keys) or set LANGSMITH_API_KEY.',
    );
  }

  const envEndpoint = lsEnv(env, 'ENDPOINT');
  const endpoint =
    typeof options.endpoint === 'string'
      ? trimUrl(options.endpoint)
      : (options.endpoint ??
        (envEndpoint ? checkUrl(envEndpoint.value, envEndpoint.variable) : DEFAULT_ENDPOINT));

  const envProject = lsEnv(env, 'PROJECT') ?? envString('LANGCHAIN_SESSION', env);
  const projectFromEnv = typeof envProject === 'string' ? envProject : envProject?.value;
  const project = options.project ?? projectFromEnv ?? DEFAULT_PROJECT;

  let samplingRate = options.samplingRate;
  if (samplingRate === undefined) {
    const raw = lsEnv(env, 'TRACING_SAMPLING_RATE');
    if (raw !== undefined) {
      const value = Number(raw.value);
      if (raw.value.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) {
        throw envError(raw.variable, 'a number from 0 to 1', JSON.stringify(raw.value.slice(0, 40)));
      }
      samplingRate = value;
    }
  }

  const replicas = (
    options.replicas ?? envReplicas(env, typeof project === 'string' ? project : undefined)
  ).map((replica) => ({
    ...replica,
    ...(replica.endpoint !== undefined && { endpoint: trimUrl(replica.endpoint) }),
  }));
  if (replicas.some((r) => r.apiKey === undefined) && typeof apiKey !== 'string') {
    throw new SpanchainError(
      'INVALID_OPTIONS',
      'A LangSmith replica without its own apiKey needs the plugin apiKey to be a string (it is a function).',
    );
  }

  return {
    name: options.name ?? 'langsmith',
    apiKey,
    endpoint,
    project,
    workspaceId: options.workspaceId ?? lsEnv(env, 'WORKSPACE_ID')?.value,
    replicas,
    samplingRate: samplingRate ?? 1,
    hideInputs: options.hideInputs ?? lsBoolean(env, 'HIDE_INPUTS') ?? false,
    hideOutputs: options.hideOutputs ?? lsBoolean(env, 'HIDE_OUTPUTS') ?? false,
    mode: options.mode ?? 'multipart',
    compression: options.compression ?? 'gzip',
    maxBatchRuns: options.maxBatchRuns ?? 100,
    maxBatchBytes: options.maxBatchBytes ?? 20 * 1024 * 1024,
    maxQueueRuns: options.maxQueueRuns ?? 10_000,
    maxBufferBytes: options.maxBufferBytes ?? 64 * 1024 * 1024,
    flushIntervalMillis: options.flushIntervalMillis ?? 1000,
    timeoutMillis: options.timeoutMillis ?? 10_000,
    maxRetries: options.maxRetries ?? 3,
    maxConcurrentRequests: options.maxConcurrentRequests ?? DEFAULT_CONCURRENT_REQUESTS,
    maxTotalConcurrentRequests:
      options.maxTotalConcurrentRequests ??
      Math.max(
        DEFAULT_TOTAL_CONCURRENT_REQUESTS,
        options.maxConcurrentRequests ?? DEFAULT_CONCURRENT_REQUESTS,
      ),
    redact: options.redact,
    limits: options.limits,
    debug: options.debug ?? lsBoolean(env, 'DEBUG') ?? false,
  };
}
