// The attempt executor (attempts.ts) through the real tracer: per-call `retry` and `fallbacks`.
import { describe, expect, it } from 'vitest';
import { type Middleware, observer } from '../../compose.js';
import { attemptsOf, fast, flaky, holder, setup } from './__tests__/helpers.js';

const passThrough: Middleware = observer(async (_step, next) => {
  await next();
});

// The executor runs both without middleware (direct) and through a chain: test it on both paths.
describe.each([
  ['without middleware', [] as Middleware[]],
  ['through a middleware chain', [passThrough]],
])('per-call retry and fallbacks, %s', (_label, use) => {
  it('retries a failing async function and returns the first success', async () => {
    const { memory, tracer } = setup(use);
    const call = flaky(2, 'ok');
    await expect(tracer.llm({ name: 'answer', model: 'gpt-4o', retry: fast(2) }, call)).resolves.toBe('ok');
    expect(call.state.calls).toBe(3);
    await tracer.flush();
    const parent = holder(memory, 'answer');
    expect(parent.attempt).toBeUndefined();
    expect(parent).toMatchObject({
      status: 'ok',
      output: 'ok',
      attempts: { retries: 2, maxRetries: 2, fallbacks: 0 },
    });
    expect(parent.events.filter((e) => e.name === 'retry').map((e) => e.attributes?.attempt)).toEqual([1, 2]);
    const attempts = attemptsOf(memory, parent);
    expect(attempts.map((a) => [a.attempt?.number, a.status, a.error?.message])).toEqual([
      [0, 'error', 'fail 1'],
      [1, 'error', 'fail 2'],
      [2, 'ok', undefined],
    ]);
    for (const attempt of attempts) {
      expect(attempt).toMatchObject({
        kind: 'llm',
        name: 'answer',
        model: 'gpt-4o',
        traceId: parent.traceId,
      });
      expect(attempt.parentSpanId).toBe(parent.spanId);
      expect(attempt.attempt?.fallback).toBeUndefined();
    }
    expect(attempts[2]?.output).toBe('ok');
    expect(memory.steps).toHaveLength(4);
  });

  it('takes a number as maxRetries', async () => {
    const { memory, tracer } = setup(use);
    await expect(tracer.llm({ name: 'answer', retry: 1 }, flaky(1, 'ok'))).resolves.toBe('ok');
    await tracer.flush();
    expect(holder(memory, 'answer').attempts).toEqual({ retries: 1, maxRetries: 1, fallbacks: 0 });
  });

  it('rejects with the last error itself once retries are exhausted', async () => {
    const { memory, tracer } = setup(use);
    const errors: Error[] = [];
    const call = async () => {
      const error = new Error(`fail ${errors.length + 1}`);
      errors.push(error);
      throw error;
    };
    const caught = await tracer.llm({ name: 'answer', retry: fast(2) }, call).catch((e: unknown) => e);
    expect(errors).toHaveLength(3);
    expect(caught).toBe(errors[2]);
    await tracer.flush();
    const parent = holder(memory, 'answer');
    expect(parent).toMatchObject({ status: 'error', error: { message: 'fail 3' }, attempts: { retries: 2 } });
    expect(attemptsOf(memory, parent).map((a) => a.status)).toEqual(['error', 'error', 'error']);
  });

  it('stops early when retryOn says an error is not worth retrying', async () => {
    const { memory, tracer } = setup(use);
    const fatal = Object.assign(new Error('bad request'), { code: 400 });
    let calls = 0;
    const call = async () => {
      calls++;
      throw calls === 1 ? Object.assign(new Error('rate limited'), { code: 429 }) : fatal;
    };
    const retryOn = (error: unknown) => (error as { code?: number }).code === 429;
    await expect(tracer.llm({ name: 'answer', retry: fast(5, { retryOn }) }, call)).rejects.toBe(fatal);
    expect(calls).toBe(2);
    await tracer.flush();
    const parent = holder(memory, 'answer');
    expect(parent.attempts).toEqual({ retries: 1, maxRetries: 5, fallbacks: 0 });
    expect(attemptsOf(memory, parent).map((a) => a.error?.code)).toEqual([429, 400]);
  });

  it('treats a retryOn that throws as "do not retry"', async () => {
    const { tracer } = setup(use);
    const call = flaky(1, 'ok');
    const retryOn = () => {
      throw new Error('broken predicate');
    };
    await expect(tracer.llm({ retry: fast(3, { retryOn }) }, call)).rejects.toThrow('fail 1');
    expect(call.state.calls).toBe(1);
  });

  it('falls back to another model, which the same function reads from its step', async () => {
    const { memory, tracer } = setup(use);
    const seen: (string | undefined)[] = [];
    const call = async (step: { model?: string }) => {
      seen.push(step.model);
      if (step.model === 'gpt-4o') throw new Error('overloaded');
      return `answered by ${step.model}`;
    };
    await expect(
      tracer.llm(
        { name: 'answer', model: 'gpt-4o', provider: 'openai', fallbacks: [{ model: 'gpt-4o-mini' }] },
        call,
      ),
    ).resolves.toBe('answered by gpt-4o-mini');
    expect(seen).toEqual(['gpt-4o', 'gpt-4o-mini']);
    await tracer.flush();
    const parent = holder(memory, 'answer');
    expect(parent).toMatchObject({
      status: 'ok',
      model: 'gpt-4o',
      responseModel: 'gpt-4o-mini',
      attempts: { retries: 0, maxRetries: 0, fallbacks: 1 },
    });
    expect(parent.events.filter((e) => e.name === 'fallback').map((e) => e.attributes)).toEqual([
      { 'fallback.name': 'gpt-4o-mini' },
    ]);
    const attempts = attemptsOf(memory, parent);
    expect(attempts.map((a) => [a.attempt, a.status, (a as { model?: string }).model])).toEqual([
      [{ number: 0 }, 'error', 'gpt-4o'],
      [{ number: 1, fallback: 'gpt-4o-mini' }, 'ok', 'gpt-4o-mini'],
    ]);
    expect(attempts[1]).toMatchObject({ provider: 'openai' });
  });

  it('falls back to another function, named after it or by `name`', async () => {
    const { memory, tracer } = setup(use);
    const failing = async () => {
      throw new Error('down');
    };
    await expect(
      tracer.llm(
        {
          name: 'a',
          fallbacks: [
            {
              fn: async function fromCache() {
                return 'cached';
              },
            },
          ],
        },
        failing,
      ),
    ).resolves.toBe('cached');
    await expect(
      tracer.llm(
        { name: 'b', fallbacks: [{ fn: failing }, { fn: async () => 'canned', name: 'canned-answer' }] },
        failing,
      ),
    ).resolves.toBe('canned');
    await tracer.flush();
    expect(attemptsOf(memory, holder(memory, 'a')).map((a) => a.attempt)).toEqual([
      { number: 0 },
      { number: 1, fallback: 'fromCache' },
    ]);
    expect(attemptsOf(memory, holder(memory, 'b')).map((a) => a.attempt)).toEqual([
      { number: 0 },
      { number: 1, fallback: 'failing' },
      { number: 2, fallback: 'canned-answer' },
    ]);
    expect(holder(memory, 'b').attempts).toEqual({ retries: 0, maxRetries: 0, fallbacks: 2 });
  });

  it('retries the primary before falling back, numbering attempts across both', async () => {
    const { memory, tracer } = setup(use);
    const call = async (step: { model?: string }) => {
      if (step.model === 'primary') throw new Error('primary down');
      return step.model;
    };
    await expect(
      tracer.llm(
        { name: 'answer', model: 'primary', retry: fast(1), fallbacks: [{ model: 'backup' }] },
        call,
      ),
    ).resolves.toBe('backup');
    await tracer.flush();
    const parent = holder(memory, 'answer');
    expect(parent.attempts).toEqual({ retries: 1, maxRetries: 1, fallbacks: 1 });
    expect(attemptsOf(memory, parent).map((a) => a.attempt)).toEqual([
      { number: 0 },
      { number: 1 },
      { number: 2, fallback: 'backup' },
    ]);
  });

  it('rejects with the last fallback error when every fallback fails', async () => {
    const { tracer } = setup(use);
    const last = new Error('backup down too');
    const call = async (step: { model?: string }) => {
      throw step.model === 'backup' ? last : new Error('primary down');
    };
    await expect(tracer.llm({ model: 'primary', fallbacks: [{ model: 'backup' }] }, call)).rejects.toBe(last);
  });

  it('keeps everything in one trace; steps inside an attempt nest under it', async () => {
    const { memory, tracer } = setup(use);
    const call = flaky(1, 'ok');
    await tracer.agent({ name: 'agent' }, async () =>
      tracer.llm({ name: 'answer', retry: fast(1) }, async () => {
        await tracer.tool({ name: 'lookup' }, async () => 'fact');
        return call();
      }),
    );
    await tracer.flush();
    const agent = holder(memory, 'agent');
    const parent = holder(memory, 'answer');
    expect(parent.parentSpanId).toBe(agent.spanId);
    const attempts = attemptsOf(memory, parent);
    expect(attempts).toHaveLength(2);
    const lookups = memory.byName('lookup');
    expect(lookups.map((l) => l.parentSpanId).sort()).toEqual(attempts.map((a) => a.spanId).sort());
    expect(new Set(memory.steps.map((s) => s.traceId))).toEqual(new Set([agent.traceId]));
  });

  it('does not retry a synchronous function: its value or throw comes back at once', () => {
    const { memory, tracer } = setup(use);
    expect(tracer.llm({ name: 'ok', retry: fast(3) }, () => 42)).toBe(42);
    let calls = 0;
    const error = new Error('sync failure');
    expect(() =>
      tracer.llm({ name: 'fails', retry: fast(3) }, () => {
        calls++;
        throw error;
      }),
    ).toThrow(error);
    expect(calls).toBe(1);
    return tracer.flush().then(() => {
      expect(attemptsOf(memory, holder(memory, 'fails'))).toHaveLength(1);
      expect(holder(memory, 'fails')).toMatchObject({
        status: 'error',
        attempts: { retries: 0, maxRetries: 3 },
      });
    });
  });

  it('retries a call that failed before streaming, then follows the stream', async () => {
    const { memory, tracer } = setup(use);
    let calls = 0;
    const stream = await tracer.llm({ name: 'answer', retry: fast(1) }, async () => {
      calls++;
      if (calls === 1) throw new Error('connect timeout');
      return (async function* () {
        yield 'a';
        yield 'b';
      })();
    });
    const chunks: string[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toEqual(['a', 'b']);
    await memory.waitFor((m) => m.byName('answer').length === 3);
    const parent = holder(memory, 'answer');
    expect(parent).toMatchObject({ status: 'ok', stream: { state: 'completed', chunks: 2 } });
    expect(attemptsOf(memory, parent).map((a) => [a.status, a.stream?.state])).toEqual([
      ['error', undefined],
      ['ok', 'completed'],
    ]);
  });
});

describe('edge cases of the executor', () => {
  // A retry that throws synchronously used to escape the retry loop and skip the fallbacks.
  it('tries the fallbacks when a retry attempt throws synchronously', async () => {
    const { tracer } = setup();
    let calls = 0;
    const call = (step: { model?: string }) => {
      calls++;
      if (step.model === 'backup') return Promise.resolve('backup');
      if (calls === 1) return Promise.reject(new Error('async failure'));
      throw new Error('sync failure');
    };
    await expect(
      tracer.llm({ model: 'primary', retry: fast(1), fallbacks: [{ model: 'backup' }] }, call),
    ).resolves.toBe('backup');
  });

  // Attempts inherit the call's content fields, so they must inherit its masks too.
  it('passes the call’s maskInput/maskOutput on to every attempt', async () => {
    const seen: { attempt: boolean; maskInput?: boolean; maskOutput?: boolean }[] = [];
    const spy: Middleware = observer(async (step, next) => {
      const { maskInput, maskOutput } = step.options;
      seen.push({ attempt: step.step.attempt !== undefined, maskInput, maskOutput });
      await next();
    });
    const { tracer } = setup([spy]);
    const call = flaky(1, 'ok');
    await tracer.llm(
      {
        inputMessages: [{ role: 'user', content: 'secret' }],
        maskInput: true,
        maskOutput: true,
        retry: fast(1),
      },
      call,
    );
    expect(seen).toHaveLength(3);
    for (const entry of seen) expect(entry).toMatchObject({ maskInput: true, maskOutput: true });
  });
});
