import { context, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { MemoryPlugin } from './testing/index.js';
import { createTracer } from './tracer.js';

// The app's own OpenTelemetry SDK, as an app would set it up (spanchain installed the context manager).
function appOtel() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, appTracer: provider.getTracer('app') };
}

describe('OpenTelemetry context', () => {
  it('makes an app span created inside a step the step’s child', async () => {
    const memory = new MemoryPlugin();
    const tracer = createTracer({ plugins: [memory], flushOnExit: false });
    const { exporter, appTracer } = appOtel();
    await tracer.retrieval('search', async () => {
      await new Promise((r) => setTimeout(r, 1));
      appTracer.startActiveSpan('db.query', (span) => span.end());
    });
    const [span] = exporter.getFinishedSpans();
    const step = memory.one('search');
    expect(span?.spanContext().traceId).toBe(step.traceId);
    expect(span?.parentSpanContext?.spanId).toBe(step.spanId);
  });

  it('makes a step started under an app span that span’s child', async () => {
    const memory = new MemoryPlugin();
    const tracer = createTracer({ plugins: [memory], flushOnExit: false });
    const { appTracer } = appOtel();
    let appSpanIds: { traceId: string; spanId: string } | undefined;
    await appTracer.startActiveSpan('http.request', async (span) => {
      appSpanIds = span.spanContext();
      await tracer.agent('handler', async () => 1);
      span.end();
    });
    const step = memory.one('handler');
    expect(step.traceId).toBe(appSpanIds?.traceId);
    expect(step.parentSpanId).toBe(appSpanIds?.spanId);
    expect(step.parentIsRemote).toBe(false);
    // The app started the trace in this process: this run may name it.
    expect(step.traceKeys).toContain('name');
  });

  it('nests a step under an app span made inside a step, keeping the enclosing step’s trace', async () => {
    const memory = new MemoryPlugin();
    const tracer = createTracer({ plugins: [memory], flushOnExit: false });
    const { appTracer } = appOtel();
    let appSpanId = '';
    await tracer.chain({ name: 'outer', trace: { userId: 'u-1' } }, async () => {
      await appTracer.startActiveSpan('app-span', async (span) => {
        appSpanId = span.spanContext().spanId;
        await tracer.tool('inner', () => 1);
        span.end();
      });
      await tracer.tool('sibling', () => 2);
    });
    const outer = memory.one('outer');
    const inner = memory.one('inner');
    // The innermost span is the parent in the exported tree: step → app span → step.
    expect(inner.parentSpanId).toBe(appSpanId);
    expect(inner.parentStepId).toBe(outer.spanId);
    expect(inner.parentIsRemote).toBe(false);
    expect(inner.traceId).toBe(outer.traceId);
    expect(inner.trace.userId).toBe('u-1');
    // Without an app span between them, both ids name the enclosing step.
    expect(memory.one('sibling').parentSpanId).toBe(outer.spanId);
    expect(memory.one('sibling').parentStepId).toBe(outer.spanId);
    // The step tree still hangs the inner step under the outer one.
    expect(memory.trees()[0]?.children.map((c) => c.step.name)).toEqual(['inner', 'sibling']);
  });

  it('exposes the step as the active span context, sampled flag included', async () => {
    const tracer = createTracer({ plugins: [new MemoryPlugin()], flushOnExit: false });
    const seen = tracer.tool('t', (step) => ({
      active: trace.getSpanContext(context.active()),
      step: step.spanId,
    }));
    expect(seen.active?.spanId).toBe(seen.step);
    expect(seen.active?.traceFlags).toBe(1);
    expect(seen.active?.isRemote).toBe(false);
  });

  it('follows the app when it disables the context manager and registers its own', async () => {
    const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
    const memory = new MemoryPlugin();
    const tracer = createTracer({ plugins: [memory], flushOnExit: false });
    context.disable();
    const appManager = new AsyncLocalStorageContextManager().enable();
    expect(context.setGlobalContextManager(appManager)).toBe(true);
    try {
      const seenByApp = await tracer.chain('outer', async () => {
        await new Promise((r) => setTimeout(r, 1));
        await tracer.tool('inner', async () => 1);
        // What the app's own instrumentation sees through the API: the active step's span.
        return trace.getSpanContext(context.active())?.spanId;
      });
      expect(memory.one('inner').parentSpanId).toBe(memory.one('outer').spanId);
      expect(seenByApp).toBe(memory.one('outer').spanId);
    } finally {
      context.disable();
      createTracer({ flushOnExit: false });
    }
  });

  it('restores the outer context after a step', async () => {
    const tracer = createTracer({ plugins: [new MemoryPlugin()], flushOnExit: false });
    await tracer.chain('a', async () => 1);
    expect(tracer.activeStep()).toBeUndefined();
    expect(trace.getSpanContext(context.active())).toBeUndefined();
  });
});
