/**
 * The Phoenix plugin is the OpenTelemetry plugin speaking OpenInference: the same batching,
 * transport, retries and per-credential pipelines, sending OTLP protobuf (HTTP or gRPC, never
 * JSON: Phoenix answers 415) with the project as resource attribute and `x-project-name` header,
 * and the attributes of {@link phoenixMapper}.
 */
import { ErrorReporter, registerSecret, type Step } from '@spanchain/core';
import { OtelPlugin, type OtelPluginOptions, withMapOptions } from '@spanchain/otel';
import { phoenixMapper } from './map.js';
import { PROJECT_HEADER, PROJECT_METADATA_KEY, PROJECT_RESOURCE_ATTRIBUTE } from './names.js';
import {
  isHeaderValue,
  type PhoenixPluginOptions,
  type ResolvedPhoenixOptions,
  resolvePhoenixOptions,
} from './options.js';
import { VERSION } from './version.js';

export const SDK_NAME = '@spanchain/phoenix';

/** Header sets and resources kept for reuse; beyond it the oldest is forgotten (and rebuilt if seen again). */
const MAX_CACHED = 1000;

/**
 * The request headers for one API key and project: the client headers, `Authorization: Bearer`
 * (unless the client headers carry an authorization already) and `x-project-name`. A project
 * name that is not printable ASCII cannot travel in a header; the resource attribute carries it.
 */
export function phoenixHeaders(
  apiKey: string | undefined,
  project: string,
  clientHeaders: Record<string, string> = {},
): Record<string, string> {
  const headers: Record<string, string> = { ...clientHeaders };
  if (apiKey !== undefined && headers.authorization === undefined) headers.authorization = `Bearer ${apiKey}`;
  if (isHeaderValue(project)) headers[PROJECT_HEADER] = project;
  else delete headers[PROJECT_HEADER];
  return headers;
}

/** A bounded map: the oldest entry goes first when it is full. */
class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  get(key: string, make: () => V): V {
    let value = this.map.get(key);
    if (value === undefined) {
      if (this.map.size >= MAX_CACHED) {
        const oldest = this.map.keys().next().value;
        if (oldest !== undefined) this.map.delete(oldest);
      }
      value = make();
      this.map.set(key, value);
    }
    return value;
  }
}

/** Only these OTel variables reach the inner plugin: endpoint, headers and protocol are Phoenix's. */
const PASSED_ENV = ['OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES'] as const;

function innerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const name of PASSED_ENV) if (env[name] !== undefined) out[name] = env[name];
  return out;
}

/** The OTel plugin's options for resolved Phoenix settings. */
export function otelOptionsFor(
  settings: ResolvedPhoenixOptions,
  errors = new ErrorReporter(),
): OtelPluginOptions {
  const defaults = phoenixHeaders(settings.apiKey, settings.project, settings.headers);
  const { projectFunction, credentials } = settings;

  // The project of a step: the project function's answer, else the trace's
  // `phoenix_project_name` metadata, else the default. Asked twice per step (resource and
  // headers), one after the other, so the last answer is kept.
  let lastStep: Step | undefined;
  let lastProject = settings.project;
  const projectOf = (step: Step): string => {
    if (step === lastStep) return lastProject;
    let project: unknown;
    if (projectFunction !== undefined) {
      try {
        project = projectFunction(step);
      } catch (error) {
        errors.report(`plugin:${settings.name}.project`, error);
      }
    }
    if (typeof project !== 'string' || project === '') project = step.trace.metadata?.[PROJECT_METADATA_KEY];
    lastStep = step;
    lastProject = typeof project === 'string' && project !== '' ? project : settings.project;
    return lastProject;
  };

  const headerSets = new BoundedCache<Record<string, string>>();
  const apiKeyOf = (step: Step): string | undefined => {
    if (credentials === undefined) return settings.apiKey;
    const given = credentials(step);
    if (given === undefined || given === null) return settings.apiKey;
    const key = typeof given === 'string' ? given : given.apiKey;
    if (typeof key !== 'string' || key === '' || !isHeaderValue(key)) {
      throw new Error('credentials() must return an API key (printable ASCII) or { apiKey }');
    }
    return key;
  };
  // The same object for the same key and project, so the OTel plugin recognises it without
  // rehashing; each distinct object is a pipeline of its own, so batches never mix them.
  const headers = (step: Step): Record<string, string> => {
    const project = projectOf(step);
    const apiKey = apiKeyOf(step);
    if (project === settings.project && apiKey === settings.apiKey) return defaults;
    return headerSets.get(`${apiKey ?? ''}\u0000${project}`, () => {
      if (apiKey !== settings.apiKey) registerSecret(apiKey, { transient: true });
      return phoenixHeaders(apiKey, project, settings.headers);
    });
  };

  const resources = new BoundedCache<Record<string, string>>();
  const stepResource = (step: Step): Record<string, string> | undefined => {
    const project = projectOf(step);
    if (project === settings.project) return undefined;
    return resources.get(project, () => ({ [PROJECT_RESOURCE_ATTRIBUTE]: project }));
  };

  const mapOptions = { hide: settings.hide, base64ImageMaxLength: settings.base64ImageMaxLength };

  return {
    name: settings.name,
    exporter: 'otlp',
    endpoint: settings.endpoint,
    protocol: settings.protocol,
    headers,
    compression: settings.compression,
    timeoutMillis: settings.timeoutMillis,
    batch: settings.batch,
    maxCredentialSets: settings.maxCredentialSets,
    resourceAttributes: { [PROJECT_RESOURCE_ATTRIBUTE]: settings.project },
    stepResource,
    // Phoenix is where inputs and outputs are read; `hide` and `redact` decide what they contain.
    captureContent: 'span',
    llmSpans: 'nested',
    ...(settings.limits && { limits: settings.limits }),
    ...(settings.redact && { redact: settings.redact }),
    // Phoenix has no metrics or logs endpoint.
    metrics: false,
    logs: false,
    samplingRate: settings.samplingRate,
    debug: settings.debug,
    mapper: withMapOptions(mapOptions, phoenixMapper),
    scope: { name: SDK_NAME, version: VERSION },
  };
}

/**
 * Makes the Phoenix plugin: an {@link OtelPlugin} sending OpenInference spans to Phoenix's
 * collector (`http://localhost:6006/v1/traces` by default).
 *
 * @example
 * const tracer = createTracer({ plugins: [phoenix({ project: 'support-bot' })] });
 */
export function phoenix(options?: PhoenixPluginOptions, env: NodeJS.ProcessEnv = process.env): OtelPlugin {
  const settings = resolvePhoenixOptions(options, env);
  return new OtelPlugin(otelOptionsFor(settings), innerEnv(env));
}
