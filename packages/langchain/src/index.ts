// The public surface of @spanchain/langchain: every export is named here.

export {
  enableLangChainTracing,
  LANGCHAIN_CONTEXT_VARIABLE,
  type LangChainTracingDisable,
} from './enable.js';
export { type LangChainHandlerStats, LangChainRunEvictedError, SpanchainCallbackHandler } from './handler.js';
export {
  type LangChainHandlerOptions,
  LangChainHandlerOptionsSchema,
  type ResolvedLangChainHandlerOptions,
  resolveHandlerOptions,
  SPANCHAIN_METADATA_KEY,
  type SpanchainRunOptions,
} from './options.js';
