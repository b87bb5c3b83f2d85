// Event-loop turns as the fault suite measures them: wall time between 1 ms timer ticks.

/** Longest event-loop turn while `fn` runs (1 ms timer). */
export async function longestTurn<T>(fn: () => Promise<T>): Promise<{ result: T; longest: number }> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  try {
    return { result: await fn(), longest };
  } finally {
    clearInterval(timer);
  }
}
