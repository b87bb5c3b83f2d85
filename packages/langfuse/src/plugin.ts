/**
 * The Langfuse plugin is the OpenTelemetry plugin speaking Langfuse's vocabulary: the same
 * batching, transport, retries and per-credential pipelines, sending OTLP to Langfuse's
 * endpoint with Basic auth and the `langfuse.*` attributes of {@link langfuseMapper}.
 */
import { ErrorReporter } from '@spanchain/core';
import { OtelPlugin, type OtelPluginOptions, withMapOptions } from '@spanchain/otel';
import { langfuseMapper } from './map.js';
import {
  type LangfuseCredentials,
  type LangfusePluginOptions,
  type ResolvedLangfuseOptions,
  resolveLangfuseOptions,
} from './options.js';
import { VERSION } from './version.js';

export const SDK_NAME = '@spanchain/langfuse';
/** Opts a custom exporter into Langfuse's real-time ("direct write") ingestion path. */
export const INGESTION_VERSION = '4';

const MAX_HEADER_SETS = 1000;
const MAX_WARNED = 100;

/** The request headers for one key pair. */
export function langfuseHeaders(keys: LangfuseCredentials): Record<string, string> {
  return {
    authorization: `Basic ${Buffer.from(`${keys.publicKey}:${keys.secretKey}`, 'utf8').toString('base64')}`,
    'x-langfuse-ingestion-version': INGESTION_VERSION,
    'x-langfuse-public-key': keys.publicKey,
    'x-langfuse-sdk-name': SDK_NAME,
    'x-langfuse-sdk-version': VERSION,
  };
}

/** Only these OTel variables reach the inner plugin: everything else is Langfuse's settings. */
const PASSED_ENV = ['OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES'] as const;

function innerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const name of PASSED_ENV) if (env[name] !== undefined) out[name] = env[name];
  return out;
}

/** The OTel plugin's options for resolved Langfuse settings. */
export function otelOptionsFor(
  settings: ResolvedLangfuseOptions,
  errors = new ErrorReporter(),
): OtelPluginOptions {
  const defaults =
    settings.publicKey !== undefined && settings.secretKey !== undefined
      ? langfuseHeaders({ publicKey: settings.publicKey, secretKey: settings.secretKey })
      : undefined;

  let headers: OtelPluginOptions['headers'] = defaults;
  const { credentials } = settings;
  if (credentials) {
    // The same object for the same key pair, so the OTel plugin recognises it without rehashing.
    const cache = new Map<string, Record<string, string>>();
    headers = (step) => {
      const keys = credentials(step);
      if (keys === undefined || keys === null) {
        if (defaults === undefined)
          throw new Error('no Langfuse key pair for this step (credentials returned none)');
        return defaults;
      }
      if (
        typeof keys.publicKey !== 'string' ||
        typeof keys.secretKey !== 'string' ||
        !keys.publicKey ||
        !keys.secretKey
      ) {
        throw new Error('credentials() must return { publicKey, secretKey } strings');
      }
      const key = `${keys.publicKey}\u0000${keys.secretKey}`;
      let set = cache.get(key);
      if (set === undefined) {
        if (cache.size >= MAX_HEADER_SETS) cache.clear();
        set = langfuseHeaders(keys);
        cache.set(key, set);
      }
      return set;
    };
  }

  const warned = new Set<string>();
  const mapOptions = {
    environment: settings.environment,
    release: settings.release,
    version: settings.version,
    onInvalidEnvironment: (value: string) => {
      if (warned.has(value) || warned.size >= MAX_WARNED) return;
      warned.add(value);
      errors.warn(
        `plugin:${settings.name}.environment`,
        `trace environment ${JSON.stringify(value.slice(0, 60))} is not a valid Langfuse environment ([a-z0-9_-]{1,40}, not starting with "langfuse"); left out`,
      );
    },
  };

  return {
    name: settings.name,
    exporter: 'otlp',
    endpoint: `${settings.baseUrl}/api/public/otel`,
    protocol: settings.protocol,
    headers,
    compression: settings.compression,
    timeoutMillis: settings.timeoutMillis,
    batch: settings.batch,
    maxCredentialSets: settings.maxCredentialSets,
    // Langfuse shows inputs and outputs; `redact` decides what they may contain.
    captureContent: 'span',
    llmSpans: 'nested',
    ...(settings.limits && { limits: settings.limits }),
    ...(settings.redact && { redact: settings.redact }),
    // Langfuse discards metrics and rejects logs.
    metrics: false,
    logs: false,
    samplingRate: settings.samplingRate,
    debug: settings.debug,
    mapper: withMapOptions(mapOptions, langfuseMapper),
    scope: { name: SDK_NAME, version: VERSION },
  };
}

/**
 * Makes the Langfuse plugin: an {@link OtelPlugin} sending to `{baseUrl}/api/public/otel`.
 *
 * @example
 * const tracer = createTracer({ plugins: [langfuse({ publicKey, secretKey })] });
 */
export function langfuse(options?: LangfusePluginOptions, env: NodeJS.ProcessEnv = process.env): OtelPlugin {
  const settings = resolveLangfuseOptions(options, env);
  return new OtelPlugin(otelOptionsFor(settings), innerEnv(env));
}
