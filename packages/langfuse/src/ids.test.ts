import { isValidTraceId } from '@spanchain/core';
import { describe, expect, it } from 'vitest';
import { createTraceId } from './ids.js';

describe('createTraceId', () => {
  it('matches the Langfuse SDK test vectors', () => {
    expect(createTraceId('my-session-123')).toBe('e112673e31ac6a7e04aafe19715fe451');
    expect(createTraceId('ext-12345-67890')).toBe('3b7dac2a0cfde66e5625113d5c42a0db');
  });

  it('hashes the UTF-8 bytes of the seed', () => {
    expect(createTraceId('é')).toBe(createTraceId('\u00e9'));
    expect(createTraceId('é')).not.toBe(createTraceId('e\u0301'));
  });

  it('is random without a seed, and always a valid lowercase trace id', () => {
    const a = createTraceId();
    const b = createTraceId();
    expect(a).not.toBe(b);
    for (const id of [a, b, createTraceId('x')]) {
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(isValidTraceId(id)).toBe(true);
    }
  });
});
