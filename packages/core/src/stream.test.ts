import { describe, expect, it } from 'vitest';
import { MemoryPlugin } from './testing/index.js';
import { createTracer } from './tracer.js';

function setup(
  use: Parameters<typeof createTracer>[0] extends infer O
    ? O extends { use?: infer U }
      ? U
      : never
    : never = [],
) {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], use, flushOnExit: false });
  return { memory, tracer };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('async generators', () => {
  it('stays open until consumed, records chunks, text and time to first token', async () => {
    const { memory, tracer } = setup();
    const stream = tracer.llm({ name: 'gen', model: 'm' }, async function* () {
      await tick();
      yield 'Hel';
      yield 'lo';
    });
    await tick();
    expect(memory.steps).toHaveLength(0);
    let text = '';
    for await (const chunk of stream) text += chunk;
    expect(text).toBe('Hello');
    const step = memory.one('gen');
    expect(step.output).toBe('Hello');
    expect(step.stream).toMatchObject({ state: 'completed', chunks: 2 });
    expect(step.kind === 'llm' && step.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(step.events.map((e) => e.name)).toContain('first-token');
    expect(step.endTime! - step.startTime).toBeGreaterThanOrEqual(
      step.kind === 'llm' ? step.timeToFirstTokenMs! : 0,
    );
  });

  it('runs the producer in the step context on every pull', async () => {
    const { memory, tracer } = setup();
    const seen: (string | undefined)[] = [];
    const stream = tracer.llm('producer', async function* () {
      for (let i = 0; i < 3; i++) {
        await tick();
        seen.push(tracer.activeStep()?.name);
        yield i;
      }
    });
    // Consume from a different step's context: the producer must still see its own step.
    await tracer.chain('consumer', async () => {
      for await (const _ of stream) seen.push(`consumer:${tracer.activeStep()?.name}`);
    });
    expect(seen).toEqual([
      'producer',
      'consumer:consumer',
      'producer',
      'consumer:consumer',
      'producer',
      'consumer:consumer',
    ]);
    expect(memory.one('producer').stream?.state).toBe('completed');
  });

  it('nests steps made by the producer under the streaming step', async () => {
    const { memory, tracer } = setup();
    const stream = tracer.agent('agent', async function* () {
      const hit = await tracer.tool('inner-tool', async () => 'x');
      yield hit;
    });
    for await (const _ of stream) {
      // consume
    }
    expect(memory.one('inner-tool').parentSpanId).toBe(memory.one('agent').spanId);
  });

  it('marks a stream broken early as cancelled', async () => {
    const { memory, tracer } = setup();
    let finished = false;
    const stream = tracer.llm('early', async function* () {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        finished = true;
      }
    });
    for await (const i of stream) if (i === 2) break;
    expect(finished).toBe(true);
    expect(memory.one('early').stream).toMatchObject({ state: 'cancelled', chunks: 3 });
    expect(memory.one('early').status).toBe('ok');
  });

  it('records an error thrown mid-stream and rethrows it to the consumer', async () => {
    const { memory, tracer } = setup();
    const error = new Error('mid-stream');
    const stream = tracer.llm('errs', async function* () {
      yield 'a';
      throw error;
    });
    const chunks: unknown[] = [];
    await expect(
      (async () => {
        for await (const c of stream) chunks.push(c);
      })(),
    ).rejects.toBe(error);
    expect(chunks).toEqual(['a']);
    expect(memory.one('errs')).toMatchObject({
      status: 'error',
      stream: { state: 'error', chunks: 1 },
      error: { message: 'mid-stream' },
    });
  });

  it('ends a stream nobody consumed at flush, marked not-consumed', async () => {
    const { memory, tracer } = setup();
    tracer.llm('orphan', async function* () {
      yield 1;
    });
    expect(memory.steps).toHaveLength(0);
    const report = await tracer.flush();
    expect(report.unconsumedStreams).toBe(1);
    expect(memory.one('orphan').stream?.state).toBe('not-consumed');
    expect(tracer.stats().openStreams).toBe(0);
  });

  it('leaves a stream being read open across flush; shutdown ends it as cancelled', async () => {
    const { memory, tracer } = setup();
    const stream = tracer.llm('live', async function* () {
      yield 'a';
      yield 'b';
    });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toBe('a');
    const report = await tracer.flush();
    expect(report.unconsumedStreams).toBe(0);
    expect(memory.steps).toHaveLength(0);
    expect((await iterator.next()).value).toBe('b');
    const final = await tracer.shutdown();
    expect(final.unconsumedStreams).toBe(1);
    expect(memory.one('live').stream).toMatchObject({ state: 'cancelled', chunks: 2 });
  });

  it('handles a promise that resolves to a stream, keeping the step open', async () => {
    const { memory, tracer } = setup();
    const stream = await tracer.llm('resolved', async () => {
      await tick();
      return (async function* () {
        yield 'x';
        yield 'y';
      })();
    });
    expect(memory.steps).toHaveLength(0);
    const got: unknown[] = [];
    for await (const c of stream) got.push(c);
    expect(got).toEqual(['x', 'y']);
    expect(memory.one('resolved')).toMatchObject({ output: 'xy', stream: { state: 'completed', chunks: 2 } });
  });

  it('reduces chunks with reduceStream and calls onChunk', async () => {
    const { memory, tracer } = setup();
    const seen: unknown[] = [];
    const stream = tracer.llm(
      {
        name: 'reduced',
        onChunk: (chunk) => seen.push(chunk),
        reduceStream: (chunks) => (chunks as { delta: string }[]).map((c) => c.delta).join(''),
      },
      async function* () {
        yield { delta: 'a' };
        yield { delta: 'b' };
      },
    );
    for await (const _ of stream) {
      // consume
    }
    expect(seen).toEqual([{ delta: 'a' }, { delta: 'b' }]);
    expect(memory.one('reduced').output).toBe('ab');
  });

  it('works through a middleware chain: code after next() sees the consumed output', async () => {
    const outputs: unknown[] = [];
    const { tracer } = setup([
      async (step, next) => {
        await next();
        outputs.push(step.output);
      },
    ]);
    const stream = await tracer.llm('chained', async () =>
      (async function* () {
        yield 'p';
        yield 'q';
      })(),
    );
    for await (const _ of stream) {
      // consume
    }
    await tracer.flush();
    expect(outputs).toEqual(['pq']);
  });
});

describe('async iterables that are not generators', () => {
  it('keeps the object and its methods, instrumenting iteration', async () => {
    class SdkStream {
      controller = { aborted: false };
      async *[Symbol.asyncIterator]() {
        yield 'one';
        yield 'two';
      }
      toText() {
        return 'sdk';
      }
    }
    const { memory, tracer } = setup();
    const made = new SdkStream();
    const returned = tracer.llm('sdk', () => made);
    expect(returned).toBe(made);
    expect(returned.toText()).toBe('sdk');
    const got: string[] = [];
    for await (const c of returned) got.push(c);
    expect(got).toEqual(['one', 'two']);
    expect(memory.one('sdk')).toMatchObject({ output: 'onetwo', stream: { state: 'completed' } });
  });
});

describe('web ReadableStreams', () => {
  const source = () =>
    new ReadableStream<string>({
      start(controller) {
        controller.enqueue('r1');
        controller.enqueue('r2');
        controller.close();
      },
    });

  it('instruments reading through getReader', async () => {
    const { memory, tracer } = setup();
    const stream = tracer.llm('reader', () => source());
    const reader = stream.getReader();
    const got: string[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got.push(value);
    }
    expect(got).toEqual(['r1', 'r2']);
    expect(memory.one('reader')).toMatchObject({ output: 'r1r2', stream: { state: 'completed', chunks: 2 } });
  });

  it('instruments for-await and pipeThrough', async () => {
    const { memory, tracer } = setup();
    const a = tracer.llm('iter', () => source());
    const got: string[] = [];
    for await (const c of a) got.push(c);
    const b = tracer.llm('piped', () => source());
    const upper = b.pipeThrough(
      new TransformStream<string, string>({
        transform: (c, controller) => controller.enqueue(c.toUpperCase()),
      }),
    );
    for await (const c of upper) got.push(c);
    expect(got).toEqual(['r1', 'r2', 'R1', 'R2']);
    expect(memory.one('iter').stream?.state).toBe('completed');
    expect(memory.one('piped').stream?.state).toBe('completed');
  });

  it('marks a cancelled ReadableStream', async () => {
    const { memory, tracer } = setup();
    const stream = tracer.llm('cancelled', () => source());
    const reader = stream.getReader();
    await reader.read();
    await reader.cancel('enough');
    expect(memory.one('cancelled').stream).toMatchObject({ state: 'cancelled', chunks: 1 });
  });

  it('pulls the underlying source in the step context', async () => {
    const { tracer } = setup();
    const seen: (string | undefined)[] = [];
    const stream = tracer.llm(
      'pull-ctx',
      () =>
        new ReadableStream<number>(
          {
            pull(controller) {
              seen.push(tracer.activeStep()?.name);
              if (seen.length > 2) controller.close();
              else controller.enqueue(seen.length);
            },
          },
          { highWaterMark: 0 },
        ),
    );
    await tracer.chain('consumer', async () => {
      for await (const _ of stream) {
        // consume
      }
    });
    expect(seen).toEqual(['pull-ctx', 'pull-ctx', 'pull-ctx']);
  });
});

describe('values that merely look iterable', () => {
  it('treats arrays and strings as plain values', () => {
    const { memory, tracer } = setup();
    expect(tracer.retrieval('arr', () => [1, 2])).toEqual([1, 2]);
    expect(memory.one('arr')).toMatchObject({ output: [1, 2] });
    expect(memory.one('arr').stream).toBeUndefined();
  });

  it('treats a frozen async iterable as a plain value', async () => {
    const { memory, tracer } = setup();
    const frozen = Object.freeze({
      async *[Symbol.asyncIterator]() {
        yield 1;
      },
    });
    expect(tracer.llm('frozen', () => frozen)).toBe(frozen);
    expect(memory.one('frozen').stream).toBeUndefined();
  });
});
