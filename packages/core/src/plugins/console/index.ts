import type { Plugin } from '../../plugin.js';

// Placeholder replaced in this same change by the real waterfall renderer.
export function createConsolePlugin(): Plugin {
  return { name: 'console', onEnd() {} };
}
