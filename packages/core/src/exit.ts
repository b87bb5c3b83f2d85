/**
 * One `beforeExit` listener for every tracer (so many tracers never trip the max-listeners
 * warning). `beforeExit` fires when the event loop empties; a flush that schedules work makes it
 * fire again, which is why each tracer flushes only when something ended since its last flush.
 */
const callbacks = new Set<() => Promise<void>>();
let listening = false;

function onEmptyLoop(): void {
  for (const callback of callbacks) {
    callback().catch(() => {});
  }
}

export function onBeforeExit(callback: () => Promise<void>): () => void {
  callbacks.add(callback);
  if (!listening) {
    listening = true;
    process.on('beforeExit', onEmptyLoop);
  }
  return () => {
    callbacks.delete(callback);
    if (callbacks.size === 0 && listening) {
      listening = false;
      process.off('beforeExit', onEmptyLoop);
    }
  };
}
