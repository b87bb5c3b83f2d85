// The published entry points, as users import them from the built package.
import * as core from '@spanchain/core';
import * as testing from '@spanchain/core/testing';
import { describe, expect, it } from 'vitest';

describe('@spanchain/core public surface', () => {
  it('exports the tracer, every built-in middleware and the console plugin', () => {
    for (const name of [
      'createTracer',
      'Tracer',
      'compose',
      'forKinds',
      'observer',
      'redact',
      'sample',
      'limits',
      'cost',
      'guardrail',
      'retry',
      'fallback',
      'createConsolePlugin',
      'renderTraceTree',
      'parseOptions',
      'SpanchainError',
      'GuardrailBlockedError',
      'setErrorHandler',
      'registerSecret',
      'isTraceSampled',
      'toJsonSafe',
      'safeStringify',
      'applyRedaction',
    ]) {
      expect(typeof (core as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('exports every options schema', () => {
    for (const name of [
      'TracerOptionsSchema',
      'StepOptionsSchema',
      'RedactOptionsSchema',
      'SampleOptionsSchema',
      'LimitsOptionsSchema',
      'CostOptionsSchema',
      'GuardrailOptionsSchema',
      'RetryOptionsSchema',
      'FallbackOptionsSchema',
      'ConsolePluginOptionsSchema',
    ]) {
      const schema = (core as unknown as Record<string, { safeParse?: unknown } | undefined>)[name];
      expect(typeof schema?.safeParse, name).toBe('function');
    }
  });

  it('lists every step kind', () => {
    expect(core.STEP_KINDS).toEqual([
      'agent',
      'chain',
      'retrieval',
      'prompt',
      'llm',
      'tool',
      'embedding',
      'rerank',
      'guardrail',
      'custom',
    ]);
  });

  it('ships the memory plugin on the ./testing subpath', () => {
    expect(typeof testing.MemoryPlugin).toBe('function');
    expect(new testing.MemoryPlugin().name).toBe('memory');
  });
});
