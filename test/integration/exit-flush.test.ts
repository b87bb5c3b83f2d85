// A process that simply ends (no explicit flush) still flushes its plugins once, on beforeExit.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

const script = `
import { createTracer } from '@spanchain/core';
let received = 0;
const plugin = {
  name: 'exit-probe',
  onEnd() { received++; },
  async flush() { process.stdout.write('flushed ' + received + '\\n'); },
};
const tracer = createTracer({ plugins: [plugin] });
await tracer.chain('root', async () => {
  await tracer.tool('child', async () => 1);
});
// No flush, no shutdown: the event loop empties and the process would just exit.
`;

describe('flush on exit', () => {
  it('flushes once when the event loop empties, and the process still exits', async () => {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('.', import.meta.url).pathname,
      timeout: 10_000,
    });
    expect(stdout.trim().split('\n')).toEqual(['flushed 2']);
  });

  it('does not flush on exit when flushOnExit is false', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        script.replace('plugins: [plugin]', 'plugins: [plugin], flushOnExit: false'),
      ],
      { cwd: new URL('.', import.meta.url).pathname, timeout: 10_000 },
    );
    expect(stdout).toBe('');
  });
});
