import { createTracer, type Step } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { describe, expect, it } from 'vitest';
import { type MapOptions, mapStep } from './map.js';
import { withMapOptions } from './mapper.js';

async function oneStep(): Promise<Step> {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], flushOnExit: false });
  await tracer.custom('s', async () => 1);
  await tracer.flush();
  return memory.one('s');
}

describe('withMapOptions', () => {
  it('merges the extra options into the plugin’s once per options object, the extra ones winning', async () => {
    const step = await oneStep();
    const seen: (MapOptions & { hide: boolean })[] = [];
    const mapper = withMapOptions({ hide: true, captureContent: false }, (s, options) => {
      seen.push(options);
      return mapStep(s, options);
    });
    const first: MapOptions = { captureContent: true };
    const second: MapOptions = { captureContent: true, limits: { maxStringLength: 10 } };
    expect(mapper(step, first).name).toBe('s');
    mapper(step, first);
    mapper(step, second);
    expect(seen).toHaveLength(3);
    expect(seen[0]).toEqual({ captureContent: false, hide: true });
    // The same merged object while the plugin's options stay the same object…
    expect(seen[1]).toBe(seen[0]);
    // …and a new one when they change.
    expect(seen[2]).not.toBe(seen[0]);
    expect(seen[2]).toEqual({ captureContent: false, hide: true, limits: { maxStringLength: 10 } });
  });
});
