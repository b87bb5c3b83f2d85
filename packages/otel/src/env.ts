/**
 * The environment variables of the OTLP exporters (standard and LiteLLM-style names), read into
 * values; `options.ts` decides which wins. Errors name the variable, never a header's value.
 */
import { envBoolean, envError, envString, registerSecret } from '@spanchain/core';

export const PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type OtlpProtocol = (typeof PROTOCOLS)[number];

/** Where content (messages, arguments, documents) goes: nowhere, on spans, in log events, both. */
export const CONTENT_MODES = ['none', 'span', 'event', 'span_and_event'] as const;
export type ContentMode = (typeof CONTENT_MODES)[number];

/**
 * Parses `k=v,k2=v2` (W3C baggage style, values URL-encoded) as the OTLP exporters' header
 * variables are written. The values are credentials: an error names the variable and the
 * position, never the text.
 */
export function parseKeyValueList(name: string, raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  raw.split(',').forEach((entry, index) => {
    if (entry.trim() === '') return;
    const eq = entry.indexOf('=');
    const key = eq > 0 ? entry.slice(0, eq).trim() : '';
    if (key === '') throw envError(name, `comma-separated key=value pairs (entry ${index + 1} has no key=)`);
    let value = entry.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      throw envError(name, `URL-encoded values (entry ${index + 1}, key ${JSON.stringify(key)}, is not)`);
    }
    out[key] = value;
  });
  return out;
}

export function parseResourceAttributes(raw: string): Record<string, string> {
  return parseKeyValueList('OTEL_RESOURCE_ATTRIBUTES', raw);
}

export function envProtocol(env: NodeJS.ProcessEnv): OtlpProtocol | undefined {
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const raw = envString(name, env);
    if (raw === undefined) continue;
    if (!(PROTOCOLS as readonly string[]).includes(raw)) {
      throw envError(name, PROTOCOLS.join(', '), JSON.stringify(raw.slice(0, 40)));
    }
    return raw as OtlpProtocol;
  }
  return undefined;
}

/** LiteLLM's `OTEL_EXPORTER`: `console`, `otlp_http`, `otlp_grpc` (and `otlp`, `in_memory`). */
export function envExporter(
  env: NodeJS.ProcessEnv,
): { exporter: 'otlp' | 'console' | 'memory'; protocol?: OtlpProtocol } | undefined {
  const raw = envString('OTEL_EXPORTER', env)?.toLowerCase();
  switch (raw) {
    case undefined:
      return undefined;
    case 'console':
      return { exporter: 'console' };
    case 'in_memory':
    case 'memory':
      return { exporter: 'memory' };
    case 'otlp':
      return { exporter: 'otlp' };
    case 'otlp_http':
      return { exporter: 'otlp', protocol: 'http/protobuf' };
    case 'otlp_grpc':
      return { exporter: 'otlp', protocol: 'grpc' };
    default:
      throw envError(
        'OTEL_EXPORTER',
        'console, otlp_http, otlp_grpc, otlp or in_memory',
        JSON.stringify(raw.slice(0, 40)),
      );
  }
}

export function envUrl(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = envString(name, env);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw envError(name, 'an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw envError(name, 'an http:// or https:// URL');
  return raw;
}

const SIGNAL_PATH = /\/v1\/(traces|metrics|logs)\/?$/;

/** The base URL of an endpoint given either as a base or as a signal's full URL. */
export function baseEndpoint(url: string): string {
  return url.replace(SIGNAL_PATH, '').replace(/\/+$/, '');
}

/** The URL an exporter of `signal` posts to. gRPC takes the base (the service path is fixed). */
export function signalUrl(
  endpoint: string,
  protocol: OtlpProtocol,
  signal: 'traces' | 'metrics' | 'logs',
): string {
  return protocol === 'grpc' ? endpoint : `${endpoint}/v1/${signal}`;
}

export function contentMode(value: boolean | ContentMode | undefined): ContentMode | undefined {
  if (value === undefined) return undefined;
  if (value === true) return 'span_and_event';
  if (value === false) return 'none';
  return value;
}

/** `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`: `true`/`false` or a mode name. */
export function envContent(env: NodeJS.ProcessEnv): ContentMode | undefined {
  const name = 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT';
  const raw = envString(name, env);
  if (raw === undefined) return undefined;
  const modes: Record<string, ContentMode> = {
    no_content: 'none',
    span_only: 'span',
    event_only: 'event',
    span_and_event: 'span_and_event',
  };
  const mode = modes[raw.toLowerCase()];
  if (mode !== undefined) return mode;
  return contentMode(envBoolean(name, env));
}

/** Header names whose values are credentials; other headers (SDK names, versions) stay readable in errors. */
export const CREDENTIAL_HEADER = /auth|key|token|secret|password|cookie|signature|session/i;

export function registerHeaderSecrets(headers: Record<string, string>, transient = false): void {
  for (const [name, value] of Object.entries(headers)) {
    if (CREDENTIAL_HEADER.test(name)) registerSecret(value, { transient });
  }
}

/**
 * The SDK's sampler variables, as far as they are a ratio of traces: `always_on`, `always_off`,
 * `traceidratio` and `parentbased_traceidratio` (with `OTEL_TRACES_SAMPLER_ARG`, default 1; the
 * parent's decision is the core's, so both ratio forms mean the same here). Other samplers
 * (`jaeger_remote`, vendor ones) belong to the app's own SDK and are ignored.
 */
export function envSamplingRate(env: NodeJS.ProcessEnv): number | undefined {
  const sampler = envString('OTEL_TRACES_SAMPLER', env)?.toLowerCase();
  if (sampler === 'always_on' || sampler === 'parentbased_always_on') return 1;
  if (sampler === 'always_off' || sampler === 'parentbased_always_off') return 0;
  if (sampler !== 'traceidratio' && sampler !== 'parentbased_traceidratio') return undefined;
  const raw = envString('OTEL_TRACES_SAMPLER_ARG', env);
  if (raw === undefined) return 1;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw envError('OTEL_TRACES_SAMPLER_ARG', 'a number from 0 to 1', JSON.stringify(raw.slice(0, 40)));
  }
  return value;
}
