// The public surface of @spanchain/core: every export is named here.

export { type AttemptPlan, backoffDelay } from './attempts.js';
export { now } from './clock.js';
export { compose, forKinds, type KindScopedMiddleware, type Middleware, observer } from './compose.js';
export { contextWithStep, ensureContextManager, STEP_CONTEXT_KEY, stepSpanContext } from './context.js';
export {
  type ErrorHandler,
  ErrorReporter,
  type InternalErrorReport,
  setErrorHandler,
} from './error-handler.js';
export { ERROR_CODES, type ErrorCode, GuardrailBlockedError, SpanchainError } from './errors.js';
export type { ObserverMarker } from './execute.js';
export {
  formatTraceparent,
  isValidSpanId,
  isValidTraceId,
  newSpanId,
  newTraceId,
  normalizeTraceId,
} from './ids.js';
export { type CostOptions, CostOptionsSchema, cost } from './middleware/cost/index.js';
export {
  computeCost,
  DEFAULT_PRICES,
  findPrice,
  type ModelPrice,
  PRICES_AS_OF,
  type PriceTable,
} from './middleware/cost/prices.js';
export {
  type GuardrailAnnotation,
  type GuardrailCheck,
  type GuardrailOptions,
  GuardrailOptionsSchema,
  type GuardrailTarget,
  type GuardrailVerdict,
  guardrail,
} from './middleware/guardrail/index.js';
export {
  type LimitsOptions,
  LimitsOptionsSchema,
  limits,
  SerializeLimitsSchema,
} from './middleware/limits/index.js';
export {
  applyRedaction,
  type MaskFunction,
  REDACTED,
  REDACTED_EMAIL,
  REDACTED_KEY,
  type RedactOptions,
  RedactOptionsSchema,
  redact,
} from './middleware/redact/index.js';
export {
  type FallbackOptions,
  FallbackOptionsSchema,
  fallback,
  type RetryOptions,
  RetryOptionsSchema,
  retry,
} from './middleware/retry/index.js';
export {
  type ResolvedSampleOptions,
  resolveSampleOptions,
  type SampleMiddleware,
  type SampleOptions,
  SampleOptionsSchema,
  type SampleStats,
  sample,
} from './middleware/sample/index.js';
export { isTraceSampled } from './middleware/sample/ratio.js';
export type { TailCounters } from './middleware/sample/tail-buffer.js';
export {
  envBoolean,
  envError,
  envInteger,
  envList,
  envString,
  parseOptions,
  type ResolvedTracerOptions,
  type TracerOptions,
  TracerOptionsSchema,
} from './options.js';
export {
  type FlushReport,
  type HookOptions,
  isPlugin,
  type Plugin,
  type PluginContext,
  type PluginCounters,
  type PluginFactory,
  type PluginStats,
  type RemoteParent,
} from './plugin.js';
export { pluginPackageName, resolvePluginPackage } from './plugin-loader.js';
export {
  type ConsolePlugin,
  type ConsolePluginOptions,
  ConsolePluginOptionsSchema,
  type ConsoleStats,
  type ConsoleStream,
  createConsolePlugin,
  type RenderOptions,
  renderTraceTree,
  resolveConsoleOptions,
} from './plugins/console/index.js';
export type { HeaderCarrier } from './propagation.js';
export { registerSecret, scrubSecrets } from './secrets.js';
export {
  type Budgets,
  budgetsOf,
  cutText,
  isBinary,
  keysOf,
  ListBudget,
  type RecordKeys,
  textOf,
} from './serialize/budgets.js';
export {
  DEFAULT_SERIALIZE_LIMITS,
  type JsonValue,
  resolveLimits,
  type Serialized,
  type SerializeLimits,
  safeStringify,
  toJsonSafe,
} from './serialize/index.js';
export {
  type AgentFields,
  type AttemptInfo,
  type AttemptsInfo,
  type Attributes,
  type AttributeValue,
  type ContentPart,
  type Cost,
  type Document,
  type EmbeddingFields,
  type GuardrailDecision,
  type GuardrailFields,
  type Identity,
  type LlmFields,
  type LlmParams,
  type Message,
  type MessageRole,
  type ModelFields,
  type PromptFields,
  type RerankFields,
  type RetrievalFields,
  STEP_KINDS,
  type Step,
  type StepCommon,
  type StepError,
  type StepEvent,
  type StepKind,
  type StepKindFields,
  type StepOf,
  type StepStatus,
  type StepUpdate,
  type StreamInfo,
  type StreamState,
  type ToolCall,
  type ToolDefinition,
  type ToolFields,
  TRACE_KEYS,
  type TraceFields,
  type TraceKey,
  type Usage,
} from './step.js';
export { toIdentity } from './step-factory.js';
export {
  type Fallback,
  type IdentityInput,
  type ParentInput,
  type RetryPolicy,
  type StepOptions,
  type StepOptionsBase,
  StepOptionsSchema,
} from './step-options.js';
export {
  type ActiveStep,
  type AllKindFields,
  type MiddlewareControls,
  type MiddlewareStep,
  type StepHandle,
  toStepError,
} from './step-record.js';
export { createTracer, Tracer, type TracerStats } from './tracer.js';
