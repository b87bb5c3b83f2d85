import { describe, expect, it } from 'vitest';
import type { InternalErrorReport } from '../../error-handler.js';
import { GuardrailBlockedError, SpanchainError } from '../../errors.js';
import type { Step, StepOf } from '../../step.js';
import { MemoryPlugin } from '../../testing/memory-plugin.js';
import { createTracer } from '../../tracer.js';
import { type GuardrailOptions, guardrail } from './index.js';

function setup(options: GuardrailOptions) {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], use: [guardrail(options)], flushOnExit: false });
  return { memory, tracer };
}

/** The guardrail steps that are children of `step`. */
function checksOf(memory: MemoryPlugin, step: Step | undefined): StepOf<'guardrail'>[] {
  return memory.byKind('guardrail').filter((g) => g.parentSpanId === step?.spanId);
}

/** A check that passes, keeping what it was given. */
function passing<T>(seen: T[], pick: (value: unknown, target: string) => T) {
  return (value: unknown, _step: unknown, target: string): boolean => {
    seen.push(pick(value, target));
    return true;
  };
}

const rejected = async (promise: unknown): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
};

describe('guardrail()', () => {
  it('lets a passing step through and records the check as a child step', async () => {
    const { memory, tracer } = setup({ name: 'polite', check: (value) => value === 'hello' });
    await expect(tracer.llm({ name: 'answer' }, async () => 'hello')).resolves.toBe('hello');
    await tracer.flush();
    const step = memory.one('answer');
    expect(step.status).toBe('ok');
    expect(step.metadata).toBeUndefined();
    const [check] = checksOf(memory, step);
    expect(check).toMatchObject({
      name: 'polite',
      guardrailName: 'polite',
      decision: 'pass',
      target: 'output',
    });
    expect(check?.traceId).toBe(step.traceId);
    expect(memory.byKind('guardrail')).toHaveLength(1);
  });

  it('blocks on input: the function never runs and the step fails with a typed error', async () => {
    const { memory, tracer } = setup({
      name: 'no-secrets',
      on: 'input',
      check: () => ({ decision: 'block', reason: 'contains a password' }),
    });
    let called = false;
    const error = await rejected(
      tracer.llm({ name: 'answer', input: 'my password is hunter2' }, async () => {
        called = true;
        return 'never';
      }),
    );
    expect(called).toBe(false);
    expect(error).toBeInstanceOf(GuardrailBlockedError);
    expect(SpanchainError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({
      code: 'GUARDRAIL_BLOCKED',
      guardrail: 'no-secrets',
      reason: 'contains a password',
    });
    await tracer.flush();
    const step = memory.one('answer');
    expect(step.status).toBe('error');
    expect(step.error).toMatchObject({ type: 'GuardrailBlockedError' });
    expect(step.error?.message).toContain('contains a password');
    expect(checksOf(memory, step)).toMatchObject([
      {
        guardrailName: 'no-secrets',
        decision: 'block',
        reason: 'contains a password',
        target: 'input',
        status: 'ok',
      },
    ]);
    expect(step.metadata?.guardrails).toEqual([
      { name: 'no-secrets', decision: 'block', target: 'input', reason: 'contains a password' },
    ]);
  });

  it('checks inputMessages when the step has them', async () => {
    const seen: unknown[] = [];
    const { tracer } = setup({ name: 'g', on: 'input', check: passing(seen, (value) => value) });
    const inputMessages = [{ role: 'user', content: 'hi' }];
    await tracer.llm({ inputMessages, input: 'ignored' }, async () => 'ok');
    await tracer.llm({ input: 'plain' }, async () => 'ok');
    expect(seen).toEqual([inputMessages, 'plain']);
  });

  it('blocks on output of an async function: the caller gets the typed error', async () => {
    const { memory, tracer } = setup({
      name: 'no-ssn',
      check: (value) => !/\d{3}-\d{2}-\d{4}/.test(String(value)),
    });
    const error = await rejected(tracer.llm({ name: 'answer' }, async () => 'SSN 123-45-6789'));
    expect(error).toBeInstanceOf(GuardrailBlockedError);
    expect((error as GuardrailBlockedError).guardrail).toBe('no-ssn');
    await tracer.flush();
    const step = memory.one('answer');
    expect(step).toMatchObject({
      status: 'error',
      output: 'SSN 123-45-6789',
      error: { type: 'GuardrailBlockedError' },
    });
    expect(checksOf(memory, step)).toMatchObject([{ decision: 'block', target: 'output' }]);
  });

  it('checks outputMessages, then output, then the value the caller receives', async () => {
    const seen: unknown[] = [];
    const { tracer } = setup({ name: 'g', check: passing(seen, (value) => value) });
    const outputMessages = [{ role: 'assistant', content: 'a' }];
    await tracer.llm({}, async (step) => {
      step.update({ outputMessages });
      return 'raw';
    });
    await tracer.llm({}, async () => 'value');
    expect(seen).toEqual([outputMessages, 'value']);
  });

  it('annotates without throwing', async () => {
    const { memory, tracer } = setup({
      name: 'tone',
      check: () => ({ decision: 'annotate', reason: 'a bit rude' }),
    });
    await expect(tracer.llm({ name: 'answer' }, async () => 'whatever')).resolves.toBe('whatever');
    await tracer.flush();
    const step = memory.one('answer');
    expect(step.status).toBe('ok');
    expect(step.metadata?.guardrails).toEqual([
      { name: 'tone', decision: 'annotate', target: 'output', reason: 'a bit rude' },
    ]);
    expect(step.events.filter((e) => e.name === 'guardrail')).toMatchObject([
      {
        attributes: {
          'guardrail.name': 'tone',
          'guardrail.decision': 'annotate',
          'guardrail.target': 'output',
          'guardrail.reason': 'a bit rude',
        },
      },
    ]);
    expect(checksOf(memory, step)).toMatchObject([{ decision: 'annotate', reason: 'a bit rude' }]);
  });

  it("with action 'annotate', a failing check annotates and marks wouldBlock", async () => {
    const { memory, tracer } = setup({ name: 'shadow', on: 'both', action: 'annotate', check: () => false });
    await expect(tracer.llm({ name: 'answer' }, async () => 'x')).resolves.toBe('x');
    await tracer.flush();
    const step = memory.one('answer');
    expect(step.status).toBe('ok');
    expect(step.metadata?.guardrails).toEqual([
      { name: 'shadow', decision: 'annotate', target: 'input', wouldBlock: true },
      { name: 'shadow', decision: 'annotate', target: 'output', wouldBlock: true },
    ]);
  });

  it('awaits an async check, which runs inside its guardrail step', async () => {
    let activeKind: string | undefined;
    const { memory, tracer } = setup({
      name: 'slow',
      on: 'input',
      check: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        activeKind = tracer.activeStep()?.kind;
        return { decision: 'block', reason: 'slowly' };
      },
    });
    const error = await rejected(tracer.llm({ name: 'answer' }, async () => 'never'));
    expect(error).toMatchObject({ guardrail: 'slow', reason: 'slowly' });
    expect(activeKind).toBe('guardrail');
    await tracer.flush();
    const [check] = checksOf(memory, memory.one('answer'));
    expect(check?.decision).toBe('block');
    expect((check?.endTime ?? 0) - (check?.startTime ?? 0)).toBeGreaterThanOrEqual(4);
  });

  it('runs input then output checks with "both", telling the check its target', async () => {
    const targets: string[] = [];
    const { memory, tracer } = setup({
      name: 'g',
      on: 'both',
      check: passing(targets, (_value, target) => target),
    });
    await tracer.llm({ name: 'answer', input: 'q' }, async () => 'a');
    await tracer.flush();
    expect(targets).toEqual(['input', 'output']);
    expect(checksOf(memory, memory.one('answer')).map((c) => c.target)).toEqual(['input', 'output']);
  });

  it('uses select to pick what is checked', async () => {
    const seen: unknown[] = [];
    const { tracer } = setup({
      name: 'g',
      on: 'input',
      select: (step) => step.params,
      check: passing(seen, (value) => value),
    });
    await tracer.llm({ params: { temperature: 2 } }, async () => 'a');
    expect(seen).toEqual([{ temperature: 2 }]);
  });

  describe('a check that throws', () => {
    const boom = () => {
      throw new Error('classifier down');
    };

    it('passes by default, reporting the error and recording it on the guardrail step', async () => {
      const memory = new MemoryPlugin();
      const reports: InternalErrorReport[] = [];
      const tracer = createTracer({
        plugins: [memory],
        use: [guardrail({ name: 'flaky', check: boom })],
        onError: (report) => reports.push(report),
        flushOnExit: false,
      });
      await expect(tracer.llm({ name: 'answer' }, async () => 'fine')).resolves.toBe('fine');
      await tracer.flush();
      const step = memory.one('answer');
      expect(step.status).toBe('ok');
      const [check] = checksOf(memory, step);
      expect(check).toMatchObject({
        status: 'error',
        error: { message: 'classifier down' },
        decision: 'pass',
        reason: 'check failed: classifier down',
      });
      expect(step.metadata?.guardrails).toEqual([
        {
          name: 'flaky',
          decision: 'pass',
          target: 'output',
          reason: 'check failed: classifier down',
          checkError: true,
        },
      ]);
      expect(reports.map((r) => [r.source, r.message])).toEqual([
        ['middleware:guardrail', 'Error: classifier down'],
      ]);
    });

    it("blocks with onCheckError: 'block'", async () => {
      const { memory, tracer } = setup({
        name: 'strict',
        on: 'input',
        onCheckError: 'block',
        check: async () => Promise.reject(new Error('classifier down')),
      });
      let called = false;
      const error = await rejected(tracer.llm({ name: 'answer' }, async () => (called = true)));
      expect(called).toBe(false);
      expect(error).toMatchObject({ guardrail: 'strict', reason: 'check failed: classifier down' });
      await tracer.flush();
      expect(checksOf(memory, memory.one('answer'))).toMatchObject([{ status: 'error', decision: 'block' }]);
    });

    it('counts a check that returns no verdict as a check error', async () => {
      const { memory, tracer } = setup({ name: 'g', onCheckError: 'block', check: (() => 'yes') as never });
      const error = await rejected(tracer.llm({ name: 'answer' }, async () => 'a'));
      expect((error as GuardrailBlockedError).reason).toMatch(
        /^check failed: guardrail check returned string/,
      );
      await tracer.flush();
      expect(checksOf(memory, memory.one('answer'))[0]?.status).toBe('error');
    });
  });

  it('only annotates the output of a synchronous function: the caller already has it', async () => {
    const { memory, tracer } = setup({ name: 'no-ssn', check: () => ({ decision: 'block', reason: 'ssn' }) });
    const value = tracer.llm({ name: 'answer' }, () => 'SSN 123-45-6789');
    expect(value).toBe('SSN 123-45-6789');
    await tracer.flush();
    const step = memory.one('answer');
    expect(step.status).toBe('ok');
    expect(step.metadata?.guardrails).toEqual([
      { name: 'no-ssn', decision: 'annotate', target: 'output', reason: 'ssn', wouldBlock: true },
    ]);
    expect(checksOf(memory, step)).toMatchObject([{ decision: 'annotate', reason: 'ssn' }]);
  });

  it('blocks a synchronous function on input with a rejected promise, not a synchronous throw', async () => {
    // The chain cannot know the function is synchronous before running it.
    const { tracer } = setup({ name: 'g', on: 'input', check: () => false });
    let called = false;
    const returned: unknown = tracer.llm({}, () => {
      called = true;
      return 1;
    });
    expect(returned).toBeInstanceOf(Promise);
    await expect(returned).rejects.toBeInstanceOf(GuardrailBlockedError);
    expect(called).toBe(false);
  });

  it('keeps a synchronous function synchronous behind a synchronous input check', () => {
    const { tracer } = setup({ name: 'g', on: 'input', check: () => true });
    expect(tracer.llm({}, () => 42)).toBe(42);
  });

  it('only annotates the output of a stream, which the caller reads before it can be checked', async () => {
    const { memory, tracer } = setup({ name: 'g', check: () => false });
    const stream = await tracer.llm({ name: 'answer' }, async () =>
      (async function* () {
        yield 'a';
        yield 'b';
      })(),
    );
    const chunks: string[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toEqual(['a', 'b']);
    await memory.waitFor((m) => m.byName('answer').length === 1);
    const step = memory.one('answer');
    expect(step.status).toBe('ok');
    expect(step.metadata?.guardrails).toMatchObject([
      { decision: 'annotate', target: 'output', wouldBlock: true },
    ]);
  });

  it('does not check the output when the function failed', async () => {
    const checked: unknown[] = [];
    const { tracer } = setup({ name: 'g', check: passing(checked, (value) => value) });
    const error = new Error('model down');
    await expect(tracer.llm({}, async () => Promise.reject(error))).rejects.toBe(error);
    expect(checked).toEqual([]);
  });

  it('checks a retried step once, not each of its attempts', async () => {
    const targets: string[] = [];
    const { memory, tracer } = setup({
      name: 'g',
      on: 'both',
      check: passing(targets, (_value, target) => target),
    });
    let calls = 0;
    const call = async () => {
      if (++calls === 1) throw new Error('transient');
      return 'ok';
    };
    await expect(
      tracer.llm({ name: 'answer', retry: { maxRetries: 1, initialDelayMs: 1 } }, call),
    ).resolves.toBe('ok');
    await tracer.flush();
    expect(targets).toEqual(['input', 'output']);
    const parent = memory.byName('answer').find((s) => s.attempt === undefined);
    expect(checksOf(memory, parent)).toHaveLength(2);
  });

  it('applies only to its kinds', async () => {
    const { memory, tracer } = setup({ name: 'g', kinds: ['tool'], check: () => false });
    await expect(tracer.llm({ name: 'answer' }, async () => 'a')).resolves.toBe('a');
    await expect(tracer.tool({ name: 'search' }, async () => 'r')).rejects.toBeInstanceOf(
      GuardrailBlockedError,
    );
    await tracer.flush();
    expect(checksOf(memory, memory.one('answer'))).toHaveLength(0);
    expect(checksOf(memory, memory.one('search'))).toHaveLength(1);
  });

  it('rejects bad options at construction', () => {
    expect(() => guardrail({ name: 'g' } as never)).toThrow(/check: expected a check function/);
    expect(() => guardrail({ name: '', check: () => true })).toThrow(/name/);
    expect(() => guardrail({ name: 'g', on: 'inputs', check: () => true } as never)).toThrow(SpanchainError);
    expect(() => guardrail({ name: 'g', check: () => true, onError: 'pass' } as never)).toThrow(
      /Invalid guardrail options/,
    );
  });
});
