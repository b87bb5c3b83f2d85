import { afterEach, describe, expect, it } from 'vitest';
import { type InternalErrorReport, setErrorHandler } from '../../error-handler.js';
import { SpanchainError } from '../../errors.js';
import type { Plugin } from '../../plugin.js';
import type { Message, Step, StepOf } from '../../step.js';
import { MemoryPlugin } from '../../testing/memory-plugin.js';
import { createTracer, type Tracer } from '../../tracer.js';
import { REDACTED, type RedactOptions, redact } from './index.js';

function setup(
  options?: RedactOptions,
  extra: { onError?: (r: InternalErrorReport) => void; plugins?: Plugin[] } = {},
) {
  const memory = new MemoryPlugin();
  const tracer = createTracer({
    plugins: [memory, ...(extra.plugins ?? [])],
    use: [redact(options)],
    flushOnExit: false,
    onError: extra.onError,
  });
  return { memory, tracer };
}

afterEach(() => setErrorHandler());

async function settle(tracer: Tracer): Promise<void> {
  await tracer.flush();
}

const conversation = (): Message[] => [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'My card is 4111 1111 1111 1111', name: 'ada' },
  { role: 'assistant', toolCalls: [{ id: 'c1', name: 'lookup', arguments: { card: '4111' } }] },
  { role: 'tool', toolCallId: 'c1', content: 'balance: 12 EUR' },
];

describe('redact() with content off', () => {
  it('records no content on any kind, keeping the shape backends display', async () => {
    const { memory, tracer } = setup({ content: false });
    const inputMessages = conversation();
    const documents = [{ id: 'd1', content: 'secret doc', score: 0.9, metadata: { src: 'kb' } }];
    const appObjects = structuredClone({ inputMessages, documents });
    await tracer.agent(
      { name: 'root', input: 'q', trace: { input: 'trace in', metadata: { team: 'a' } } },
      async () => {
        await tracer.llm(
          {
            name: 'call',
            systemInstructions: 'be nice',
            inputMessages,
            tools: [{ name: 'lookup', description: 'finds' }],
            model: 'gpt-4o',
          },
          async (step) => {
            step.update({
              outputMessages: [{ role: 'assistant', content: 'hi', finishReason: 'stop' }],
              toolCalls: [{ id: 't', name: 'lookup', arguments: { q: 'x' } }],
            });
            return 'hi';
          },
        );
        await tracer.retrieval({ name: 'search', query: 'cards' }, async (step) => {
          step.update({ documents });
        });
        const balance = await tracer.tool({ name: 'lookup', arguments: { card: '4111' } }, async () => ({
          balance: 12,
        }));
        expect(balance).toEqual({ balance: 12 });
        await tracer.prompt(
          { name: 'p', templateName: 'greet', template: 'Hi {{name}}', variables: { name: 'Ada' } },
          async (step) => {
            step.update({ messages: [{ role: 'user', content: 'Hi Ada' }], text: 'Hi Ada' });
          },
        );
        await tracer.embedding({ name: 'embed', texts: ['a', 'b'] }, async () => [1, 2]);
        await tracer.guardrail({ name: 'g', reason: 'off-topic', decision: 'block' }, async () => undefined);
      },
    );
    await settle(tracer);

    const llm = memory.one('call') as StepOf<'llm'>;
    expect(llm.inputMessages).toEqual([
      { role: 'system', content: REDACTED },
      { role: 'user', name: 'ada', content: REDACTED },
      { role: 'assistant', toolCalls: [{ id: 'c1', name: 'lookup', arguments: REDACTED }] },
      { role: 'tool', toolCallId: 'c1', content: REDACTED },
    ]);
    expect(llm.systemInstructions).toBe(REDACTED);
    expect(llm.outputMessages).toEqual([{ role: 'assistant', content: REDACTED, finishReason: 'stop' }]);
    expect(llm.toolCalls).toEqual([{ id: 't', name: 'lookup', arguments: REDACTED }]);
    expect(llm.output).toBe(REDACTED);
    expect(llm.tools).toEqual([{ name: 'lookup', description: 'finds' }]);
    expect(llm.model).toBe('gpt-4o');
    expect(llm.redacted).toEqual([
      'inputMessages',
      'systemInstructions',
      'output',
      'outputMessages',
      'toolCalls',
    ]);

    const search = memory.one('search') as StepOf<'retrieval'>;
    expect(search.query).toBe(REDACTED);
    expect(search.documents).toEqual([{ id: 'd1', score: 0.9, metadata: { src: 'kb' }, content: REDACTED }]);
    const tool = memory.one('lookup') as StepOf<'tool'>;
    expect([tool.arguments, tool.output]).toEqual([REDACTED, REDACTED]);
    const prompt = memory.one('p') as StepOf<'prompt'>;
    expect(prompt.variables).toEqual({ name: REDACTED });
    expect(prompt.messages).toEqual([{ role: 'user', content: REDACTED }]);
    expect(prompt.text).toBe(REDACTED);
    expect(prompt.template).toBe('Hi {{name}}');
    expect((memory.one('embed') as StepOf<'embedding'>).texts).toEqual([REDACTED, REDACTED]);
    expect((memory.one('g') as StepOf<'guardrail'>).reason).toBe('off-topic');
    const root = memory.one('root');
    expect(root.input).toBe(REDACTED);
    expect(root.trace.input).toBe(REDACTED);
    expect(root.trace.metadata).toEqual({ team: 'a' });
    // Ids and timestamps are left out of the leak check: their digits may contain "4111" by chance.
    const content = JSON.stringify(memory.steps, (key, value) =>
      ['traceId', 'spanId', 'parentSpanId', 'startTime', 'endTime'].includes(key) ? undefined : value,
    );
    expect(content).not.toMatch(/4111|secret doc|Ada|balance/);
    expect({ inputMessages, documents }).toEqual(appObjects);
  });
});

describe('redact() by side', () => {
  it('input: false masks the input side only', async () => {
    const { memory, tracer } = setup({ input: false });
    await tracer.llm(
      { name: 'call', input: 'question', inputMessages: [{ role: 'user', content: 'q' }] },
      async (step) => {
        step.update({ outputMessages: [{ role: 'assistant', content: 'answer' }] });
        return 'answer';
      },
    );
    await settle(tracer);
    const llm = memory.one('call') as StepOf<'llm'>;
    expect(llm.input).toBe(REDACTED);
    expect(llm.inputMessages).toEqual([{ role: 'user', content: REDACTED }]);
    expect(llm.output).toBe('answer');
    expect(llm.outputMessages).toEqual([{ role: 'assistant', content: 'answer' }]);
    expect(llm.redacted).toEqual(['input', 'inputMessages']);
  });

  it('output: false masks the output side only, including documents a retrieval returns', async () => {
    const { memory, tracer } = setup({ output: false });
    await tracer.retrieval({ name: 'search', query: 'cards' }, async () => [{ id: 'd1', content: 'doc' }]);
    await tracer.rerank({ name: 'rr', documents: [{ id: 'a', content: 'in' }] }, async (step) => {
      step.update({ rerankedDocuments: [{ id: 'a', content: 'in', score: 1 }] });
    });
    await settle(tracer);
    const search = memory.one('search') as StepOf<'retrieval'>;
    expect(search.query).toBe('cards');
    expect(search.output).toBe(REDACTED);
    const rr = memory.one('rr') as StepOf<'rerank'>;
    expect(rr.documents).toEqual([{ id: 'a', content: 'in' }]);
    expect(rr.rerankedDocuments).toEqual([{ id: 'a', score: 1, content: REDACTED }]);
  });
});

describe('per-call maskInput / maskOutput', () => {
  it.each([
    ['redact() without options', undefined],
    ['redact() with a policy for other kinds', { kinds: ['tool'], content: false } satisfies RedactOptions],
  ])('work with %s', async (_label, options) => {
    const { memory, tracer } = setup(options);
    await tracer.llm(
      { name: 'in', input: 'secret in', inputMessages: [{ role: 'user', content: 's' }], maskInput: true },
      async () => 'out',
    );
    await tracer.llm({ name: 'out', input: 'in', maskOutput: true }, async (step) => {
      step.update({ outputMessages: [{ role: 'assistant', content: 'secret out' }] });
      return 'secret out';
    });
    await tracer.llm({ name: 'plain', input: 'kept' }, async () => 'kept too');
    await settle(tracer);
    const masked = memory.one('in') as StepOf<'llm'>;
    expect([masked.input, masked.output]).toEqual([REDACTED, 'out']);
    expect(masked.inputMessages).toEqual([{ role: 'user', content: REDACTED }]);
    const out = memory.one('out') as StepOf<'llm'>;
    expect([out.input, out.output]).toEqual(['in', REDACTED]);
    expect(out.outputMessages).toEqual([{ role: 'assistant', content: REDACTED }]);
    expect(out.redacted).toEqual(['output', 'outputMessages']);
    const plain = memory.one('plain');
    expect([plain.input, plain.output, plain.redacted]).toEqual(['kept', 'kept too', undefined]);
  });
});

describe('field families', () => {
  it('messages: false masks message content everywhere but keeps the rest', async () => {
    const { memory, tracer } = setup({ fields: { messages: false } });
    await tracer.llm({ name: 'call', input: 'raw', inputMessages: conversation() }, async () => 'raw out');
    await settle(tracer);
    const llm = memory.one('call') as StepOf<'llm'>;
    expect(llm.inputMessages?.map((m) => m.content)).toEqual([REDACTED, REDACTED, undefined, REDACTED]);
    expect([llm.input, llm.output]).toEqual(['raw', 'raw out']);
  });

  it('documents: false masks document content on retrieval and rerank', async () => {
    const { memory, tracer } = setup({ fields: { documents: false } });
    await tracer.retrieval({ name: 'search', query: 'q' }, async (step) => {
      step.update({ documents: [{ id: '1', content: 'text', score: 0.5 }] });
    });
    await settle(tracer);
    const search = memory.one('search') as StepOf<'retrieval'>;
    expect(search.documents).toEqual([{ id: '1', score: 0.5, content: REDACTED }]);
    expect(search.query).toBe('q');
  });

  it('toolArguments: false masks tool inputs, arguments and tool calls inside kept messages', async () => {
    const { memory, tracer } = setup({ fields: { toolArguments: false } });
    await tracer.tool({ name: 'lookup', input: { card: 1 }, arguments: { card: 1 } }, async () => 'found');
    await tracer.llm({ name: 'call', inputMessages: conversation() }, async () => 'x');
    await settle(tracer);
    const tool = memory.one('lookup') as StepOf<'tool'>;
    expect([tool.input, tool.arguments, tool.output]).toEqual([REDACTED, REDACTED, 'found']);
    const llm = memory.one('call') as StepOf<'llm'>;
    expect(llm.inputMessages?.[1]?.content).toBe('My card is 4111 1111 1111 1111');
    expect(llm.inputMessages?.[2]?.toolCalls).toEqual([{ id: 'c1', name: 'lookup', arguments: REDACTED }]);
  });

  it('toolResults: false masks results, tool outputs and tool messages', async () => {
    const { memory, tracer } = setup({ fields: { toolResults: false } });
    const found = await tracer.tool({ name: 'lookup', arguments: { card: 1 } }, async () => 'found');
    await tracer.llm({ name: 'call', inputMessages: conversation() }, async () => 'x');
    await settle(tracer);
    const tool = memory.one('lookup') as StepOf<'tool'>;
    expect([tool.arguments, tool.output, found]).toEqual([{ card: 1 }, REDACTED, 'found']);
    const llm = memory.one('call') as StepOf<'llm'>;
    expect(llm.inputMessages?.[3]).toEqual({ role: 'tool', toolCallId: 'c1', content: REDACTED });
    expect(llm.inputMessages?.[0]?.content).toBe('You are terse.');
  });

  it('promptVariables: false masks variable values and keeps their names', async () => {
    const { memory, tracer } = setup({ fields: { promptVariables: false } });
    await tracer.prompt({ name: 'p', variables: { user: 'Ada', plan: 'pro' } }, async (step) => {
      step.update({ text: 'Hello Ada' });
    });
    await settle(tracer);
    const prompt = memory.one('p') as StepOf<'prompt'>;
    expect(prompt.variables).toEqual({ user: REDACTED, plan: REDACTED });
    expect(prompt.text).toBe('Hello Ada');
  });
});

describe('metadata keys', () => {
  it('masks matching keys by name, path or RegExp, nested, without touching the app object', async () => {
    const { memory, tracer } = setup({ metadataKeys: ['password', 'billing.card', /token$/i] });
    const metadata = {
      user: 'ada',
      password: 'p',
      billing: { card: '4111', plan: 'pro' },
      deep: { a: { authToken: 't' } },
    };
    const before = structuredClone(metadata);
    await tracer.custom(
      {
        name: 'job',
        metadata,
        attributes: { 'app.refresh_token': 'r', 'app.region': 'eu' },
        trace: { metadata: { Password: 'x', keep: 1 } },
      },
      async () => 1,
    );
    await settle(tracer);
    const step = memory.one('job');
    expect(step.metadata).toEqual({
      user: 'ada',
      password: REDACTED,
      billing: { card: REDACTED, plan: 'pro' },
      deep: { a: { authToken: REDACTED } },
    });
    expect(step.attributes).toEqual({ 'app.refresh_token': REDACTED, 'app.region': 'eu' });
    expect(step.trace.metadata).toEqual({ Password: REDACTED, keep: 1 });
    expect(step.redacted).toEqual([
      'metadata.password',
      'metadata.billing.card',
      'metadata.deep.a.authToken',
      'attributes.app.refresh_token',
      'trace.metadata.Password',
    ]);
    expect(metadata).toEqual(before);
  });

  it('leaves keys deeper than two levels below the top alone', async () => {
    const { memory, tracer } = setup({ metadataKeys: ['secret'] });
    await tracer.custom({ name: 'job', metadata: { a: { b: { c: { secret: 's' } } } } }, async () => 1);
    await settle(tracer);
    expect(memory.one('job').metadata).toEqual({ a: { b: { c: { secret: 's' } } } });
  });
});

describe('patterns', () => {
  it('masks e-mails and API keys inside nested message content', async () => {
    const { memory, tracer } = setup({ patterns: { emails: true, apiKeys: true } });
    const inputMessages: Message[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'mail ada@example.co.uk, key sk-proj-abc123DEF456ghi789JKL' },
          { type: 'text', text: 'aws AKIAIOSFODNN7EXAMPLE gh ghp_16C7e42F292c6912E7710c838347Ae178B4a' },
          { type: 'text', text: 'curl -H "Authorization: Bearer eyJhbGciOi.payload.sig1234"' },
        ],
      },
      { role: 'assistant', content: 'nothing to see' },
    ];
    const before = structuredClone(inputMessages);
    await tracer.llm({ name: 'call', inputMessages }, async () => ({ reply: ['write to bob@corp.io'] }));
    await settle(tracer);
    const llm = memory.one('call') as StepOf<'llm'>;
    expect(llm.inputMessages?.[0]?.content).toEqual([
      { type: 'text', text: 'mail [REDACTED:email], key [REDACTED:key]' },
      { type: 'text', text: 'aws [REDACTED:key] gh [REDACTED:key]' },
      { type: 'text', text: 'curl -H "Authorization: Bearer [REDACTED:key]"' },
    ]);
    expect(llm.inputMessages?.[1]).toBe(inputMessages[1]);
    expect(llm.output).toEqual({ reply: ['write to [REDACTED:email]'] });
    expect(llm.redacted).toEqual(['inputMessages', 'output']);
    expect(inputMessages).toEqual(before);
  });

  it('applies custom patterns and survives circular values', async () => {
    const { memory, tracer } = setup({ patterns: { custom: [/\b\d{4}(?: \d{4}){3}\b/] } });
    const input: Record<string, unknown> = { card: 'pay with 4111 1111 1111 1111 or 5500 0000 0000 0004' };
    input.self = input;
    await tracer.custom({ name: 'pay', input }, async () => 'ok');
    await settle(tracer);
    expect(memory.one('pay').input).toEqual({
      card: 'pay with [REDACTED] or [REDACTED]',
      self: '[Circular]',
    });
    expect(input.card).toContain('4111');
  });
});

describe('custom mask functions', () => {
  it('apply to kept content fields', async () => {
    const { memory, tracer } = setup({
      mask: (value, field) =>
        field === 'input' && typeof value === 'string' ? value.replace(/\d/g, '#') : value,
    });
    await tracer.custom({ name: 'job', input: 'pin 1234' }, async () => 'out 99');
    await settle(tracer);
    const step = memory.one('job');
    expect([step.input, step.output, step.redacted]).toEqual(['pin ####', 'out 99', ['input']]);
  });

  it('fail closed: a throwing masker yields the marker and is reported without the value', async () => {
    const reports: InternalErrorReport[] = [];
    setErrorHandler((r) => reports.push(r));
    const { memory, tracer } = setup(
      {
        mask: (value) => {
          throw new Error(`cannot mask ${String(value)}`);
        },
      },
      { onError: (r) => reports.push(r) },
    );
    const result = await tracer.custom(
      { name: 'job', input: 'raw-secret-value' },
      async () => 'raw-output-value',
    );
    await settle(tracer);
    expect(result).toBe('raw-output-value');
    const step = memory.one('job');
    expect([step.input, step.output, step.status]).toEqual([REDACTED, REDACTED, 'ok']);
    expect(JSON.stringify(step)).not.toContain('raw-');
    const mine = reports.filter((r) => r.source === 'middleware:redact.mask');
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine[0]?.message).toContain('"input"');
    for (const r of mine) expect(`${r.message} ${String((r.error as Error).message)}`).not.toContain('raw-');
  });
});

describe('the redact() middleware', () => {
  it('masks fields present at start before plugins see them in onStart', async () => {
    const seenAtStart: unknown[] = [];
    const spy: Plugin = {
      name: 'spy',
      onStart: (step: Step) => seenAtStart.push(JSON.parse(JSON.stringify({ input: step.input }))),
      onEnd: () => {},
    };
    const { tracer } = setup({ input: false }, { plugins: [spy] });
    await tracer.custom({ name: 'job', input: { ssn: '123' } }, async () => 1);
    await settle(tracer);
    expect(seenAtStart).toEqual([{ input: REDACTED }]);
  });

  it('masks streamed output once the stream was consumed', async () => {
    const { memory, tracer } = setup({ output: false });
    const stream = await tracer.llm({ name: 'stream' }, async () =>
      (async function* () {
        yield 'secret ';
        yield 'tokens';
      })(),
    );
    const chunks: string[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    await settle(tracer);
    expect(chunks.join('')).toBe('secret tokens');
    const step = memory.one('stream');
    expect(step.output).toBe(REDACTED);
    expect(step.stream?.state).toBe('completed');
  });

  it('masks what the run set even when the function throws, and rethrows unchanged', async () => {
    const { memory, tracer } = setup({ output: false });
    const boom = new Error('boom');
    await expect(
      tracer.llm({ name: 'fails' }, async (step) => {
        step.update({ outputMessages: [{ role: 'assistant', content: 'partial' }] });
        throw boom;
      }),
    ).rejects.toBe(boom);
    await settle(tracer);
    const step = memory.one('fails') as StepOf<'llm'>;
    expect(step.outputMessages).toEqual([{ role: 'assistant', content: REDACTED }]);
    expect(step.status).toBe('error');
  });

  it('rejects bad options at construction with a clear message', () => {
    expect(() => redact({ content: 'no' } as unknown as RedactOptions)).toThrow(SpanchainError);
    expect(() => redact({ fields: { documnets: false } } as unknown as RedactOptions)).toThrow(/documnets/);
    expect(() => redact({ metadataKeys: [42] } as unknown as RedactOptions)).toThrow(/metadataKeys/);
  });
});
