/**
 * One table of error codes; every error spanchain throws at configuration time is a
 * `SpanchainError` with one of these codes, a message that says what to do, and the `cause`.
 */
export const ERROR_CODES = {
  INVALID_OPTIONS: 'An option object or environment variable failed validation.',
  PLUGIN_NOT_INSTALLED: 'A plugin named by string is not installed.',
  PLUGIN_LOAD_FAILED: 'A plugin package was found but could not be loaded or created.',
  INVALID_PLUGIN: 'A plugin object does not follow the plugin contract.',
  NEXT_CALLED_MULTIPLE_TIMES: 'A middleware called next() more than once.',
  GUARDRAIL_BLOCKED: 'A guardrail blocked the step.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const BRAND = Symbol.for('spanchain.error');

/**
 * Base error for everything spanchain throws on purpose.
 *
 * @example
 * try { createTracer({ plugins: [42] }) } catch (e) { if (SpanchainError.isInstance(e)) e.code }
 */
export class SpanchainError extends Error {
  readonly code: ErrorCode;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpanchainError';
    this.code = code;
  }

  /** True for any spanchain error, also across duplicate copies of this package. */
  static isInstance(value: unknown): value is SpanchainError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Thrown (or rejected) when a guardrail blocks a step; carries the guardrail's decision. */
export class GuardrailBlockedError extends SpanchainError {
  readonly guardrail: string;
  readonly reason: string | undefined;

  constructor(guardrail: string, reason?: string) {
    super('GUARDRAIL_BLOCKED', `Guardrail "${guardrail}" blocked the step${reason ? `: ${reason}` : ''}.`);
    this.name = 'GuardrailBlockedError';
    this.guardrail = guardrail;
    this.reason = reason;
  }
}
