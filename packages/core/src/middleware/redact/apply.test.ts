import { describe, expect, it } from 'vitest';
import type { Step, StepOf } from '../../step.js';
import { MemoryPlugin } from '../../testing/memory-plugin.js';
import { createTracer } from '../../tracer.js';
import { applyRedaction } from './apply.js';
import { REDACTED } from './options.js';
import { compileScrubber, REDACTED_EMAIL, REDACTED_KEY, scrubDeep } from './patterns.js';

/** A real step record, as a plugin receives it from a tracer without redact(). */
async function recordedStep(): Promise<StepOf<'tool'>> {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], flushOnExit: false });
  await tracer.agent({ name: 'root', trace: { input: 'question?' } }, () =>
    tracer.tool(
      {
        name: 'lookup',
        input: 'ada@example.com',
        arguments: { q: 'x' },
        metadata: { password: 'p', team: 't' },
      },
      async (step) => {
        step.update({ result: { found: 'mail bob@corp.io' } });
        return { found: 'mail bob@corp.io' };
      },
    ),
  );
  await tracer.flush();
  return memory.one('lookup') as StepOf<'tool'>;
}

describe('applyRedaction', () => {
  it('returns the step itself when the policy has nothing to do', async () => {
    const step = await recordedStep();
    expect(applyRedaction(step, {})).toBe(step);
    expect(applyRedaction(step, { content: false, kinds: ['llm'] })).toBe(step);
  });

  it('redacts a copy and leaves the original and everything it references intact', async () => {
    const step = await recordedStep();
    const snapshot = JSON.parse(JSON.stringify(step));
    const trace = step.trace;
    const copy = applyRedaction(step, { content: false, metadataKeys: ['password'] }) as StepOf<'tool'>;

    expect(copy).not.toBe(step);
    expect([copy.input, copy.arguments, copy.output, copy.result]).toEqual([
      REDACTED,
      REDACTED,
      REDACTED,
      REDACTED,
    ]);
    expect(copy.trace.input).toBe(REDACTED);
    expect(copy.metadata).toEqual({ password: REDACTED, team: 't' });
    expect(copy.redacted).toEqual([
      'input',
      'arguments',
      'output',
      'result',
      'trace.input',
      'metadata.password',
    ]);
    expect([copy.spanId, copy.traceId, copy.name]).toEqual([step.spanId, step.traceId, step.name]);

    expect(JSON.parse(JSON.stringify(step))).toEqual(snapshot);
    expect(step.trace).toBe(trace);
    expect(step.trace.input).toBe('question?');
    expect(step.redacted).toBeUndefined();
    // The copy keeps the record's toJSON, which leaves the handle's internals out.
    expect(Object.keys(JSON.parse(JSON.stringify(copy)))).not.toContain('options');
  });

  it('lets two backends receive different views of one step', async () => {
    const step = await recordedStep();
    const full = applyRedaction(step, { patterns: { emails: true } });
    const metadataOnly = applyRedaction(step, { content: false });
    expect(full.input).toBe(`${REDACTED_EMAIL}`);
    expect(full.output).toEqual({ found: `mail ${REDACTED_EMAIL}` });
    expect(metadataOnly.input).toBe(REDACTED);
    expect(metadataOnly.metadata).toBe(step.metadata);
  });

  it('honours maskInput and maskOutput with any policy', async () => {
    const step = await recordedStep();
    const inputOnly = applyRedaction(step, {}, true, false);
    expect([inputOnly.input, inputOnly.output]).toEqual([REDACTED, { found: 'mail bob@corp.io' }]);
    const outputOnly = applyRedaction(step, {}, false, true);
    expect([outputOnly.input, outputOnly.output]).toEqual(['ada@example.com', REDACTED]);
  });

  it('fails closed when a masker throws, and hands the failure to onError without the value', async () => {
    const step = await recordedStep();
    const failures: [string, string][] = [];
    const copy = applyRedaction(
      step,
      {
        mask: (value, field) => {
          if (field === 'input') throw new TypeError(`no ${String(value)}`);
          return value;
        },
      },
      false,
      false,
      (error, field) => failures.push([field, error.message]),
    );
    expect(copy.input).toBe(REDACTED);
    expect(copy.output).toEqual({ found: 'mail bob@corp.io' });
    expect(failures).toHaveLength(1);
    expect(failures[0]?.[0]).toBe('input');
    expect(failures[0]?.[1]).toContain('TypeError');
    expect(failures[0]?.[1]).not.toContain('ada@');
  });

  it('masks a field too deep to scan for patterns instead of leaking it', () => {
    let deep: Record<string, unknown> = { leaf: 'ada@example.com' };
    for (let i = 0; i < 100; i++) deep = { next: deep };
    const step = { kind: 'custom', name: 'x', input: deep, trace: {}, attributes: {} } as unknown as Step;
    const failures: string[] = [];
    const copy = applyRedaction(step, { patterns: { emails: true } }, false, false, (_e, field) =>
      failures.push(field),
    );
    expect(copy.input).toBe(REDACTED);
    expect(failures).toEqual(['input']);
  });

  it('masks each family only where asked', () => {
    const step = {
      kind: 'llm',
      name: 'call',
      trace: {},
      attributes: {},
      inputMessages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', toolCalls: [{ name: 'f', arguments: { a: 1 } }] },
      ],
      toolCalls: [{ id: '1', name: 'f', arguments: { a: 1 } }],
    } as unknown as Step;
    const copy = applyRedaction(step, { fields: { toolArguments: false } }) as StepOf<'llm'>;
    expect(copy.inputMessages).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', toolCalls: [{ name: 'f', arguments: REDACTED }] },
    ]);
    expect(copy.toolCalls).toEqual([{ id: '1', name: 'f', arguments: REDACTED }]);
    expect(copy.redacted).toEqual(['inputMessages', 'toolCalls']);
  });
});

describe('pattern scrubbing', () => {
  const keys = compileScrubber({ apiKeys: true })!;
  const emails = compileScrubber({ emails: true })!;

  it.each([
    ['OpenAI project key', 'sk-proj-abc123DEF456ghi789JKLmno'],
    ['Anthropic key', 'sk-ant-api03-abcdefghijklmnopqrstuvwx'],
    ['Langfuse key', 'pk-lf-1234567890abcdef1234'],
    ['AWS access key id', 'AKIAIOSFODNN7EXAMPLE'],
    ['GitHub token', 'ghp_16C7e42F292c6912E7710c838347Ae178B4a'],
    ['Google key', 'AIzaSyA-1234567890abcdefghijklmnopqrstu'],
    ['LangSmith key', 'lsv2_pt_0123456789abcdef0123456789abcdef'],
    ['JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N'],
  ])('masks a %s', (_name, key) => {
    expect(keys(`use ${key} now`)).toBe(`use ${REDACTED_KEY} now`);
  });

  it('keeps the name or scheme in front of a credential', () => {
    expect(keys('Authorization: Bearer abc.def-ghi_jkl')).toBe(`Authorization: Bearer ${REDACTED_KEY}`);
    expect(keys('api_key=hunter2hunter2&x=1')).toBe(`api_key=${REDACTED_KEY}&x=1`);
    expect(keys(`{"password": "it's a secret", "user": "ada"}`)).toBe(
      `{"password": "${REDACTED_KEY}", "user": "ada"}`,
    );
    expect(keys(`password='two words'`)).toBe(`password='${REDACTED_KEY}'`);
  });

  it('leaves ordinary text alone', () => {
    const text = 'ask-me-anything, sk-short, the task-management tool, mail me at noon';
    expect(keys(text)).toBe(text);
    expect(emails(text)).toBe(text);
    expect(emails('write to ada.lovelace+ai@mail.example.org.')).toBe(`write to ${REDACTED_EMAIL}.`);
  });

  it('stays fast on long adversarial strings', () => {
    const started = performance.now();
    emails(`${'a'.repeat(200_000)}@${'b.'.repeat(50_000)}`);
    keys(`sk-${'a-'.repeat(100_000)}`);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('copies only the containers on a path to a change', () => {
    const untouched = { note: 'nothing here' };
    const value = { a: untouched, b: ['x', 'ada@example.com'], c: new Map([['k', 'bob@corp.io']]) };
    const out = scrubDeep(value, emails) as typeof value;
    expect(out).not.toBe(value);
    expect(out.a).toBe(untouched);
    expect(out.b).toEqual(['x', REDACTED_EMAIL]);
    expect(out.c.get('k')).toBe(REDACTED_EMAIL);
    expect(value.b[1]).toBe('ada@example.com');
    expect(scrubDeep(untouched, emails)).toBe(untouched);
  });
});
