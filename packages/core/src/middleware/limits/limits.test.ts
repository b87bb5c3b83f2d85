import { describe, expect, it } from 'vitest';
import { SpanchainError } from '../../errors.js';
import type { StepOf, TraceFields } from '../../step.js';
import { MemoryPlugin } from '../../testing/memory-plugin.js';
import { createTracer } from '../../tracer.js';
import { type LimitsOptions, limits } from './index.js';

function setup(options?: LimitsOptions) {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], use: [limits(options)], flushOnExit: false });
  return { memory, tracer };
}

describe('limits()', () => {
  it('cuts a 50 MB string input to the string limit and marks it', async () => {
    const { memory, tracer } = setup();
    const huge = 'x'.repeat(50 * 1024 * 1024);
    const returned = await tracer.custom({ name: 'big', input: huge }, async () => 'ok');
    await tracer.flush();
    const step = memory.one('big');
    expect(returned).toBe('ok');
    expect(typeof step.input).toBe('string');
    expect((step.input as string).startsWith('x'.repeat(32_768))).toBe(true);
    expect((step.input as string).length).toBeLessThan(32_768 + 64);
    expect(step.input).toMatch(/…\[truncated \d+ chars\]$/);
    expect(step.truncated).toEqual(['input']);
    expect(step.output).toBe('ok');
  });

  it('keeps the first items of huge arrays without changing the app array', async () => {
    const { memory, tracer } = setup({ maxArrayLength: 100 });
    const rows = Array.from({ length: 100_000 }, (_, i) => i);
    await tracer.tool({ name: 'rows', arguments: { rows } }, async () => rows);
    await tracer.flush();
    const step = memory.one('rows') as StepOf<'tool'>;
    expect(step.output).toEqual([...rows.slice(0, 100), '…[99900 more items]']);
    expect((step.arguments as { rows: unknown[] }).rows).toHaveLength(101);
    expect(step.truncated).toEqual(['arguments', 'output']);
    expect(rows).toHaveLength(100_000);
  });

  it('replaces containers beyond the depth limit with a marker', async () => {
    const { memory, tracer } = setup({ maxDepth: 3 });
    const deep = { a: { b: { c: { d: { e: 1 } } } } };
    await tracer.custom({ name: 'deep', metadata: { deep } }, async () => 1);
    await tracer.flush();
    const step = memory.one('deep');
    expect(step.metadata).toEqual({ deep: { a: { b: '[Object]' } } });
    expect(step.truncated).toEqual(['metadata']);
    expect(deep.a.b.c.d.e).toBe(1);
  });

  it('makes circular and non-JSON input safe without throwing', async () => {
    const { memory, tracer } = setup();
    const input: Record<string, unknown> = { id: 10n, bytes: Buffer.from('hi') };
    input.self = input;
    await expect(tracer.custom({ name: 'odd', input }, async () => 'done')).resolves.toBe('done');
    await tracer.flush();
    const step = memory.one('odd');
    expect(step.status).toBe('ok');
    expect((step.input as Record<string, unknown>).self).toBe('[Circular]');
    expect((step.input as Record<string, unknown>).id).toBe('10');
    expect(() => JSON.stringify(step)).not.toThrow();
    expect(input.self).toBe(input);
  });

  it('shares the byte budget across the fields of one step', async () => {
    const { memory, tracer } = setup({ maxBytes: 20_000, maxStringLength: 1_000_000 });
    await tracer.llm({ name: 'both', input: 'i'.repeat(50_000), metadata: { user: 'ada' } }, async () =>
      'o'.repeat(50_000),
    );
    await tracer.flush();
    const step = memory.one('both');
    const input = step.input as string;
    const output = step.output as string;
    expect(step.metadata).toEqual({ user: 'ada' });
    expect(input.length + output.length).toBeLessThanOrEqual(20_000);
    expect(input.length).toBeGreaterThan(8_000);
    expect(output.length).toBeGreaterThan(8_000);
    expect(step.truncated).toEqual(['input', 'output']);
  });

  it('gives what small fields leave unused to the fields that need it', async () => {
    const { memory, tracer } = setup({ maxBytes: 10_000, maxStringLength: 1_000_000 });
    // The input comes first in the split: it is cut to half the budget, then gets the rest back.
    await tracer.llm({ name: 'lopsided', input: 'i'.repeat(100_000) }, async () => 'short answer');
    await tracer.flush();
    const step = memory.one('lopsided');
    expect(step.output).toBe('short answer');
    expect((step.input as string).length).toBeGreaterThan(9_000);
    expect((step.input as string).length).toBeLessThanOrEqual(10_000);
    expect(step.truncated).toEqual(['input']);
  });

  it('leaves small payloads deep-equal and unmarked, as snapshots the app cannot change later', async () => {
    const { memory, tracer } = setup();
    const inputMessages = [{ role: 'user', content: 'hi' }];
    const documents = [{ id: 'd', content: 'text', score: 0.5, metadata: { src: 'kb' } }];
    await tracer.llm({ name: 'small', inputMessages, metadata: { team: 'a' } }, async () => ({
      answer: 'hello',
    }));
    await tracer.retrieval({ name: 'search', query: 'q' }, async (step) => {
      step.update({ documents });
    });
    await tracer.flush();
    const llm = memory.one('small') as StepOf<'llm'>;
    expect(llm.inputMessages).toEqual(inputMessages);
    expect(llm.inputMessages).not.toBe(inputMessages);
    expect(llm.output).toEqual({ answer: 'hello' });
    expect(llm.metadata).toEqual({ team: 'a' });
    expect(llm.truncated).toBeUndefined();
    expect((memory.one('search') as StepOf<'retrieval'>).documents).toEqual(documents);
    inputMessages[0]!.content = 'changed later';
    expect(llm.inputMessages?.[0]?.content).toBe('hi');
  });

  it('limits trace fields on the step’s own copy, leaving the trace shared by running steps whole', async () => {
    const { memory, tracer } = setup({ maxStringLength: 100 });
    let shared: TraceFields | undefined;
    await tracer.agent({ name: 'root', trace: { input: 'q'.repeat(1_000) } }, async (step) => {
      shared = step.trace;
      await tracer.tool({ name: 'child' }, async () => 1);
    });
    await tracer.flush();
    expect(shared?.input).toBe('q'.repeat(1_000));
    const child = memory.one('child');
    expect((child.trace.input as string).length).toBeLessThan(150);
    expect(child.truncated).toEqual(['trace.input']);
    expect(memory.one('root').truncated).toEqual(['trace.input']);
  });

  it('cuts streamed output once consumed and marks it once', async () => {
    const { memory, tracer } = setup({ maxStringLength: 10 });
    const stream = await tracer.llm({ name: 'stream' }, async () =>
      (async function* () {
        yield 'a fairly ';
        yield 'long answer';
      })(),
    );
    let text = '';
    for await (const chunk of stream) text += chunk;
    await tracer.flush();
    const step = memory.one('stream');
    expect(text).toBe('a fairly long answer');
    expect(step.output).toBe('a fairly l…[truncated 10 chars]');
    expect(step.truncated).toEqual(['output']);
  });

  it('applies only to the kinds given', async () => {
    const { memory, tracer } = setup({ kinds: ['llm'], maxStringLength: 5 });
    await tracer.llm({ name: 'llm', input: 'long input' }, async () => 1);
    await tracer.tool({ name: 'tool', input: 'long input' }, async () => 1);
    await tracer.flush();
    expect(memory.one('llm').input).toBe('long …[truncated 5 chars]');
    expect(memory.one('tool').input).toBe('long input');
  });

  it('rejects bad options at construction', () => {
    expect(() => limits({ maxBytes: 0 })).toThrow(SpanchainError);
    expect(() => limits({ maxDepth: 2.5 })).toThrow(/maxDepth/);
    expect(() => limits({ maxBytez: 1 } as unknown as LimitsOptions)).toThrow(/maxBytez/);
  });
});
