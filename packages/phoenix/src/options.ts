/**
 * The Phoenix plugin's options and environment (the variable names of Phoenix's and
 * OpenInference's own packages), parsed once when the plugin is made. Explicit options win over
 * the environment; bad values fail here with one message naming the option or variable, and API
 * keys and header values never appear in it.
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
import { DEFAULT_BASE64_IMAGE_MAX_LENGTH, type HideFlags } from './map.js';

/** Phoenix's own default (phoenix-config): a local server, OTLP over HTTP on port 6006. */
export const DEFAULT_ENDPOINT = 'http://localhost:6006';
export const DEFAULT_PROJECT = 'default';
/** Phoenix's gRPC port (`PHOENIX_GRPC_PORT`): an endpoint on it without a path means gRPC. */
export const DEFAULT_GRPC_PORT = 4317;

export type PhoenixProtocol = 'http/protobuf' | 'grpc';

/** One team's (tenant's) Phoenix credentials. */
export interface PhoenixCredentials {
  apiKey: string;
}

/** Per-step API key: a key, `{ apiKey }`, or `undefined` for the plugin's own. */
export type CredentialsFunction = (step: Step) => string | PhoenixCredentials | undefined;

/** Per-step project: a name, or `undefined` for the trace's `phoenix_project_name` metadata or the default. */
export type ProjectFunction = (step: Step) => string | undefined;

/** `hide` option key → its OpenInference environment variable(s), first wins. */
export const HIDE_ENV: Readonly<Record<keyof HideFlags, readonly string[]>> = {
  inputs: ['OPENINFERENCE_HIDE_INPUTS'],
  outputs: ['OPENINFERENCE_HIDE_OUTPUTS'],
  inputMessages: ['OPENINFERENCE_HIDE_INPUT_MESSAGES'],
  outputMessages: ['OPENINFERENCE_HIDE_OUTPUT_MESSAGES'],
  inputImages: ['OPENINFERENCE_HIDE_INPUT_IMAGES'],
  inputText: ['OPENINFERENCE_HIDE_INPUT_TEXT'],
  outputText: ['OPENINFERENCE_HIDE_OUTPUT_TEXT'],
  // The second name is the deprecated spelling, still read.
  embeddingsVectors: ['OPENINFERENCE_HIDE_EMBEDDINGS_VECTORS', 'OPENINFERENCE_HIDE_EMBEDDING_VECTORS'],
  embeddingsText: ['OPENINFERENCE_HIDE_EMBEDDINGS_TEXT'],
  llmInvocationParameters: ['OPENINFERENCE_HIDE_LLM_INVOCATION_PARAMETERS'],
  llmTools: ['OPENINFERENCE_HIDE_LLM_TOOLS'],
};

const positiveInt = (max: number) => z.number().int().positive().max(max);
const fn = (what: string) =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', `expected ${what}`);

const HideSchema = z
  .object({
    inputs: z.boolean().optional(),
    outputs: z.boolean().optional(),
    inputMessages: z.boolean().optional(),
    outputMessages: z.boolean().optional(),
    inputImages: z.boolean().optional(),
    inputText: z.boolean().optional(),
    outputText: z.boolean().optional(),
    embeddingsVectors: z.boolean().optional(),
    embeddingsText: z.boolean().optional(),
    llmInvocationParameters: z.boolean().optional(),
    llmTools: z.boolean().optional(),
  })
  .strict();

const BatchSchema = z
  .object({
    /** Spans held before new ones are dropped. Default 2048. */
    maxQueueSize: positiveInt(1_000_000).optional(),
    /** Spans per request. Default 512. */
    maxExportBatchSize: positiveInt(1_000_000).optional(),
    /** Delay between exports, ms. Default 5000. */
    scheduledDelayMillis: z.number().int().min(0).max(3_600_000).optional(),
    /** Deadline of one export, ms. Default 30000 (at least `timeoutMillis` + 1 s). */
    exportTimeoutMillis: positiveInt(3_600_000).optional(),
  })
  .strict();

export const PhoenixPluginOptionsSchema = z
  .object({
    /** The plugin's name in `tracer.stats()`. Default `phoenix`. */
    name: z.string().min(1).max(100).optional(),
    /**
     * Phoenix's collector: a base URL (`http://localhost:6006`), a full `…/v1/traces` URL, or a gRPC
     * address (`grpc://localhost:4317`, or port 4317 without a path). Env
     * `PHOENIX_COLLECTOR_HTTP_ENDPOINT`, `PHOENIX_COLLECTOR_ENDPOINT`, `PHOENIX_ENDPOINT`.
     */
    endpoint: z.string().min(1).max(2048).optional(),
    /** Forces the transport instead of detecting it from the endpoint. Phoenix accepts protobuf only. */
    protocol: z
      .enum(['http/protobuf', 'grpc'], {
        error:
          'expected "http/protobuf" or "grpc": Phoenix rejects OTLP JSON (415), so http/json is not offered',
      })
      .optional(),
    /** Sent as `Authorization: Bearer <apiKey>`. Env `PHOENIX_API_KEY`. Never printed. */
    apiKey: z.string().min(1).optional(),
    /** Extra request headers. Env `PHOENIX_CLIENT_HEADERS` (a JSON object, or `k=v,k2=v2`). */
    headers: z.record(z.string().min(1), z.string()).optional(),
    /**
     * The project spans go to, or a function of the step for per-request projects. Env
     * `PHOENIX_PROJECT_NAME`, `PHOENIX_PROJECT`. Default `default`.
     */
    project: z
      .union([z.string().min(1).max(1000), fn('a project name or a function (step) => name')])
      .optional(),
    /** Per-step API keys (one Phoenix space per team): `(step) => apiKey | { apiKey } | undefined`. */
    credentials: fn('a function (step) => apiKey').optional(),
    /** Header sets (key and project pairs) kept open at once, one exporter each. Default 32. */
    maxCredentialSets: positiveInt(10_000).optional(),
    /** OpenInference's hide switches; each also reads its `OPENINFERENCE_HIDE_*` variable. */
    hide: HideSchema.optional(),
    /** Base64 image URLs longer than this are sent as `__REDACTED__`. Env `OPENINFERENCE_BASE64_IMAGE_MAX_LENGTH`. */
    base64ImageMaxLength: positiveInt(1_000_000_000).optional(),
    /** Default `none`; Phoenix also accepts gzip. */
    compression: z.enum(['gzip', 'none']).optional(),
    /** Deadline of one export request (retries included), ms. Default 10000. */
    timeoutMillis: positiveInt(600_000).optional(),
    /** Batching, or `false` to export each span when its step ends (serverless). */
    batch: z.union([BatchSchema, z.literal(false)]).optional(),
    /** Redaction for Phoenix only, on top of the tracer's (the options of `redact()`). */
    redact: RedactOptionsSchema.optional(),
    /** Budgets for each serialised content attribute. */
    limits: SerializeLimitsSchema.optional(),
    /** Share of traces sent to Phoenix, 0 to 1, decided per trace id (a kept trace is whole). Default 1. */
    samplingRate: z.number().min(0).max(1).optional(),
    /** Print configuration and export results to stderr; keys are never printed. */
    debug: z.boolean().optional(),
  })
  .strict();

export type PhoenixPluginOptions = Omit<
  z.input<typeof PhoenixPluginOptionsSchema>,
  'project' | 'credentials'
> & {
  project?: string | ProjectFunction;
  credentials?: CredentialsFunction;
};

export interface BatchSettings {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
}

export interface ResolvedPhoenixOptions {
  name: string;
  protocol: PhoenixProtocol;
  /** The OTel plugin's endpoint: `http(s)://host:port[/base]` (gRPC: the server address). */
  endpoint: string;
  /** Where spans go: the full `…/v1/traces` URL, or `grpc://host:port`. */
  tracesUrl: string;
  /** Where the endpoint came from (`option endpoint`, `PHOENIX_COLLECTOR_ENDPOINT`, `default`). */
  endpointSource: string;
  apiKey: string | undefined;
  /** Extra headers, names lowercased. */
  headers: Record<string, string>;
  /** The default project. */
  project: string;
  projectFunction: ProjectFunction | undefined;
  credentials: CredentialsFunction | undefined;
  maxCredentialSets: number;
  hide: HideFlags;
  base64ImageMaxLength: number;
  compression: 'gzip' | 'none';
  timeoutMillis: number;
  batch: BatchSettings | false;
  redact: z.output<typeof RedactOptionsSchema> | undefined;
  limits: Partial<SerializeLimits> | undefined;
  samplingRate: number;
  debug: boolean;
}

/** Phoenix Cloud refuses unauthenticated exports: a missing key fails at configuration. */
const PHOENIX_CLOUD_HOST = /(^|\.)phoenix\.arize\.com$/i;

const ENDPOINT_HELP = 'a URL such as http://localhost:6006, http://host:6006/v1/traces or grpc://host:4317';

function invalid(source: string, message: string): SpanchainError {
  const what = source.startsWith('option') ? `Invalid ${source}` : `Invalid environment variable ${source}`;
  return new SpanchainError('INVALID_OPTIONS', `${what}: ${message}`);
}

/**
 * The transport and URLs of an endpoint, detected as LiteLLM's Phoenix integration does it:
 * gRPC for a `grpc://` (or `grpcs://`) URL, or for Phoenix's gRPC port with no path; otherwise
 * OTLP/HTTP protobuf, with `/v1/traces` appended unless the path already ends with it (a path
 * ending in `/v1` gets `/traces`). An explicit protocol wins over the detection.
 */
export function resolveEndpoint(
  raw: string,
  options: { protocol?: PhoenixProtocol; grpcPort?: number; source?: string } = {},
): { protocol: PhoenixProtocol; endpoint: string; tracesUrl: string } {
  const source = options.source ?? 'option endpoint';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(source, `expected ${ENDPOINT_HELP}`);
  }
  const scheme = url.protocol;
  if (!['http:', 'https:', 'grpc:', 'grpcs:'].includes(scheme)) {
    throw invalid(source, `expected an http://, https:// or grpc:// URL (${ENDPOINT_HELP})`);
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid(source, 'credentials in the URL are not supported: use apiKey / PHOENIX_API_KEY');
  }
  const path = url.pathname.replace(/\/+$/, '');
  const grpcPort = options.grpcPort ?? DEFAULT_GRPC_PORT;
  const detected: PhoenixProtocol =
    scheme === 'grpc:' || scheme === 'grpcs:' || (path === '' && Number(url.port) === grpcPort)
      ? 'grpc'
      : 'http/protobuf';
  const protocol = options.protocol ?? detected;
  const secure = scheme === 'https:' || scheme === 'grpcs:';
  const origin = `${secure ? 'https' : 'http'}://${url.host}`;
  if (protocol === 'grpc') {
    // gRPC has a fixed service path: only the address matters (Phoenix's gRPC port unless given).
    const address =
      url.port === '' && (scheme === 'grpc:' || scheme === 'grpcs:')
        ? `${url.hostname}:${grpcPort}`
        : url.host;
    return {
      protocol,
      endpoint: `${secure ? 'https' : 'http'}://${address}`,
      tracesUrl: `${secure ? 'grpcs' : 'grpc'}://${address}`,
    };
  }
  const base = path.endsWith('/v1/traces') ? path.slice(0, -'/v1/traces'.length) : path.replace(/\/v1$/, '');
  const endpoint = `${origin}${base}`;
  return { protocol, endpoint, tracesUrl: `${endpoint}/v1/traces` };
}

/**
 * `PHOENIX_CLIENT_HEADERS`: a JSON object (Phoenix's JS packages) or `k=v,k2=v2` with URL-encoded
 * values (its Python package). Header values are credentials: errors never show them.
 */
export function parseClientHeaders(raw: string, name = 'PHOENIX_CLIENT_HEADERS'): Record<string, string> {
  const text = raw.trim();
  const out: Record<string, string> = {};
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw envError(name, 'a JSON object of header values, or k=v,k2=v2 pairs (the JSON does not parse)');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw envError(name, 'a JSON object of header values, or k=v,k2=v2 pairs');
    }
    for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw envError(name, `string header values (header ${JSON.stringify(key.slice(0, 60))} is not)`);
      }
      out[key.trim().toLowerCase()] = String(value);
    }
    return out;
  }
  text.split(',').forEach((entry, index) => {
    if (entry.trim() === '') return;
    const eq = entry.indexOf('=');
    const key = eq > 0 ? entry.slice(0, eq).trim() : '';
    if (key === '')
      throw envError(name, `a JSON object, or k=v,k2=v2 pairs (entry ${index + 1} has no key=)`);
    let value = entry.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      throw envError(name, `URL-encoded values (entry ${index + 1}, ${JSON.stringify(key)}, is not)`);
    }
    out[key.toLowerCase()] = value;
  });
  return out;
}

/** A header value Node's HTTP client and gRPC metadata both accept: printable ASCII. */
export function isHeaderValue(value: string): boolean {
  return /^[\x20-\x7e]*$/.test(value);
}

function hideFlags(options: Partial<HideFlags> | undefined, env: NodeJS.ProcessEnv): HideFlags {
  const out = {} as HideFlags;
  for (const key of Object.keys(HIDE_ENV) as (keyof HideFlags)[]) {
    let value = options?.[key];
    for (const name of HIDE_ENV[key]) {
      if (value !== undefined) break;
      value = envBoolean(name, env);
    }
    out[key] = value ?? false;
  }
  return out;
}

/**
 * Parses options and environment into settings. Throws `SpanchainError('INVALID_OPTIONS')` on
 * bad input, naming the option or variable; the API key is registered as a secret, so it is
 * scrubbed from any message spanchain writes.
 *
 * Endpoint: option `endpoint` > `PHOENIX_COLLECTOR_HTTP_ENDPOINT` > `PHOENIX_COLLECTOR_ENDPOINT`
 * > `PHOENIX_ENDPOINT` > `http://localhost:6006`. Project: a string option > `PHOENIX_PROJECT_NAME`
 * > `PHOENIX_PROJECT` > `default`.
 */
export function resolvePhoenixOptions(
  input: unknown,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedPhoenixOptions {
  const options = parseOptions(
    PhoenixPluginOptionsSchema,
    input ?? {},
    '@spanchain/phoenix options',
  ) as PhoenixPluginOptions;

  let endpointRaw = options.endpoint;
  let endpointSource = 'option endpoint';
  if (endpointRaw === undefined) {
    for (const name of [
      'PHOENIX_COLLECTOR_HTTP_ENDPOINT',
      'PHOENIX_COLLECTOR_ENDPOINT',
      'PHOENIX_ENDPOINT',
    ]) {
      const value = envString(name, env);
      if (value !== undefined) {
        endpointRaw = value;
        endpointSource = name;
        break;
      }
    }
  }
  if (endpointRaw === undefined) {
    endpointRaw = DEFAULT_ENDPOINT;
    endpointSource = 'default';
  }
  const grpcPort = envInteger('PHOENIX_GRPC_PORT', 1, 65_535, env) ?? DEFAULT_GRPC_PORT;
  const target = resolveEndpoint(endpointRaw, {
    protocol: options.protocol,
    grpcPort,
    source: endpointSource,
  });

  const apiKey = options.apiKey ?? envString('PHOENIX_API_KEY', env);
  registerSecret(apiKey);
  if (apiKey !== undefined && !isHeaderValue(apiKey)) {
    throw new SpanchainError(
      'INVALID_OPTIONS',
      `Invalid ${options.apiKey !== undefined ? 'option apiKey' : 'environment variable PHOENIX_API_KEY'}: expected printable ASCII characters only`,
    );
  }

  let headers: Record<string, string> = {};
  if (options.headers !== undefined) {
    for (const [key, value] of Object.entries(options.headers)) headers[key.trim().toLowerCase()] = value;
  } else {
    const raw = envString('PHOENIX_CLIENT_HEADERS', env);
    if (raw !== undefined) headers = parseClientHeaders(raw);
  }
  for (const [key, value] of Object.entries(headers)) {
    // Every client header may be a credential: none is ever printed.
    registerSecret(value);
    if (!isHeaderValue(value)) {
      throw new SpanchainError(
        'INVALID_OPTIONS',
        `Invalid ${options.headers !== undefined ? 'option headers' : 'environment variable PHOENIX_CLIENT_HEADERS'}: header ${JSON.stringify(key.slice(0, 60))} must be printable ASCII`,
      );
    }
  }

  const host = new URL(target.endpoint).hostname;
  if (
    PHOENIX_CLOUD_HOST.test(host) &&
    apiKey === undefined &&
    headers.authorization === undefined &&
    options.credentials === undefined
  ) {
    throw new SpanchainError(
      'INVALID_OPTIONS',
      `Phoenix Cloud (${host}) needs an API key: pass { apiKey } or set PHOENIX_API_KEY (or pass a credentials function for per-team keys).`,
    );
  }

  const projectOption = options.project;
  const project =
    (typeof projectOption === 'string' ? projectOption : undefined) ??
    envString('PHOENIX_PROJECT_NAME', env) ??
    envString('PHOENIX_PROJECT', env) ??
    DEFAULT_PROJECT;

  const batch: BatchSettings | false =
    options.batch === false
      ? false
      : {
          maxQueueSize: options.batch?.maxQueueSize ?? 2048,
          maxExportBatchSize: options.batch?.maxExportBatchSize ?? 512,
          scheduledDelayMillis: options.batch?.scheduledDelayMillis ?? 5000,
          exportTimeoutMillis: options.batch?.exportTimeoutMillis ?? 30_000,
        };
  const timeoutMillis = options.timeoutMillis ?? 10_000;
  if (batch) {
    batch.maxExportBatchSize = Math.min(batch.maxExportBatchSize, batch.maxQueueSize);
    // One export (the exporter's retries included) must fit in the batch processor's deadline.
    batch.exportTimeoutMillis = Math.max(batch.exportTimeoutMillis, timeoutMillis + 1000);
  }

  return {
    name: options.name ?? 'phoenix',
    protocol: target.protocol,
    endpoint: target.endpoint,
    tracesUrl: target.tracesUrl,
    endpointSource,
    apiKey,
    headers,
    project,
    projectFunction: typeof projectOption === 'function' ? projectOption : undefined,
    credentials: options.credentials,
    maxCredentialSets: options.maxCredentialSets ?? 32,
    hide: hideFlags(options.hide, env),
    base64ImageMaxLength:
      options.base64ImageMaxLength ??
      envInteger('OPENINFERENCE_BASE64_IMAGE_MAX_LENGTH', 1, 1_000_000_000, env) ??
      DEFAULT_BASE64_IMAGE_MAX_LENGTH,
    compression: options.compression ?? 'none',
    timeoutMillis,
    batch,
    redact: options.redact,
    limits: options.limits,
    samplingRate: options.samplingRate ?? 1,
    debug: options.debug ?? false,
  };
}
