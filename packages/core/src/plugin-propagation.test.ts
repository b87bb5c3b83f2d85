// Plugins' own propagation headers (the `inject` / `extract` hooks), beside W3C traceparent.
import { context, propagation } from '@opentelemetry/api';
import { describe, expect, it, vi } from 'vitest';
import type { Plugin, RemoteParent } from './plugin.js';
import type { Step } from './step.js';
import { MemoryPlugin } from './testing/index.js';
import { createTracer } from './tracer.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

/** A backend that propagates `x-demo-trace: <trace>:<span>` and one baggage member. */
function demoPlugin(seen: Array<RemoteParent | undefined> = []): Plugin {
  return {
    name: 'demo',
    onEnd() {},
    inject(step: Step, headers: Record<string, string>) {
      headers['x-demo-trace'] = `${step.traceId}:${step.spanId}`;
      headers.baggage = 'demo-project=p%201';
      headers.traceparent = 'must-not-win';
    },
    extract(get, current) {
      seen.push(current);
      const value = get('x-demo-trace');
      if (value === undefined) return undefined;
      const [traceId, spanId] = value.split(':');
      return traceId && spanId ? { traceId, spanId } : undefined;
    },
  };
}

function setup(...plugins: Plugin[]) {
  const memory = new MemoryPlugin();
  const onError = vi.fn();
  const tracer = createTracer({ plugins: [memory, ...plugins], onError, flushOnExit: false });
  return { memory, tracer, onError };
}

describe('plugin propagation hooks', () => {
  it('inject adds the plugin headers, joins baggage and never replaces traceparent', async () => {
    const { tracer, memory } = setup(demoPlugin());
    const headers: Record<string, string> = {};
    const web = new Headers();
    await tracer.chain('client', async () => {
      const bag = propagation.createBaggage({ tenant: { value: 'acme' } });
      await context.with(propagation.setBaggage(context.active(), bag), async () => {
        tracer.inject(headers);
        tracer.inject(web);
      });
    });
    const step = memory.one('client');
    expect(headers.traceparent).toBe(`00-${step.traceId}-${step.spanId}-01`);
    expect(headers['x-demo-trace']).toBe(`${step.traceId}:${step.spanId}`);
    expect(headers.baggage).toBe('tenant=acme,demo-project=p%201');
    expect(web.get('x-demo-trace')).toBe(`${step.traceId}:${step.spanId}`);
    expect(web.get('traceparent')).toBe(headers.traceparent);
    expect(web.get('baggage')).toBe('tenant=acme,demo-project=p%201');
  });

  it('a baggage member the plugin writes again replaces the one already in the context', async () => {
    const { tracer } = setup(demoPlugin());
    const headers: Record<string, string> = {};
    await tracer.chain('client', async () => {
      const bag = propagation.createBaggage({
        tenant: { value: 'acme' },
        'demo-project': { value: 'from-upstream' },
      });
      await context.with(propagation.setBaggage(context.active(), bag), async () => {
        tracer.inject(headers);
      });
    });
    expect(headers.baggage).toBe('tenant=acme,demo-project=p%201');
  });

  it('inject writes no plugin header outside a step', () => {
    const { tracer } = setup(demoPlugin());
    const headers: Record<string, string> = {};
    tracer.inject(headers);
    expect(headers).toEqual({});
  });

  it('a throwing inject is reported and the other plugins still write', async () => {
    const broken: Plugin = {
      name: 'broken',
      onEnd() {},
      inject() {
        throw new Error('boom');
      },
    };
    const { tracer, onError } = setup(broken, demoPlugin());
    const headers: Record<string, string> = {};
    await tracer.chain('client', () => tracer.inject(headers));
    expect(headers['x-demo-trace']).toMatch(/^[0-9a-f]{32}:[0-9a-f]{16}$/);
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ source: 'plugin:broken.inject' }));
    expect(tracer.stats().plugins.find((p) => p.name === 'broken')?.hookErrors).toBe(1);
  });

  it('extract continues the trace a plugin names when no traceparent came', async () => {
    const seen: Array<RemoteParent | undefined> = [];
    const { tracer, memory } = setup(demoPlugin(seen));
    const ctx = tracer.extract({ 'X-Demo-Trace': `${TRACE}:${SPAN}` });
    await context.with(ctx, () => tracer.agent('server', () => 1));
    expect(memory.one('server')).toMatchObject({
      traceId: TRACE,
      parentSpanId: SPAN,
      parentIsRemote: true,
      sampled: true,
    });
    expect(seen).toEqual([undefined]);
  });

  it('a valid traceparent wins; the plugin is still told which parent it names', async () => {
    const seen: Array<RemoteParent | undefined> = [];
    const { tracer, memory } = setup(demoPlugin(seen));
    const other = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const ctx = tracer.extract({
      traceparent: `00-${TRACE}-${SPAN}-01`,
      'x-demo-trace': `${other}:bbbbbbbbbbbbbbbb`,
    });
    await context.with(ctx, () => tracer.agent('server', () => 1));
    expect(memory.one('server')).toMatchObject({ traceId: TRACE, parentSpanId: SPAN });
    expect(seen).toEqual([{ traceId: TRACE, spanId: SPAN, traceFlags: 1 }]);
  });

  it('an invalid answer is ignored with a warning; a throwing extract is reported', async () => {
    const bad: Plugin = { name: 'bad', onEnd() {}, extract: () => ({ traceId: 'nope', spanId: SPAN }) };
    const thrower: Plugin = {
      name: 'thrower',
      onEnd() {},
      extract() {
        throw new Error('boom');
      },
    };
    const { tracer, memory, onError } = setup(thrower, bad);
    const ctx = tracer.extract({ 'x-demo-trace': 'x' });
    await context.with(ctx, () => tracer.agent('server', () => 1));
    expect(memory.one('server').parentSpanId).toBeUndefined();
    const sources = onError.mock.calls.map(([report]) => report.source);
    expect(sources).toEqual(expect.arrayContaining(['plugin:bad.extract', 'plugin:thrower.extract']));
  });

  it('oversized plugin headers are not handed to plugins', async () => {
    const seen: string[] = [];
    const plugin: Plugin = {
      name: 'p',
      onEnd() {},
      extract(get) {
        seen.push(String(get('x-demo-trace')));
        return undefined;
      },
    };
    const { tracer } = setup(plugin);
    tracer.extract({ 'x-demo-trace': 'a'.repeat(20_000) });
    tracer.extract({ 'x-demo-trace': 'short' });
    expect(seen).toEqual(['undefined', 'short']);
  });
});
