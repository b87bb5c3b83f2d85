import { describe, expect, it } from 'vitest';
import { SpanchainError } from '../../errors.js';
import { attemptsOf, fast, flaky, holder, setup } from './__tests__/helpers.js';
import { fallback, retry } from './index.js';

describe('retry()', () => {
  it('retries steps whose call gives no retry option', async () => {
    const { memory, tracer } = setup([retry(fast(2))]);
    const call = flaky(2, 'ok');
    await expect(tracer.llm({ name: 'answer' }, call)).resolves.toBe('ok');
    await tracer.flush();
    expect(holder(memory, 'answer').attempts).toEqual({ retries: 2, maxRetries: 2, fallbacks: 0 });
    // Attempts are not retried themselves: one parent and three attempts, nothing deeper.
    expect(memory.steps).toHaveLength(4);
    expect(memory.steps.filter((s) => s.attempt !== undefined)).toHaveLength(3);
  });

  it('lets the call’s own retry option win', async () => {
    const { memory, tracer } = setup([retry(fast(5))]);
    await expect(tracer.llm({ name: 'once', retry: fast(1) }, flaky(3, 'never'))).rejects.toThrow('fail 2');
    const none = flaky(1, 'never');
    await expect(tracer.llm({ name: 'none', retry: 0 }, none)).rejects.toThrow('fail 1');
    expect(none.state.calls).toBe(1);
    await tracer.flush();
    expect(holder(memory, 'once').attempts).toMatchObject({ retries: 1, maxRetries: 1 });
    expect(holder(memory, 'none').attempts).toBeUndefined();
  });

  it('keeps a synchronous function synchronous', () => {
    const { tracer } = setup([retry(fast(2))]);
    expect(tracer.llm({}, () => 7)).toBe(7);
  });

  it('hands over a stream from a retried attempt before it is consumed', async () => {
    const { memory, tracer } = setup([retry(fast(1))]);
    let calls = 0;
    const stream = await tracer.llm({ name: 'answer' }, async () => {
      if (++calls === 1) throw new Error('connect timeout');
      return (async function* () {
        yield 'x';
      })();
    });
    expect(memory.byName('answer')).toHaveLength(1);
    const chunks: string[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toEqual(['x']);
    await memory.waitFor((m) => m.byName('answer').length === 3);
    expect(holder(memory, 'answer')).toMatchObject({ status: 'ok', output: 'x', attempts: { retries: 1 } });
  });

  it('takes a number, and applies to model kinds only unless told otherwise', async () => {
    const { memory, tracer } = setup([retry(1)]);
    await expect(tracer.tool({ name: 'side-effect' }, flaky(1, 'x'))).rejects.toThrow('fail 1');
    await expect(tracer.embedding({ name: 'embed' }, flaky(1, [0.5]))).resolves.toEqual([0.5]);
    await tracer.flush();
    expect(holder(memory, 'side-effect').attempts).toBeUndefined();
    expect(holder(memory, 'embed').attempts).toMatchObject({ retries: 1 });
    expect([...retry({ maxRetries: 1, kinds: ['tool'] }).kinds]).toEqual(['tool']);
  });

  it('rejects bad options at construction', () => {
    expect(() => retry({ maxRetries: -1 })).toThrow(SpanchainError);
    expect(() => retry({ maxRetries: 1, factor: 0.5 })).toThrow(/factor/);
    expect(() => retry({ maxRetries: 1, retryOn: 'yes' } as never)).toThrow(/Invalid retry options/);
    expect(() => retry({ maxRetries: 1, kinds: ['model'] } as never)).toThrow(/Invalid retry options/);
  });
});

describe('fallback()', () => {
  const answer = async (step: { model?: string }) => {
    if (step.model === 'gpt-4o' || step.model === 'claude-sonnet-4') throw new Error(`${step.model} down`);
    return step.model;
  };

  it('picks fallbacks by the step’s model, strings being models', async () => {
    const { memory, tracer } = setup([
      fallback({ models: { 'gpt-4o': ['gpt-4o-mini'] }, fallbacks: [{ model: 'generic-backup' }] }),
    ]);
    await expect(tracer.llm({ name: 'mapped', model: 'gpt-4o' }, answer)).resolves.toBe('gpt-4o-mini');
    await expect(tracer.llm({ name: 'other', model: 'claude-sonnet-4' }, answer)).resolves.toBe(
      'generic-backup',
    );
    await tracer.flush();
    expect(attemptsOf(memory, holder(memory, 'mapped')).map((a) => a.attempt?.fallback)).toEqual([
      undefined,
      'gpt-4o-mini',
    ]);
    expect(attemptsOf(memory, holder(memory, 'other')).map((a) => a.attempt?.fallback)).toEqual([
      undefined,
      'generic-backup',
    ]);
  });

  it('leaves a step alone when nothing maps its model and there is no general list', async () => {
    const { memory, tracer } = setup([fallback({ models: { 'gpt-4o': ['gpt-4o-mini'] } })]);
    await expect(tracer.llm({ name: 'answer', model: 'claude-sonnet-4' }, answer)).rejects.toThrow(
      'claude-sonnet-4 down',
    );
    await tracer.flush();
    expect(holder(memory, 'answer').attempts).toBeUndefined();
  });

  it('lets the call’s own fallbacks win, and combines with retry()', async () => {
    const { memory, tracer } = setup([retry(fast(1)), fallback({ models: { 'gpt-4o': ['gpt-4o-mini'] } })]);
    await expect(
      tracer.llm({ name: 'answer', model: 'gpt-4o', fallbacks: [{ model: 'own-choice' }] }, answer),
    ).resolves.toBe('own-choice');
    await tracer.flush();
    const parent = holder(memory, 'answer');
    expect(parent.attempts).toEqual({ retries: 1, maxRetries: 1, fallbacks: 1 });
    expect(attemptsOf(memory, parent).map((a) => a.attempt)).toEqual([
      { number: 0 },
      { number: 1 },
      { number: 2, fallback: 'own-choice' },
    ]);
  });

  it('rejects bad options at construction', () => {
    expect(() => fallback({})).toThrow(/give `models`, `fallbacks` or both/);
    expect(() => fallback({ fallbacks: [{ name: 'nothing' }] })).toThrow(/a fallback needs a model/);
    expect(() => fallback({ models: { 'gpt-4o': [] } })).toThrow(SpanchainError);
    expect(() => fallback({ fallbacks: [{ model: 'x', modle: 'y' }] } as never)).toThrow(
      /Invalid fallback options/,
    );
  });
});
