// One loopback OTLP receiver per test, and the tracers a test starts shut down before it closes
// (they may still be exporting): the lifecycle every plugin contract test shares.
import type { Tracer } from '@spanchain/core';
import { afterEach, beforeEach } from 'vitest';
import { type OtlpReceiver, type OtlpReceiverOptions, startOtlpReceiver } from './otlp-receiver.js';

export interface ReceiverFixture {
  /** This test's receiver (a new one per test). */
  readonly receiver: OtlpReceiver;
  /** Push the tracers a test makes; they are shut down after it, before the receiver closes. */
  readonly tracers: Tracer[];
}

/** Registers the per-test hooks; call it at the top of a test file or a `describe`. */
export function useOtlpReceiver(options?: OtlpReceiverOptions): ReceiverFixture {
  let current: OtlpReceiver | undefined;
  const tracers: Tracer[] = [];
  beforeEach(async () => {
    current = await startOtlpReceiver(options);
  });
  afterEach(async () => {
    await Promise.allSettled(tracers.splice(0).map((t) => t.shutdown()));
    await current?.close();
    current = undefined;
  });
  return {
    get receiver() {
      if (!current) throw new Error('the receiver exists only inside a test');
      return current;
    },
    tracers,
  };
}
