import { readFileSync } from 'node:fs';
import { SpanchainError, type Step, scrubSecrets } from '@spanchain/core';
import { describe, expect, it } from 'vitest';
import { createPlugin } from './index.js';
import { LangfusePluginOptionsSchema, resolveLangfuseOptions } from './options.js';
import { langfuse, langfuseHeaders, otelOptionsFor } from './plugin.js';
import { VERSION } from './version.js';

const PK = 'pk-lf-1234567890abcdef';
const SK = 'sk-lf-fedcba0987654321-very-secret';

function thrown(fn: () => unknown): SpanchainError {
  try {
    fn();
  } catch (error) {
    if (SpanchainError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('did not throw');
}

describe('options and environment', () => {
  it('defaults', () => {
    const s = resolveLangfuseOptions({ publicKey: PK, secretKey: SK }, {});
    expect(s).toMatchObject({
      name: 'langfuse',
      baseUrl: 'https://cloud.langfuse.com',
      protocol: 'http/protobuf',
      compression: 'none',
      timeoutMillis: 10_000,
      batch: { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 5000 },
      debug: false,
    });
    expect(s.environment).toBeUndefined();
  });

  it('reads the Langfuse SDK variables, with their units (seconds)', () => {
    const s = resolveLangfuseOptions(undefined, {
      LANGFUSE_PUBLIC_KEY: PK,
      LANGFUSE_SECRET_KEY: SK,
      LANGFUSE_BASE_URL: 'https://us.cloud.langfuse.com/',
      LANGFUSE_TRACING_ENVIRONMENT: 'Staging',
      LANGFUSE_RELEASE: 'r1',
      LANGFUSE_FLUSH_AT: '20',
      LANGFUSE_FLUSH_INTERVAL: '1.5',
      LANGFUSE_TIMEOUT: '3',
      LANGFUSE_DEBUG: 'true',
    });
    expect(s).toMatchObject({
      publicKey: PK,
      secretKey: SK,
      baseUrl: 'https://us.cloud.langfuse.com',
      environment: 'staging',
      release: 'r1',
      batch: { maxExportBatchSize: 20, scheduledDelayMillis: 1500 },
      timeoutMillis: 3000,
      debug: true,
    });
  });

  it('LANGFUSE_HOST and LANGFUSE_BASEURL are aliases; LANGFUSE_BASE_URL wins', () => {
    const keys = { LANGFUSE_PUBLIC_KEY: PK, LANGFUSE_SECRET_KEY: SK };
    expect(resolveLangfuseOptions({}, { ...keys, LANGFUSE_HOST: 'http://lf.local:3000' }).baseUrl).toBe(
      'http://lf.local:3000',
    );
    expect(
      resolveLangfuseOptions({}, { ...keys, LANGFUSE_HOST: 'http://a', LANGFUSE_BASE_URL: 'http://b' })
        .baseUrl,
    ).toBe('http://b');
  });

  it('explicit options win over the environment', () => {
    const s = resolveLangfuseOptions(
      {
        publicKey: 'pk-opt-0000000000',
        secretKey: 'sk-opt-0000000000',
        baseUrl: 'http://x:1',
        flushAt: 5,
        environment: 'prod',
      },
      {
        LANGFUSE_PUBLIC_KEY: PK,
        LANGFUSE_SECRET_KEY: SK,
        LANGFUSE_BASE_URL: 'http://y:2',
        LANGFUSE_FLUSH_AT: '50',
        LANGFUSE_TRACING_ENVIRONMENT: 'dev',
      },
    );
    expect(s).toMatchObject({ publicKey: 'pk-opt-0000000000', baseUrl: 'http://x:1', environment: 'prod' });
    expect(s.batch).toMatchObject({ maxExportBatchSize: 5 });
  });

  it('immediate mode has no batch', () => {
    expect(resolveLangfuseOptions({ publicKey: PK, secretKey: SK, immediate: true }, {}).batch).toBe(false);
  });

  it('missing keys: one clear error naming the variables', () => {
    const error = thrown(() => resolveLangfuseOptions({}, {}));
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toContain('LANGFUSE_PUBLIC_KEY');
    expect(error.message).toContain('LANGFUSE_SECRET_KEY');
    // Half a pair is an error too, and the half that is there is not printed.
    const half = thrown(() => resolveLangfuseOptions({}, { LANGFUSE_SECRET_KEY: SK }));
    expect(half.message).toContain('LANGFUSE_PUBLIC_KEY');
    expect(half.message).not.toContain(SK);
    // A credentials function stands in for the pair.
    expect(() => resolveLangfuseOptions({ credentials: () => undefined }, {})).not.toThrow();
  });

  it('bad values fail without printing a key', () => {
    const bad = thrown(() =>
      resolveLangfuseOptions({ publicKey: PK, secretKey: 42 as unknown as string }, {}),
    );
    expect(bad.message).toContain('secretKey');
    const unknown = thrown(() => resolveLangfuseOptions({ publicKey: PK, secretKey: SK, host: 'x' }, {}));
    expect(unknown.message).not.toContain(SK);
    const env = thrown(() =>
      resolveLangfuseOptions(
        {},
        { LANGFUSE_PUBLIC_KEY: PK, LANGFUSE_SECRET_KEY: SK, LANGFUSE_FLUSH_AT: 'many' },
      ),
    );
    expect(env.message).toContain('LANGFUSE_FLUSH_AT');
    expect(env.message).not.toContain(SK);
    expect(() => resolveLangfuseOptions({ publicKey: PK, secretKey: SK, baseUrl: 'ftp://x' }, {})).toThrow(
      /baseUrl/,
    );
    expect(() =>
      resolveLangfuseOptions({}, { LANGFUSE_PUBLIC_KEY: PK, LANGFUSE_SECRET_KEY: SK, LANGFUSE_HOST: 'nope' }),
    ).toThrow(/LANGFUSE_HOST/);
  });

  it('an environment Langfuse would reject fails at construction', () => {
    expect(() =>
      resolveLangfuseOptions({ publicKey: PK, secretKey: SK, environment: 'langfuse-x' }, {}),
    ).toThrow(/environment/);
    expect(() =>
      resolveLangfuseOptions(
        {},
        { LANGFUSE_PUBLIC_KEY: PK, LANGFUSE_SECRET_KEY: SK, LANGFUSE_TRACING_ENVIRONMENT: 'a b' },
      ),
    ).toThrow(/LANGFUSE_TRACING_ENVIRONMENT/);
  });

  it('registers the secret key, so error text never shows it', () => {
    resolveLangfuseOptions({ publicKey: PK, secretKey: SK }, {});
    expect(scrubSecrets(`failed with ${SK}`)).not.toContain(SK);
  });

  it('the schema is exported and strict', () => {
    expect(LangfusePluginOptionsSchema.safeParse({ publicKey: 'a', secretKey: 'b' }).success).toBe(true);
    expect(LangfusePluginOptionsSchema.safeParse({ nope: 1 }).success).toBe(false);
  });
});

describe('the OTel plugin it becomes', () => {
  it('samples per trace at its own rate (default all)', () => {
    const keys = { publicKey: PK, secretKey: SK };
    expect(otelOptionsFor(resolveLangfuseOptions(keys, {})).samplingRate).toBe(1);
    expect(otelOptionsFor(resolveLangfuseOptions({ ...keys, samplingRate: 0.2 }, {})).samplingRate).toBe(0.2);
    expect(() => resolveLangfuseOptions({ ...keys, samplingRate: -0.1 }, {})).toThrow(/samplingRate/);
  });

  it('Langfuse endpoint, Basic auth, ingestion version 4, no metrics or logs, content on spans', () => {
    const o = otelOptionsFor(
      resolveLangfuseOptions({ publicKey: PK, secretKey: SK, baseUrl: 'http://lf:3000/' }, {}),
    );
    expect(o).toMatchObject({
      name: 'langfuse',
      exporter: 'otlp',
      endpoint: 'http://lf:3000/api/public/otel',
      protocol: 'http/protobuf',
      compression: 'none',
      metrics: false,
      logs: false,
      captureContent: 'span',
      scope: { name: '@spanchain/langfuse', version: VERSION },
    });
    expect(o.headers).toEqual({
      authorization: `Basic ${Buffer.from(`${PK}:${SK}`).toString('base64')}`,
      'x-langfuse-ingestion-version': '4',
      'x-langfuse-public-key': PK,
      'x-langfuse-sdk-name': '@spanchain/langfuse',
      'x-langfuse-sdk-version': VERSION,
    });
  });

  it('a credentials function becomes a headers function; none falls back to the plugin keys', () => {
    const other = { publicKey: 'pk-lf-other-000000', secretKey: 'sk-lf-other-000000' };
    const o = otelOptionsFor(
      resolveLangfuseOptions(
        {
          publicKey: PK,
          secretKey: SK,
          credentials: (step: Step) => (step.identity?.team === 'b' ? other : undefined),
        },
        {},
      ),
    );
    expect(typeof o.headers).toBe('function');
    const headers = o.headers as (step: unknown) => Record<string, string>;
    const b1 = headers({ identity: { team: 'b' } });
    expect(b1).toEqual(langfuseHeaders(other));
    expect(headers({ identity: { team: 'b' } })).toBe(b1);
    expect(headers({ identity: { team: 'a' } })).toEqual(langfuseHeaders({ publicKey: PK, secretKey: SK }));
    const keyless = otelOptionsFor(resolveLangfuseOptions({ credentials: () => undefined }, {}));
    expect(() => (keyless.headers as (s: unknown) => unknown)({})).toThrow(/no Langfuse key pair/);
  });

  it('does not pick up OTEL_* settings meant for another backend', () => {
    const plugin = langfuse(
      { publicKey: PK, secretKey: SK },
      {
        OTEL_EXPORTER: 'console',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20other',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://elsewhere:4318/v1/traces',
        OTEL_SERVICE_NAME: 'svc',
      },
    );
    expect(plugin.settings.exporter).toBe('otlp');
    expect(plugin.settings.tracesUrl).toBeUndefined();
    expect(plugin.settings.endpoint).toBe('https://cloud.langfuse.com/api/public/otel');
    expect(plugin.settings.serviceName).toBe('svc');
    expect(plugin.settings.metrics).toBe(false);
    expect(plugin.settings.logs).toBe(false);
    return plugin.shutdown();
  });

  it('createPlugin reads the environment (loading by name)', async () => {
    const saved = { ...process.env };
    process.env.LANGFUSE_PUBLIC_KEY = PK;
    process.env.LANGFUSE_SECRET_KEY = SK;
    try {
      const plugin = createPlugin();
      expect(plugin.name).toBe('langfuse');
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
