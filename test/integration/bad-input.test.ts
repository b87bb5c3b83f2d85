// Whatever users pass as input, output, arguments or results, tracing neither throws nor hangs,
// and what reaches a backend is JSON-ready within the budget.
import { createConsolePlugin, createTracer, limits, redact } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { describe, expect, it } from 'vitest';

class Hostile {
  get boom(): never {
    throw new Error('getter throws');
  }
  toJSON(): never {
    throw new Error('toJSON must not be called');
  }
  toString(): never {
    throw new Error('toString must not be called');
  }
}

function corpus(): [string, unknown][] {
  const circular: Record<string, unknown> = { name: 'loop' };
  circular.self = circular;
  const withCause = new Error('outer', { cause: new TypeError('inner') });
  return [
    ['circular object', circular],
    ['BigInt', 12345678901234567890n],
    ['Buffer', Buffer.alloc(1024, 1)],
    ['typed array', new Float32Array(4096)],
    ['Symbol', Symbol('s')],
    ['Map and Set', { map: new Map([['k', { v: 1 }]]), set: new Set([1, 2, 3]) }],
    ['Date', new Date(0)],
    ['class instance with hostile methods', new Hostile()],
    ['error with cause', withCause],
    ['function', () => 1],
    ['50 MB string', 'x'.repeat(50 * 1024 * 1024)],
    ['huge array', Array.from({ length: 200_000 }, (_, i) => i)],
    ['deep object', Array.from({ length: 500 }).reduce<unknown>((inner) => ({ inner }), 'bottom')],
    [
      'Proxy whose traps throw',
      new Proxy(
        {},
        {
          ownKeys: () => {
            throw new Error('trap');
          },
        },
      ),
    ],
  ];
}

describe('the bad-input corpus', () => {
  for (const [label, value] of corpus()) {
    it(`traces ${label} as input, output and tool arguments without throwing`, async () => {
      const memory = new MemoryPlugin();
      const lines: string[] = [];
      const reports: string[] = [];
      const tracer = createTracer({
        plugins: [
          memory,
          createConsolePlugin({ format: 'jsonl', stream: { write: (s: string) => lines.push(s) } }),
        ],
        use: [limits({ maxBytes: 64 * 1024 }), redact({ patterns: { emails: true, apiKeys: true } })],
        // Values redact cannot scan in full are recorded as [REDACTED] and reported here.
        onError: (report) => reports.push(report.source),
        flushOnExit: false,
      });
      const returned = await tracer.tool({ name: 'bad', input: value, arguments: value }, async () => value);
      expect(returned).toBe(value);
      await tracer.flush();
      const step = memory.one('bad');
      expect(step.status).toBe('ok');
      const json = JSON.stringify({
        input: step.input,
        output: step.output,
        args: (step as { arguments?: unknown }).arguments,
      });
      expect(json.length).toBeLessThan(300_000);
      expect(lines).toHaveLength(1);
      expect(() => JSON.parse(lines[0]!)).not.toThrow();
      for (const source of reports) expect(source).toMatch(/^middleware:redact/);
    });
  }
});
