import { OTLPExporterError } from '@opentelemetry/otlp-exporter-base';
import { describe, expect, it } from 'vitest';
import { isTransient } from './exporters.js';

const withCode = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

describe('isTransient', () => {
  it('retries what may pass: no connection, timeouts, 408, 429, 5xx, retryable gRPC codes', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN'])
      expect(isTransient(withCode(code)), code).toBe(true);
    for (const status of [408, 429, 500, 502, 503, 504])
      expect(isTransient(new OTLPExporterError('x', status)), String(status)).toBe(true);
    expect(isTransient(new Error('Request timed out'))).toBe(true);
    expect(isTransient(new OTLPExporterError('Export failed with retryable status'))).toBe(true);
    for (const grpc of [1, 4, 10, 11, 14, 15]) expect(isTransient({ code: grpc }), String(grpc)).toBe(true);
  });

  it('gives up on what will not pass: 4xx, 501, other gRPC codes, other errors, non-errors', () => {
    for (const status of [400, 401, 403, 404, 413, 501])
      expect(isTransient(new OTLPExporterError('x', status)), String(status)).toBe(false);
    for (const grpc of [3, 7, 8, 16]) expect(isTransient({ code: grpc }), String(grpc)).toBe(false);
    expect(isTransient(withCode('ERR_INVALID_URL'))).toBe(false);
    expect(isTransient(new Error('export timed out'))).toBe(false);
    expect(isTransient(new Error('anything else'))).toBe(false);
    expect(isTransient(undefined)).toBe(false);
    expect(isTransient('ECONNREFUSED')).toBe(false);
  });
});
