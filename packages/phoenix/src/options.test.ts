import { readFileSync } from 'node:fs';
import {
  type InternalErrorReport,
  SpanchainError,
  type Step,
  scrubSecrets,
  setErrorHandler,
} from '@spanchain/core';
import { describe, expect, it } from 'vitest';
import { createPlugin } from './index.js';
import {
  PhoenixPluginOptionsSchema,
  parseClientHeaders,
  resolveEndpoint,
  resolvePhoenixOptions,
} from './options.js';
import { otelOptionsFor, phoenix, phoenixHeaders } from './plugin.js';
import { VERSION } from './version.js';

const KEY = 'px-api-key-0123456789abcdef';

function thrown(fn: () => unknown): SpanchainError {
  try {
    fn();
  } catch (error) {
    if (SpanchainError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('did not throw');
}

/** A step as far as the headers and resource functions look at it. */
const stepWith = (fields: { team?: string; project?: string }): Step =>
  ({
    identity: fields.team === undefined ? undefined : { team: fields.team },
    trace: fields.project === undefined ? {} : { metadata: { phoenix_project_name: fields.project } },
  }) as unknown as Step;

describe('endpoint and protocol detection', () => {
  it.each([
    ['grpc://phoenix:4317', 'grpc', 'http://phoenix:4317', 'grpc://phoenix:4317'],
    ['grpc://phoenix', 'grpc', 'http://phoenix:4317', 'grpc://phoenix:4317'],
    ['grpcs://phoenix.example:443', 'grpc', 'https://phoenix.example:443', 'grpcs://phoenix.example:443'],
    ['http://phoenix:4317', 'grpc', 'http://phoenix:4317', 'grpc://phoenix:4317'],
    ['http://phoenix:4317/', 'grpc', 'http://phoenix:4317', 'grpc://phoenix:4317'],
    [
      'http://phoenix:4317/v1/traces',
      'http/protobuf',
      'http://phoenix:4317',
      'http://phoenix:4317/v1/traces',
    ],
    ['http://phoenix:6006', 'http/protobuf', 'http://phoenix:6006', 'http://phoenix:6006/v1/traces'],
    ['http://phoenix:6006/', 'http/protobuf', 'http://phoenix:6006', 'http://phoenix:6006/v1/traces'],
    [
      'http://phoenix:6006/v1/traces',
      'http/protobuf',
      'http://phoenix:6006',
      'http://phoenix:6006/v1/traces',
    ],
    ['http://phoenix:6006/v1', 'http/protobuf', 'http://phoenix:6006', 'http://phoenix:6006/v1/traces'],
    [
      'https://app.phoenix.arize.com/s/my-space',
      'http/protobuf',
      'https://app.phoenix.arize.com/s/my-space',
      'https://app.phoenix.arize.com/s/my-space/v1/traces',
    ],
    [
      'http://proxy:8080/phoenix',
      'http/protobuf',
      'http://proxy:8080/phoenix',
      'http://proxy:8080/phoenix/v1/traces',
    ],
  ])('%s → %s', (raw, protocol, endpoint, tracesUrl) => {
    expect(resolveEndpoint(raw)).toEqual({ protocol, endpoint, tracesUrl });
  });

  it('an explicit protocol wins; the gRPC port is PHOENIX_GRPC_PORT', () => {
    expect(resolveEndpoint('http://phoenix:4317', { protocol: 'http/protobuf' }).protocol).toBe(
      'http/protobuf',
    );
    expect(resolveEndpoint('http://phoenix:6006', { protocol: 'grpc' })).toMatchObject({
      protocol: 'grpc',
      endpoint: 'http://phoenix:6006',
    });
    expect(resolveEndpoint('http://phoenix:9000', { grpcPort: 9000 }).protocol).toBe('grpc');
    const s = resolvePhoenixOptions(
      {},
      { PHOENIX_COLLECTOR_ENDPOINT: 'http://p:9000', PHOENIX_GRPC_PORT: '9000' },
    );
    expect(s.protocol).toBe('grpc');
  });

  it('bad endpoints fail naming where they came from', () => {
    expect(() => resolvePhoenixOptions({ endpoint: 'nope' }, {})).toThrow(/option endpoint/);
    expect(() => resolvePhoenixOptions({ endpoint: 'ftp://x' }, {})).toThrow(/option endpoint/);
    expect(() => resolvePhoenixOptions({}, { PHOENIX_COLLECTOR_ENDPOINT: 'localhost' })).toThrow(
      /PHOENIX_COLLECTOR_ENDPOINT/,
    );
    const withPassword = thrown(() => resolvePhoenixOptions({ endpoint: 'http://u:hunter2pass@x:6006' }, {}));
    expect(withPassword.message).not.toContain('hunter2pass');
  });
});

describe('options and environment', () => {
  it('defaults: local Phoenix over HTTP protobuf, project default, nothing hidden', () => {
    const s = resolvePhoenixOptions(undefined, {});
    expect(s).toMatchObject({
      name: 'phoenix',
      protocol: 'http/protobuf',
      endpoint: 'http://localhost:6006',
      tracesUrl: 'http://localhost:6006/v1/traces',
      endpointSource: 'default',
      project: 'default',
      apiKey: undefined,
      headers: {},
      compression: 'none',
      timeoutMillis: 10_000,
      batch: {
        maxQueueSize: 2048,
        maxExportBatchSize: 512,
        scheduledDelayMillis: 5000,
        exportTimeoutMillis: 30_000,
      },
      base64ImageMaxLength: 32_000,
      debug: false,
    });
    expect(Object.values(s.hide).every((v) => v === false)).toBe(true);
  });

  it('endpoint precedence: option > PHOENIX_COLLECTOR_HTTP_ENDPOINT > PHOENIX_COLLECTOR_ENDPOINT > PHOENIX_ENDPOINT', () => {
    const env = {
      PHOENIX_COLLECTOR_HTTP_ENDPOINT: 'http://a:6006',
      PHOENIX_COLLECTOR_ENDPOINT: 'http://b:6006',
      PHOENIX_ENDPOINT: 'http://c:6006',
    };
    expect(resolvePhoenixOptions({ endpoint: 'http://o:6006' }, env).endpoint).toBe('http://o:6006');
    expect(resolvePhoenixOptions({}, env)).toMatchObject({
      endpoint: 'http://a:6006',
      endpointSource: 'PHOENIX_COLLECTOR_HTTP_ENDPOINT',
    });
    expect(resolvePhoenixOptions({}, { ...env, PHOENIX_COLLECTOR_HTTP_ENDPOINT: '' }).endpoint).toBe(
      'http://b:6006',
    );
    expect(resolvePhoenixOptions({}, { PHOENIX_ENDPOINT: 'http://c:6006' }).endpoint).toBe('http://c:6006');
  });

  it('project: option > PHOENIX_PROJECT_NAME > PHOENIX_PROJECT > default; a function is per step', () => {
    const env = { PHOENIX_PROJECT_NAME: 'from-name', PHOENIX_PROJECT: 'from-project' };
    expect(resolvePhoenixOptions({ project: 'opt' }, env).project).toBe('opt');
    expect(resolvePhoenixOptions({}, env).project).toBe('from-name');
    expect(resolvePhoenixOptions({}, { PHOENIX_PROJECT: 'from-project' }).project).toBe('from-project');
    const fn = () => 'x';
    const s = resolvePhoenixOptions({ project: fn }, env);
    expect(s.project).toBe('from-name');
    expect(s.projectFunction).toBe(fn);
  });

  it('PHOENIX_API_KEY and PHOENIX_CLIENT_HEADERS (JSON object or k=v pairs)', () => {
    const json = resolvePhoenixOptions(
      {},
      { PHOENIX_API_KEY: KEY, PHOENIX_CLIENT_HEADERS: '{"X-Tenant":"acme","x-num":7}' },
    );
    expect(json.apiKey).toBe(KEY);
    expect(json.headers).toEqual({ 'x-tenant': 'acme', 'x-num': '7' });
    expect(parseClientHeaders('x-tenant=acme, x-note=a%20b')).toEqual({
      'x-tenant': 'acme',
      'x-note': 'a b',
    });
    const option = resolvePhoenixOptions(
      { apiKey: 'opt-key-0000000', headers: { 'X-A': '1' } },
      {
        PHOENIX_API_KEY: KEY,
        PHOENIX_CLIENT_HEADERS: 'x-b=2',
      },
    );
    expect(option).toMatchObject({ apiKey: 'opt-key-0000000', headers: { 'x-a': '1' } });
  });

  it('bad client headers fail naming the variable, never showing a value', () => {
    for (const raw of ['{"a":', '[1]', '{"a":{"b":1}}', 'novalue', 'k=%zz-secret-value']) {
      const error = thrown(() => resolvePhoenixOptions({}, { PHOENIX_CLIENT_HEADERS: raw }));
      expect(error.message, raw).toContain('PHOENIX_CLIENT_HEADERS');
      expect(error.message).not.toContain('secret-value');
    }
  });

  it('hide switches from options and OPENINFERENCE_HIDE_* (options win; the old vectors name still works)', () => {
    const s = resolvePhoenixOptions(
      { hide: { outputs: false } },
      {
        OPENINFERENCE_HIDE_INPUTS: 'true',
        OPENINFERENCE_HIDE_OUTPUTS: 'true',
        OPENINFERENCE_HIDE_INPUT_MESSAGES: '1',
        OPENINFERENCE_HIDE_OUTPUT_MESSAGES: 'yes',
        OPENINFERENCE_HIDE_INPUT_IMAGES: 'true',
        OPENINFERENCE_HIDE_INPUT_TEXT: 'true',
        OPENINFERENCE_HIDE_OUTPUT_TEXT: 'true',
        OPENINFERENCE_HIDE_EMBEDDING_VECTORS: 'true',
        OPENINFERENCE_HIDE_EMBEDDINGS_TEXT: 'true',
        OPENINFERENCE_HIDE_LLM_INVOCATION_PARAMETERS: 'true',
        OPENINFERENCE_HIDE_LLM_TOOLS: 'true',
        OPENINFERENCE_BASE64_IMAGE_MAX_LENGTH: '100',
      },
    );
    expect(s.hide).toEqual({
      inputs: true,
      outputs: false,
      inputMessages: true,
      outputMessages: true,
      inputImages: true,
      inputText: true,
      outputText: true,
      embeddingsVectors: true,
      embeddingsText: true,
      llmInvocationParameters: true,
      llmTools: true,
    });
    expect(s.base64ImageMaxLength).toBe(100);
    expect(() => resolvePhoenixOptions({}, { OPENINFERENCE_HIDE_INPUTS: 'maybe' })).toThrow(
      /OPENINFERENCE_HIDE_INPUTS/,
    );
  });

  it('refuses OTLP JSON, with the reason', () => {
    const error = thrown(() => resolvePhoenixOptions({ protocol: 'http/json' as never }, {}));
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toContain('protocol');
    expect(error.message).toMatch(/JSON/);
  });

  it('Phoenix Cloud needs a key; keys are registered as secrets and never printed', () => {
    const cloud = thrown(() => resolvePhoenixOptions({ endpoint: 'https://app.phoenix.arize.com/s/x' }, {}));
    expect(cloud.message).toContain('PHOENIX_API_KEY');
    expect(() =>
      resolvePhoenixOptions({ endpoint: 'https://app.phoenix.arize.com/s/x' }, { PHOENIX_API_KEY: KEY }),
    ).not.toThrow();
    expect(scrubSecrets(`failed with ${KEY}`)).not.toContain(KEY);
    const bad = thrown(() => resolvePhoenixOptions({ apiKey: KEY, timeoutMillis: -1 }, {}));
    expect(bad.message).toContain('timeoutMillis');
    expect(bad.message).not.toContain(KEY);
    const notAscii = thrown(() => resolvePhoenixOptions({ apiKey: 'clé-non-ascii-123' }, {}));
    expect(notAscii.message).toContain('apiKey');
    expect(notAscii.message).not.toContain('clé-non-ascii-123');
  });

  it('batch settings, or none; the export deadline covers the request timeout', () => {
    expect(resolvePhoenixOptions({ batch: false }, {}).batch).toBe(false);
    expect(
      resolvePhoenixOptions(
        { timeoutMillis: 60_000, batch: { maxQueueSize: 10, maxExportBatchSize: 50 } },
        {},
      ).batch,
    ).toEqual({
      maxQueueSize: 10,
      maxExportBatchSize: 10,
      scheduledDelayMillis: 5000,
      exportTimeoutMillis: 61_000,
    });
  });

  it('the schema is exported and strict', () => {
    expect(PhoenixPluginOptionsSchema.safeParse({ project: 'p', hide: { inputs: true } }).success).toBe(true);
    expect(PhoenixPluginOptionsSchema.safeParse({ nope: 1 }).success).toBe(false);
    expect(PhoenixPluginOptionsSchema.safeParse({ hide: { everything: true } }).success).toBe(false);
  });
});

describe('the OTel plugin it becomes', () => {
  it('samples per trace at its own rate (default all)', () => {
    expect(otelOptionsFor(resolvePhoenixOptions({}, {})).samplingRate).toBe(1);
    expect(otelOptionsFor(resolvePhoenixOptions({ samplingRate: 0.2 }, {})).samplingRate).toBe(0.2);
    expect(() => resolvePhoenixOptions({ samplingRate: 1.5 }, {})).toThrow(/samplingRate/);
  });

  it('protobuf to Phoenix, project resource attribute, no metrics or logs, content on spans', () => {
    const o = otelOptionsFor(resolvePhoenixOptions({ apiKey: KEY, project: 'support' }, {}));
    expect(o).toMatchObject({
      name: 'phoenix',
      exporter: 'otlp',
      endpoint: 'http://localhost:6006',
      protocol: 'http/protobuf',
      resourceAttributes: { 'openinference.project.name': 'support' },
      metrics: false,
      logs: false,
      captureContent: 'span',
      scope: { name: '@spanchain/phoenix', version: VERSION },
    });
    const headers = o.headers as (step: Step) => Record<string, string>;
    expect(headers(stepWith({}))).toEqual({ authorization: `Bearer ${KEY}`, 'x-project-name': 'support' });
    expect(o.stepResource?.(stepWith({}))).toBeUndefined();
  });

  it('client headers keep their own authorization; a project that is not ASCII stays out of the headers', () => {
    expect(phoenixHeaders(KEY, 'p', { authorization: 'Custom x' })).toEqual({
      authorization: 'Custom x',
      'x-project-name': 'p',
    });
    expect(phoenixHeaders(undefined, 'projet-été')).toEqual({});
  });

  it('per-request projects and per-team keys: one header object per pair, the project in the resource', () => {
    const teams: Record<string, string> = { red: 'red-key-00000000', blue: 'blue-key-0000000' };
    const o = otelOptionsFor(
      resolvePhoenixOptions(
        { apiKey: KEY, project: 'main', credentials: (step: Step) => teams[step.identity?.team ?? ''] },
        {},
      ),
    );
    const headers = o.headers as (step: Step) => Record<string, string>;
    const red = headers(stepWith({ team: 'red' }));
    expect(red).toEqual({ authorization: 'Bearer red-key-00000000', 'x-project-name': 'main' });
    expect(headers(stepWith({ team: 'red' }))).toBe(red);
    const redOther = headers(stepWith({ team: 'red', project: 'experiments' }));
    expect(redOther).toEqual({ authorization: 'Bearer red-key-00000000', 'x-project-name': 'experiments' });
    expect(redOther).not.toBe(red);
    expect(headers(stepWith({ team: 'nobody' }))).toEqual({
      authorization: `Bearer ${KEY}`,
      'x-project-name': 'main',
    });
    expect(o.stepResource?.(stepWith({ project: 'experiments' }))).toEqual({
      'openinference.project.name': 'experiments',
    });
    expect(o.stepResource?.(stepWith({ project: 'experiments' }))).toBe(
      o.stepResource?.(stepWith({ project: 'experiments' })),
    );
    expect(scrubSecrets('red-key-00000000')).not.toContain('red-key-00000000');
    // A credentials function that returns something unusable drops the step (the OTel plugin counts it).
    const broken = otelOptionsFor(resolvePhoenixOptions({ credentials: () => ({ apiKey: '' }) }, {}));
    expect(() => (broken.headers as (s: Step) => unknown)(stepWith({}))).toThrow(/credentials/);
  });

  it('a project function wins over the trace metadata; a throwing one falls back to the default', () => {
    const o = otelOptionsFor(
      resolvePhoenixOptions(
        {
          project: (step: Step) => {
            if (step.identity?.team === 'boom') throw new Error('no project');
            return step.identity?.team === 'red' ? 'red-project' : undefined;
          },
        },
        {},
      ),
    );
    const headers = o.headers as (step: Step) => Record<string, string>;
    expect(headers(stepWith({ team: 'red', project: 'meta' }))['x-project-name']).toBe('red-project');
    expect(headers(stepWith({ team: 'blue', project: 'meta' }))['x-project-name']).toBe('meta');
    const reports: InternalErrorReport[] = [];
    setErrorHandler((r) => reports.push(r));
    try {
      expect(headers(stepWith({ team: 'boom' }))['x-project-name']).toBe('default');
    } finally {
      setErrorHandler();
    }
    expect(reports.map((r) => r.source)).toEqual(['plugin:phoenix.project']);
  });

  it('does not pick up OTEL_* settings meant for another backend', async () => {
    const plugin = phoenix(
      {},
      {
        OTEL_EXPORTER: 'console',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://elsewhere:4318/v1/traces',
        OTEL_SERVICE_NAME: 'svc',
      },
    );
    expect(plugin.settings.exporter).toBe('otlp');
    expect(plugin.settings.protocol).toBe('http/protobuf');
    expect(plugin.settings.tracesUrl).toBeUndefined();
    expect(plugin.settings.endpoint).toBe('http://localhost:6006');
    expect(plugin.settings.serviceName).toBe('svc');
    await plugin.shutdown();
  });

  it('createPlugin reads the environment (loading by name)', async () => {
    const saved = { ...process.env };
    process.env.PHOENIX_PROJECT_NAME = 'by-name';
    try {
      const plugin = createPlugin();
      expect(plugin.name).toBe('phoenix');
      expect(plugin.settings.resourceAttributes['openinference.project.name']).toBe('by-name');
      await plugin.shutdown();
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });

  it('VERSION is package.json’s', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(VERSION).toBe(pkg.version);
  });
});
