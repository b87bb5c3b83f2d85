import { context, INVALID_SPAN_CONTEXT, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { createTracer } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { activeTraceIds, logFields } from './correlation.js';

const memory = new MemoryPlugin();
const tracer = createTracer({ plugins: [memory], flushOnExit: false });

afterAll(async () => {
  await tracer.shutdown();
});

describe('activeTraceIds', () => {
  it('is undefined outside any step', () => {
    expect(activeTraceIds()).toBeUndefined();
    expect(logFields()).toEqual({});
  });

  it("returns the running step's ids, across awaits and in nested steps", async () => {
    const seen: Record<string, ReturnType<typeof activeTraceIds>> = {};
    await tracer.chain('outer-step', async () => {
      seen.before = activeTraceIds();
      await new Promise((resolve) => setTimeout(resolve, 1));
      seen.afterAwait = activeTraceIds();
      await tracer.llm({ name: 'inner-step', model: 'gpt-4o', provider: 'openai' }, async () => {
        await Promise.resolve();
        seen.inner = activeTraceIds();
      });
      seen.back = activeTraceIds();
    });
    const outer = memory.one('outer-step');
    const inner = memory.one('inner-step');
    const outerIds = { traceId: outer.traceId, spanId: outer.spanId, traceFlags: outer.traceFlags };
    expect(seen.before).toEqual(outerIds);
    expect(seen.afterAwait).toEqual(outerIds);
    expect(seen.back).toEqual(outerIds);
    expect(seen.inner).toEqual({
      traceId: inner.traceId,
      spanId: inner.spanId,
      traceFlags: inner.traceFlags,
    });
    expect(inner.spanId).not.toBe(outer.spanId);
    expect(activeTraceIds()).toBeUndefined();
  });

  it('keeps parallel steps apart', async () => {
    const results = await Promise.all(
      ['p1', 'p2', 'p3'].map((name) =>
        tracer.tool(name, async () => {
          await new Promise((resolve) => setTimeout(resolve, 2));
          return { name, ids: activeTraceIds() };
        }),
      ),
    );
    for (const { name, ids } of results) expect(ids?.spanId).toBe(memory.one(name).spanId);
  });

  it('reads an app span the same way, and takes an explicit context', () => {
    const appSpan = {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 0,
      isRemote: false,
    };
    const ctx = trace.setSpanContext(ROOT_CONTEXT, appSpan);
    expect(context.with(ctx, () => activeTraceIds())).toEqual({
      traceId: appSpan.traceId,
      spanId: appSpan.spanId,
      traceFlags: 0,
    });
    expect(activeTraceIds(ctx)?.spanId).toBe(appSpan.spanId);
    expect(logFields(ctx)).toEqual({ trace_id: appSpan.traceId, span_id: appSpan.spanId, trace_flags: '00' });
    expect(activeTraceIds(trace.setSpanContext(ROOT_CONTEXT, INVALID_SPAN_CONTEXT))).toBeUndefined();
    expect(logFields(trace.setSpanContext(ROOT_CONTEXT, INVALID_SPAN_CONTEXT))).toEqual({});
  });
});

describe('logFields', () => {
  it('gives trace_id, span_id and two-hex trace_flags inside a step, as a pino mixin would use them', async () => {
    const lines: Record<string, unknown>[] = [];
    // What pino does with `mixin`: merge the returned object into each line.
    const log = (msg: string) => lines.push({ msg, ...logFields() });
    log('before');
    await tracer.retrieval({ name: 'search', query: 'q' }, async () => {
      log('inside');
    });
    const step = memory.one('search');
    expect(lines[0]).toEqual({ msg: 'before' });
    expect(lines[1]).toEqual({
      msg: 'inside',
      trace_id: step.traceId,
      span_id: step.spanId,
      trace_flags: '01',
    });
    expect(step.traceFlags).toBe(1);
  });

  it('writes flags above 0x0f as two hex digits too', () => {
    const ctx = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 0x81,
      isRemote: true,
    });
    expect(logFields(ctx).trace_flags).toBe('81');
  });
});
