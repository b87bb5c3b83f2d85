// Heap readings after a full GC, for in-process tests (the child app uses --expose-gc instead).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | undefined | null = null;

/** V8's gc(), exposed at run time; undefined where that is not allowed. */
export function gc(): (() => void) | undefined {
  if (gcFn !== null) return gcFn;
  gcFn = (globalThis as { gc?: () => void }).gc;
  if (gcFn === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = undefined;
    }
  }
  return gcFn;
}

/** heapUsed in MiB after two full collections (or as it is, when gc is not available). */
export async function heapMiB(): Promise<number> {
  const collect = gc();
  if (collect) {
    collect();
    await new Promise((resolve) => setImmediate(resolve));
    collect();
  }
  return process.memoryUsage().heapUsed / 2 ** 20;
}
