import type { StepError } from './step.js';

const MAX_CAUSE_DEPTH = 5;
const MAX_STACK = 16_384;

/** An Error, or an object with a `message`; false for a proxy whose traps throw when asked. */
function isErrorLike(error: unknown): error is Error {
  try {
    return error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error);
  } catch {
    return false;
  }
}

/**
 * What a step keeps of a thrown value. Never calls user code beyond reading properties, and never
 * throws: a getter or proxy trap that throws leaves that part out (this runs where a throw would
 * replace the app's own error, or become an unhandled rejection).
 */
export function toStepError(error: unknown, depth = 0): StepError {
  if (isErrorLike(error)) {
    const e = error as Error & { code?: unknown; cause?: unknown };
    let type = 'Error';
    try {
      type = (typeof e.name === 'string' && e.name !== 'Error' ? e.name : e.constructor?.name) || 'Error';
    } catch {}
    const out: StepError = { type, message: '' };
    try {
      if (typeof e.message === 'string') out.message = e.message;
    } catch {}
    try {
      if (typeof e.stack === 'string')
        out.stack = e.stack.length > MAX_STACK ? e.stack.slice(0, MAX_STACK) : e.stack;
      if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
      if (e.cause !== undefined && depth < MAX_CAUSE_DEPTH) out.cause = toStepError(e.cause, depth + 1);
    } catch {}
    return out;
  }
  if (typeof error === 'string') return { type: 'string', message: error.slice(0, MAX_STACK) };
  return { type: error === null ? 'null' : typeof error, message: '' };
}
