import { describe, expect, it } from 'vitest';
import { registerSecret, scrubSecrets } from './secrets.js';

describe('secrets', () => {
  it('masks registered values and common credential shapes', () => {
    registerSecret('configured-secret-1');
    expect(scrubSecrets('key is configured-secret-1 here')).toBe('key is [REDACTED] here');
    expect(scrubSecrets('Authorization: Bearer abc.def.ghi')).not.toContain('abc.def.ghi');
    expect(scrubSecrets('see https://user:pw123456@host/x')).toBe('see https://user:[REDACTED]@host/x');
    // Too short to be told from ordinary text.
    registerSecret('short');
    expect(scrubSecrets('a short word')).toBe('a short word');
  });

  it('keeps transient credentials bounded, forgetting the oldest, and never the configured ones', () => {
    registerSecret('long-lived-config-key');
    registerSecret('transient-token-first', { transient: true });
    expect(scrubSecrets('transient-token-first')).toBe('[REDACTED]');
    for (let i = 0; i < 10_000; i++)
      registerSecret(`per-request-${i.toString().padStart(8, '0')}`, { transient: true });
    expect(scrubSecrets('transient-token-first')).toBe('transient-token-first');
    expect(scrubSecrets('per-request-00009999')).toBe('[REDACTED]');
    expect(scrubSecrets('long-lived-config-key')).toBe('[REDACTED]');
  });
});
