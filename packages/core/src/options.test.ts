import { afterEach, describe, expect, it } from 'vitest';
import { SpanchainError } from './errors.js';
import { envBoolean, envError, envInteger, envList, envString, resolveTracerOptions } from './options.js';
import { createTracer } from './tracer.js';

function configError(fn: () => unknown): SpanchainError {
  try {
    fn();
  } catch (error) {
    if (SpanchainError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a configuration error');
}

describe('tracer options', () => {
  it('names the bad option, the value and what was expected', () => {
    const error = configError(() => createTracer({ plugins: [42 as never] }));
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toContain('plugins.0');
    expect(error.message).toContain('got 42');
  });

  it('rejects unknown options', () => {
    const error = configError(() => createTracer({ servicename: 'typo' } as never));
    expect(error.message).toMatch(/servicename/);
  });

  it('rejects a non-function middleware', () => {
    expect(configError(() => createTracer({ use: ['redact' as never] })).message).toContain('use.0');
  });

  it('masks values of credential-like options in messages', async () => {
    const { parseOptions } = await import('./options.js');
    const { z } = await import('zod');
    const schema = z.object({ apiKey: z.string().min(40) });
    const error = configError(() => parseOptions(schema, { apiKey: 'sk-short-but-secret' }, 'test options'));
    expect(error.message).toContain('apiKey');
    expect(error.message).not.toContain('sk-short-but-secret');
  });

  it('takes option over environment over default', () => {
    expect(resolveTracerOptions({}, {}).serviceName).toBe('spanchain');
    expect(resolveTracerOptions({}, { OTEL_SERVICE_NAME: 'from-env' }).serviceName).toBe('from-env');
    expect(
      resolveTracerOptions({ serviceName: 'explicit' }, { OTEL_SERVICE_NAME: 'from-env' }).serviceName,
    ).toBe('explicit');
    expect(resolveTracerOptions({}, { SPANCHAIN_PLUGINS: 'console, otel' }).plugins).toEqual([
      'console',
      'otel',
    ]);
    expect(resolveTracerOptions({ plugins: [] }, { SPANCHAIN_PLUGINS: 'console' }).plugins).toEqual([]);
    expect(resolveTracerOptions({}, { SPANCHAIN_ENABLED: 'false' }).enabled).toBe(false);
  });

  it('rejects a malformed boolean environment variable', () => {
    expect(configError(() => resolveTracerOptions({}, { SPANCHAIN_ENABLED: 'maybe' })).message).toContain(
      'SPANCHAIN_ENABLED',
    );
  });
});

describe('plugins by name', () => {
  afterEach(() => {
    delete (globalThis as Record<string, unknown>).__spanchainTestPlugin;
  });

  it('says what to install when a plugin package is missing', () => {
    const error = configError(() => createTracer({ plugins: ['langfuse-not-here'] }));
    expect(error.code).toBe('PLUGIN_NOT_INSTALLED');
    expect(error.message).toContain('npm install @spanchain/langfuse-not-here');
  });

  it('resolves the built-in console plugin by name', () => {
    const tracer = createTracer({ plugins: ['console'], flushOnExit: false });
    expect(tracer.plugins().map((p) => p.name)).toEqual(['console']);
  });

  it('loads an installed @spanchain/<name> package and hands it the steps that ended while it loaded', async () => {
    const tracer = createTracer({ plugins: ['test-plugin'], flushOnExit: false });
    tracer.tool('early', () => 1);
    await tracer.flush();
    tracer.tool('late', () => 2);
    // The loaded plugin brought a middleware, so the step is delivered once its chain settles.
    await tracer.flush();
    expect((globalThis as Record<string, unknown>).__spanchainTestPlugin).toEqual(['early', 'late']);
  });

  it('adds a named plugin’s middleware once it has loaded', async () => {
    const { MemoryPlugin } = await import('./testing/index.js');
    const memory = new MemoryPlugin();
    const tracer = createTracer({ plugins: ['test-plugin', memory], flushOnExit: false });
    await tracer.flush();
    await tracer.tool('after-load', async () => 1);
    expect(memory.one('after-load').attributes).toEqual({ 'test-plugin.middleware': true });
  });

  it('reads SPANCHAIN_PLUGINS when no plugins option is given', () => {
    const previous = process.env.SPANCHAIN_PLUGINS;
    process.env.SPANCHAIN_PLUGINS = 'console';
    try {
      expect(
        createTracer({ flushOnExit: false })
          .plugins()
          .map((p) => p.name),
      ).toEqual(['console']);
    } finally {
      if (previous === undefined) delete process.env.SPANCHAIN_PLUGINS;
      else process.env.SPANCHAIN_PLUGINS = previous;
    }
  });
});

describe('environment readers for plugin packages', () => {
  const env = { S: '  value ', E: '   ', N: '42', BAD: '4.5', BIG: '99999', B: 'Yes', L: 'a, b,,c' };

  it('read strings, integers, booleans and lists, empty counting as unset', () => {
    expect(envString('S', env)).toBe('value');
    expect(envString('E', env)).toBeUndefined();
    expect(envString('MISSING', env)).toBeUndefined();
    expect(envInteger('N', 1, 100, env)).toBe(42);
    expect(envInteger('MISSING', 1, 100, env)).toBeUndefined();
    expect(envBoolean('B', env)).toBe(true);
    expect(envList('L', env)).toEqual(['a', 'b', 'c']);
  });

  it('fail with the variable’s name and what was expected', () => {
    expect(configError(() => envInteger('BAD', 1, 100, env)).message).toBe(
      'Invalid environment variable BAD: expected an integer from 1 to 100 (got "4.5")',
    );
    expect(configError(() => envInteger('BIG', 1, 100, env)).message).toContain('BIG');
    const error = envError('SECRET_KEY', 'a key starting with sk-');
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toBe('Invalid environment variable SECRET_KEY: expected a key starting with sk-');
  });
});
