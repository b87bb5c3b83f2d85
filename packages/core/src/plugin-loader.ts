import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ErrorReporter } from './error-handler.js';
import { SpanchainError } from './errors.js';
import { type HookOptions, isPlugin, type Plugin, type PluginFactory, type RemoteParent } from './plugin.js';
import type { Step } from './step.js';

/** `otel` → `@spanchain/otel`; a scoped or path-like name is taken as it is. */
export function pluginPackageName(name: string): string {
  return name.startsWith('@') || name.includes('/') ? name : `@spanchain/${name}`;
}

/**
 * Finds an installed plugin package, looking from the app (the working directory) first, then
 * from spanchain itself. Throws `PLUGIN_NOT_INSTALLED` with the install command.
 */
export function resolvePluginPackage(name: string, from: string = process.cwd()): string {
  const packageName = pluginPackageName(name);
  const bases = [join(from, 'package.json'), import.meta.url];
  for (const base of bases) {
    try {
      return createRequire(base).resolve(packageName);
    } catch {
      // try the next base
    }
  }
  throw new SpanchainError(
    'PLUGIN_NOT_INSTALLED',
    `Plugin "${name}" needs the package ${packageName}, which is not installed. Install it with \`npm install ${packageName}\` (or pnpm add / yarn add), or pass a plugin object instead of a name.`,
  );
}

async function importPlugin(name: string, path: string): Promise<Plugin> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (cause) {
    throw new SpanchainError('PLUGIN_LOAD_FAILED', `Plugin package for "${name}" failed to load.`, { cause });
  }
  const factory = (module.createPlugin ?? module.default) as PluginFactory | undefined;
  if (typeof factory !== 'function') {
    throw new SpanchainError(
      'PLUGIN_LOAD_FAILED',
      `Plugin package for "${name}" exports neither createPlugin() nor a default factory.`,
    );
  }
  const plugin = factory();
  if (!isPlugin(plugin)) {
    throw new SpanchainError(
      'INVALID_PLUGIN',
      `createPlugin() of "${name}" did not return a plugin ({ name, onEnd }).`,
    );
  }
  return plugin;
}

/**
 * Stands in for a plugin named by string while its package loads: steps that end meanwhile are
 * kept (up to `limit`, then dropped and counted) and handed over once it is ready.
 */
export class DeferredPlugin implements Plugin {
  readonly name: string;
  readonly ready: Promise<Plugin | undefined>;
  private target: Plugin | undefined;
  private pending: Step[] = [];
  private droppedWhileLoading = 0;

  constructor(
    name: string,
    path: string,
    private readonly limit: number,
    errors: ErrorReporter,
  ) {
    this.name = name;
    this.ready = importPlugin(name, path).then(
      (plugin) => {
        this.target = plugin;
        try {
          plugin.attach?.({ errors });
        } catch (error) {
          errors.report(`plugin:${name}.attach`, error);
        }
        const pending = this.pending;
        this.pending = [];
        for (const step of pending) {
          try {
            plugin.onEnd(step);
          } catch (error) {
            errors.report(`plugin:${name}.onEnd`, error);
          }
        }
        return plugin;
      },
      (error: unknown) => {
        errors.report(`plugin:${name}.load`, error);
        this.droppedWhileLoading += this.pending.length;
        this.pending = [];
        return undefined;
      },
    );
  }

  get loaded(): Plugin | undefined {
    return this.target;
  }

  onStart(step: Step): void {
    this.target?.onStart?.(step);
  }

  inject(step: Step, headers: Record<string, string>): void {
    this.target?.inject?.(step, headers);
  }

  extract(get: (name: string) => string | undefined, current?: RemoteParent): RemoteParent | undefined {
    return this.target?.extract?.(get, current);
  }

  onEnd(step: Step): void {
    if (this.target) this.target.onEnd(step);
    else if (this.pending.length < this.limit) this.pending.push(step);
    else this.droppedWhileLoading++;
  }

  async flush(options: HookOptions): Promise<unknown> {
    const plugin = await this.ready;
    return plugin?.flush?.(options);
  }

  async shutdown(options: HookOptions): Promise<unknown> {
    const plugin = await this.ready;
    // The tracer skips the flush of plugins with a shutdown hook: deliver here either way.
    return plugin?.shutdown ? plugin.shutdown(options) : plugin?.flush?.(options);
  }

  stats() {
    const own = this.target?.stats?.() ?? {};
    const dropped = { ...own.dropped };
    if (this.droppedWhileLoading > 0) dropped['plugin-loading'] = this.droppedWhileLoading;
    return { ...own, queued: (own.queued ?? 0) + this.pending.length, dropped };
  }
}
