import { getContextVariable, registerConfigureHook, setContextVariable } from '@langchain/core/context';
import type { Tracer } from '@spanchain/core';
import { SpanchainCallbackHandler } from './handler.js';
import type { LangChainHandlerOptions } from './options.js';

/** The LangChain context variable that holds the globally enabled handler. */
export const LANGCHAIN_CONTEXT_VARIABLE = 'spanchain_langchain_handler';

/** What `enableLangChainTracing` returns: call it to disable; `.handler` is the handler in use. */
export interface LangChainTracingDisable {
  (): void;
  readonly handler: SpanchainCallbackHandler;
}

const HOOK_REGISTERED = Symbol.for('spanchain:langchain-hook-registered');

/**
 * Traces every LangChain run started after this call, with no `callbacks` passed, through
 * LangChain's configure hooks. Returns a function that disables it.
 *
 * LangChain keeps configure hooks and their handler in its AsyncLocalStorage (set with
 * `enterWith`), so this applies to the code that runs after the call in the same async flow:
 * call it at the top level of your entry module, before the code that runs chains.
 *
 * @example
 * const disable = enableLangChainTracing(tracer);
 * await chain.invoke(input); // traced
 * disable();
 */
export function enableLangChainTracing(
  tracer: Tracer,
  options?: LangChainHandlerOptions,
): LangChainTracingDisable {
  const handler = new SpanchainCallbackHandler(tracer, options);
  // The hook list lives in the same context store; registering it twice would only add a
  // duplicate lookup (LangChain adds one handler per name), but once is enough.
  if (getContextVariable(HOOK_REGISTERED) !== true) {
    registerConfigureHook({ contextVar: LANGCHAIN_CONTEXT_VARIABLE, inheritable: true });
    setContextVariable(HOOK_REGISTERED, true);
  }
  const previous = getContextVariable<SpanchainCallbackHandler>(LANGCHAIN_CONTEXT_VARIABLE);
  previous?.stop();
  setContextVariable(LANGCHAIN_CONTEXT_VARIABLE, handler);
  const disable = () => {
    // stop() reaches every async flow that still holds the handler; clearing the variable only
    // this one (and those that start from it).
    handler.stop();
    if (getContextVariable(LANGCHAIN_CONTEXT_VARIABLE) === handler)
      setContextVariable(LANGCHAIN_CONTEXT_VARIABLE, undefined);
  };
  return Object.assign(disable, { handler }) as LangChainTracingDisable;
}
