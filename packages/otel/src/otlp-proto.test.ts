import { resourceFromAttributes } from '@opentelemetry/resources';
import { createTracer, type Step } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { describe, expect, it } from 'vitest';
import { mapStep } from './map.js';
import { encodeTraceRequest, SLICE, SLICE_MILLIS } from './otlp-proto.js';
import { StepSpan } from './step-span.js';

async function steps(count: number): Promise<Step[]> {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], flushOnExit: false });
  for (let i = 0; i < count; i++) await tracer.custom(`s${i}`, async () => i);
  await tracer.flush();
  return memory.steps;
}

describe('encodeTraceRequest', () => {
  it('yields to the event loop by time as well as by count, for spans that are slow to map', async () => {
    // Spans with megabytes of content take about half a millisecond each to map: 64 of them in
    // one turn would hold the event loop for tens of milliseconds.
    const slowMapMs = 2;
    const count = 48; // fewer than SLICE: counting alone would never yield
    expect(count).toBeLessThan(SLICE);
    // Which event-loop turn each span was mapped in: counted, not timed, so a busy machine
    // cannot fail it.
    const mappedInTurn: number[] = [];
    const slowMapper = (step: Step) => {
      mappedInTurn.push(turns);
      const until = performance.now() + slowMapMs;
      while (performance.now() < until) {
        // busy: what mapping big content costs
      }
      return mapStep(step, { captureContent: false });
    };
    const resource = resourceFromAttributes({ 'service.name': 'svc' });
    const scope = { name: 'test', version: '1' };
    const spans = (await steps(count)).map(
      (step) => new StepSpan(step, resource, scope, { captureContent: false }, undefined, slowMapper),
    );
    let turns = 0;
    let running = true;
    const tick = () => {
      turns++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const bytes = await encodeTraceRequest(spans);
    running = false;
    expect(bytes.length).toBeGreaterThan(0);
    // 48 × 2 ms = 96 ms of mapping, in slices of about SLICE_MILLIS (8 ms; the clock is read every
    // 8 spans, so here 8 spans = 16 ms a slice): six turns, where one slice would map all 48.
    expect(SLICE_MILLIS).toBeLessThanOrEqual(10);
    expect(mappedInTurn).toHaveLength(count);
    const perTurn = new Map<number, number>();
    for (const turn of mappedInTurn) perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
    expect(perTurn.size).toBeGreaterThanOrEqual(count / 8);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(8);
  });
});
