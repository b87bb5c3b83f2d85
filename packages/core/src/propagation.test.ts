import { context, propagation } from '@opentelemetry/api';
import { describe, expect, it, vi } from 'vitest';
import { MemoryPlugin } from './testing/index.js';
import { createTracer } from './tracer.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

function setup() {
  const memory = new MemoryPlugin();
  const onError = vi.fn();
  const tracer = createTracer({ plugins: [memory], onError, flushOnExit: false });
  return { memory, tracer, onError };
}

describe('inject and extract', () => {
  it('round-trips traceparent, tracestate and baggage between two services', async () => {
    const client = setup();
    const server = setup();
    const headers: Record<string, string> = {};
    await client.tracer.chain('client', async () => {
      const bag = propagation.createBaggage({ tenant: { value: 'acme' } });
      await context.with(propagation.setBaggage(context.active(), bag), async () =>
        client.tracer.inject(headers),
      );
    });
    const clientStep = client.memory.one('client');
    expect(headers.traceparent).toBe(`00-${clientStep.traceId}-${clientStep.spanId}-01`);
    expect(headers.baggage).toBe('tenant=acme');

    const ctx = server.tracer.extract({ ...headers, tracestate: 'vendor=abc' });
    await context.with(ctx, () =>
      server.tracer.agent('server', async () => {
        expect(propagation.getBaggage(context.active())?.getEntry('tenant')?.value).toBe('acme');
      }),
    );
    const serverStep = server.memory.one('server');
    expect(serverStep).toMatchObject({
      traceId: clientStep.traceId,
      parentSpanId: clientStep.spanId,
      parentIsRemote: true,
      traceState: 'vendor=abc',
    });
  });

  it('injects from a given step and into a Headers object', async () => {
    const { tracer } = setup();
    const step = tracer.startStep('llm', 'l');
    const headers = new Headers();
    tracer.inject(headers, step);
    expect(headers.get('traceparent')).toBe(step.traceparent());
    step.end();
  });

  it('continues a trace with continueFrom', async () => {
    const { memory, tracer } = setup();
    await tracer.continueFrom({ traceparent: `00-${TRACE}-${SPAN}-01` }, () =>
      tracer.chain('handler', async () => 1),
    );
    expect(memory.one('handler')).toMatchObject({ traceId: TRACE, parentSpanId: SPAN });
  });

  it('reads header names in any case and array values', () => {
    const { memory, tracer } = setup();
    context.with(tracer.extract({ TraceParent: [`00-${TRACE}-${SPAN}-01`] }), () =>
      tracer.tool('t', () => 1),
    );
    expect(memory.one('t').traceId).toBe(TRACE);
  });
});

describe('hostile headers', () => {
  const hostile: [string, Record<string, unknown>][] = [
    ['all-zero trace id', { traceparent: `00-${'0'.repeat(32)}-${SPAN}-01` }],
    ['all-zero span id', { traceparent: `00-${TRACE}-${'0'.repeat(16)}-01` }],
    ['version ff', { traceparent: `ff-${TRACE}-${SPAN}-01` }],
    ['short trace id', { traceparent: `00-${TRACE.slice(1)}-${SPAN}-01` }],
    ['non-hex', { traceparent: `00-${'z'.repeat(32)}-${SPAN}-01` }],
    ['trailing garbage in version 00', { traceparent: `00-${TRACE}-${SPAN}-01-extra` }],
    ['huge traceparent', { traceparent: `00-${TRACE}-${SPAN}-01${'0'.repeat(100_000)}` }],
    ['empty', { traceparent: '' }],
    ['not a string', { traceparent: 12345 }],
    ['control characters', { traceparent: `00-${TRACE}\n-${SPAN}-01` }],
  ];

  for (const [label, headers] of hostile) {
    it(`ignores ${label}: a new root and a counted warning, never a throw`, () => {
      const { memory, tracer } = setup();
      const ctx = tracer.extract(headers as Record<string, string>);
      context.with(ctx, () => tracer.tool('t', () => 1));
      const step = memory.one('t');
      expect(step.parentSpanId).toBeUndefined();
      expect(step.traceId).not.toBe(TRACE);
      expect(tracer.stats().errors['propagation.extract']).toBe(1);
    });
  }

  it('drops an oversized tracestate and baggage but keeps a valid traceparent', () => {
    const { memory, tracer } = setup();
    const ctx = tracer.extract({
      traceparent: `00-${TRACE}-${SPAN}-01`,
      tracestate: `a=${'x'.repeat(600)}`,
      baggage: `k=${'v'.repeat(9000)}`,
    });
    context.with(ctx, () => tracer.tool('t', () => propagation.getBaggage(context.active())));
    const step = memory.one('t');
    expect(step.traceId).toBe(TRACE);
    expect(step.traceState).toBeUndefined();
    expect(step.output).toBeUndefined();
    expect(tracer.stats().errors['propagation.extract']).toBe(2);
  });

  it('survives a carrier whose getter throws', () => {
    const { tracer } = setup();
    const carrier = {
      get(): string {
        throw new Error('bad carrier');
      },
    };
    expect(() => tracer.extract(carrier)).not.toThrow();
    expect(tracer.stats().errors['propagation.extract']).toBe(1);
  });

  it('ignores a malformed traceparent given as parent option', () => {
    const { memory, tracer } = setup();
    tracer.tool({ name: 't', parent: 'garbage' }, () => 1);
    expect(memory.one('t').parentSpanId).toBeUndefined();
    expect(tracer.stats().errors['step.parent']).toBe(1);
  });
});
