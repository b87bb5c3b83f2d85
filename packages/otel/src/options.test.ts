import { SpanchainError } from '@spanchain/core';
import { describe, expect, it } from 'vitest';
import { baseEndpoint, parseKeyValueList, resolveOtelOptions, signalUrl } from './options.js';

const resolve = (options: unknown, env: Record<string, string> = {}) => resolveOtelOptions(options, env);

function errorOf(fn: () => unknown): SpanchainError {
  try {
    fn();
  } catch (error) {
    if (SpanchainError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected an error');
}

describe('defaults', () => {
  it('exports OTLP http/protobuf to localhost:4318, batched, content off, metrics on, logs off', () => {
    const s = resolve({});
    expect(s).toMatchObject({
      name: 'otel',
      exporter: 'otlp',
      protocol: 'http/protobuf',
      endpoint: 'http://localhost:4318',
      compression: 'none',
      maxRetries: 5,
      content: 'none',
      llmSpans: 'nested',
      logs: false,
      debug: false,
      batch: {
        maxQueueSize: 2048,
        maxExportBatchSize: 512,
        scheduledDelayMillis: 5000,
        exportTimeoutMillis: 30000,
      },
    });
    expect(s.metrics).toMatchObject({ temporality: 'cumulative', exportIntervalMillis: 60000 });
    expect(resolve({ protocol: 'grpc' }).endpoint).toBe('http://localhost:4317');
  });

  it('has no metrics or logs without an OTLP exporter unless given a provider', () => {
    expect(resolve({ exporter: 'console' }).metrics).toBe(false);
    expect(resolve({ exporter: 'memory', logs: true }).logs).toBe(false);
  });
});

describe('environment', () => {
  it('reads the standard OTLP variables, signal-specific first', () => {
    const s = resolve(
      {},
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom/v1/traces',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-general=1',
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=Bearer%20abc,x-team=search',
        OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
        OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
        OTEL_BSP_MAX_QUEUE_SIZE: '100',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '500',
        OTEL_SERVICE_NAME: 'svc',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,team=search',
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'SPAN_ONLY',
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta',
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
      },
    );
    expect(s).toMatchObject({
      protocol: 'http/json',
      endpoint: 'http://collector:4318',
      tracesUrl: 'http://traces:9999/custom/v1/traces',
      headers: { authorization: 'Bearer abc', 'x-team': 'search' },
      compression: 'gzip',
      timeoutMillis: 2500,
      serviceName: 'svc',
      resourceAttributes: { 'deployment.environment.name': 'prod', team: 'search' },
      content: 'span',
      metrics: { temporality: 'delta', exportIntervalMillis: 1000 },
    });
    // A batch cannot be larger than the queue.
    expect(s.batch).toMatchObject({ maxQueueSize: 100, maxExportBatchSize: 100 });
  });

  it('accepts the LiteLLM-style variables', () => {
    const s = resolve(
      {},
      {
        OTEL_EXPORTER: 'otlp_grpc',
        OTEL_ENDPOINT: 'http://0.0.0.0:4317',
        OTEL_HEADERS: 'api-key=k1',
        OTEL_DEBUG: 'True',
      },
    );
    expect(s).toMatchObject({
      exporter: 'otlp',
      protocol: 'grpc',
      endpoint: 'http://0.0.0.0:4317',
      headers: { 'api-key': 'k1' },
      debug: true,
    });
    expect(resolve({}, { OTEL_EXPORTER: 'console' }).exporter).toBe('console');
    expect(resolve({}, { OTEL_EXPORTER: 'otlp_http' }).protocol).toBe('http/protobuf');
  });

  it("reads the SDK's ratio samplers and ignores the others", () => {
    const rate = (env: Record<string, string>) => resolveOtelOptions({}, env).samplingRate;
    expect(rate({})).toBe(1);
    expect(rate({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })).toBe(0.25);
    expect(rate({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' })).toBe(
      0.1,
    );
    expect(rate({ OTEL_TRACES_SAMPLER: 'always_off' })).toBe(0);
    expect(rate({ OTEL_TRACES_SAMPLER: 'traceidratio' })).toBe(1);
    expect(rate({ OTEL_TRACES_SAMPLER: 'jaeger_remote', OTEL_TRACES_SAMPLER_ARG: 'endpoint=x' })).toBe(1);
    expect(
      resolveOtelOptions({ samplingRate: 0.5 }, { OTEL_TRACES_SAMPLER: 'always_off' }).samplingRate,
    ).toBe(0.5);
    expect(() => rate({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(
      /OTEL_TRACES_SAMPLER_ARG: expected a number from 0 to 1/,
    );
    expect(() => resolveOtelOptions({ samplingRate: -1 }, {})).toThrow(/samplingRate/);
  });

  it('lets explicit options win over the environment', () => {
    const s = resolve(
      { endpoint: 'http://mine:4318', protocol: 'http/protobuf', headers: { a: 'b' }, captureContent: false },
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://env-traces:4318/v1/traces',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_HEADERS: 'c=d',
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
      },
    );
    expect(s).toMatchObject({
      endpoint: 'http://mine:4318',
      tracesUrl: undefined,
      protocol: 'http/protobuf',
      headers: { a: 'b' },
      content: 'none',
    });
  });

  it('maps the content switch’s boolean and enum forms', () => {
    const mode = (value: string) =>
      resolve({}, { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: value }).content;
    expect(mode('true')).toBe('span_and_event');
    expect(mode('false')).toBe('none');
    expect(mode('NO_CONTENT')).toBe('none');
    expect(mode('EVENT_ONLY')).toBe('event');
    expect(mode('SPAN_AND_EVENT')).toBe('span_and_event');
    expect(resolve({ captureContent: true }).content).toBe('span_and_event');
  });
});

describe('bad input', () => {
  it('names the option, the value and what was expected', () => {
    const error = errorOf(() =>
      resolve({ protocol: 'udp', batch: { maxQueueSize: -1 }, llmSpans: 'sideways' }),
    );
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toContain('protocol');
    expect(error.message).toContain('batch.maxQueueSize');
    expect(error.message).toContain('llmSpans');
    expect(errorOf(() => resolve({ endpoint: 'ftp://x' })).message).toContain('http:// or https://');
    expect(errorOf(() => resolve({ unknownOption: 1 })).message).toContain('unknownOption');
    expect(errorOf(() => resolve({ exporter: 42 })).message).toContain('exporter');
    expect(errorOf(() => resolve({ maxRetries: 1.5 })).message).toContain('maxRetries');
    expect(errorOf(() => resolve({ maxRetries: 21 })).message).toContain('maxRetries');
    expect(resolve({ maxRetries: 0 }).maxRetries).toBe(0);
  });

  it('fails clearly on bad environment values', () => {
    expect(errorOf(() => resolve({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' })).message).toMatch(
      /OTEL_EXPORTER_OTLP_PROTOCOL: expected http\/protobuf, http\/json, grpc/,
    );
    expect(errorOf(() => resolve({}, { OTEL_EXPORTER: 'zipkin' })).message).toContain('OTEL_EXPORTER');
    expect(errorOf(() => resolve({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).message).toContain(
      'OTEL_EXPORTER_OTLP_ENDPOINT',
    );
    expect(errorOf(() => resolve({}, { OTEL_BSP_MAX_QUEUE_SIZE: 'lots' })).message).toContain(
      'OTEL_BSP_MAX_QUEUE_SIZE',
    );
    expect(errorOf(() => resolve({}, { OTEL_DEBUG: 'maybe' })).message).toContain('OTEL_DEBUG');
    expect(
      errorOf(() => resolve({}, { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'ALL' })).message,
    ).toContain('OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT');
  });

  it('never prints a header value in an error', () => {
    const secret = 'Bearer%ZZtop-secret-token';
    const error = errorOf(() => resolve({}, { OTEL_EXPORTER_OTLP_HEADERS: `authorization=${secret}` }));
    expect(error.message).toContain('OTEL_EXPORTER_OTLP_HEADERS');
    expect(error.message).not.toContain('top-secret');
    const noKey = errorOf(() => parseKeyValueList('OTEL_HEADERS', 'just-a-secret-value'));
    expect(noKey.message).not.toContain('just-a-secret-value');
    const masked = errorOf(() => resolve({ headers: { authorization: 42 } }));
    expect(masked.message).toContain('headers');
  });
});

describe('endpoints', () => {
  it('derives each signal’s URL from a base or a full URL', () => {
    expect(baseEndpoint('http://c:4318/v1/traces')).toBe('http://c:4318');
    expect(baseEndpoint('http://c:4318/prefix/')).toBe('http://c:4318/prefix');
    expect(signalUrl('http://c:4318', 'http/protobuf', 'metrics')).toBe('http://c:4318/v1/metrics');
    expect(signalUrl('http://c:4317', 'grpc', 'traces')).toBe('http://c:4317');
    expect(resolve({ endpoint: 'https://api.example.com/otel/v1/traces' }).endpoint).toBe(
      'https://api.example.com/otel',
    );
  });
});
