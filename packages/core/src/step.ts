/**
 * The step model: one typed record per pipeline step. Backends map this record to their own
 * vocabulary; the core never flattens it into attributes.
 */

/** Every kind of step spanchain knows. The kind is data on the step, not a separate API. */
export const STEP_KINDS = [
  'agent',
  'chain',
  'retrieval',
  'prompt',
  'llm',
  'tool',
  'embedding',
  'rerank',
  'guardrail',
  'custom',
] as const;

export type StepKind = (typeof STEP_KINDS)[number];

export type StepStatus = 'unset' | 'ok' | 'error';

/** Attribute values as OpenTelemetry accepts them. */
export type AttributeValue = string | number | boolean | string[] | number[] | boolean[];
export type Attributes = Record<string, AttributeValue>;

/** A recorded error: the thrown value is rethrown unchanged, this is what the step keeps of it. */
export interface StepError {
  /** Constructor name (`TypeError`, `RateLimitError`) or `typeof` for non-errors. */
  type: string;
  message: string;
  stack?: string;
  /** `error.code` when it is a string or number (`ECONNRESET`, 429). */
  code?: string | number;
  cause?: StepError;
}

export interface StepEvent {
  /** `first-token`, `retry`, `fallback`, `guardrail-block`, … */
  name: string;
  /** Epoch milliseconds with sub-millisecond precision. */
  time: number;
  attributes?: Attributes;
}

// ---------------------------------------------------------------------------------------------
// Shared pieces of kind-specific data

export type MessageRole = 'system' | 'user' | 'assistant' | 'tool' | (string & {});

export interface TextPart {
  type: 'text';
  text: string;
}
export interface ImagePart {
  type: 'image';
  url?: string;
  mimeType?: string;
}
export interface GenericPart {
  type: string;
  [key: string]: unknown;
}
export type ContentPart = TextPart | ImagePart | GenericPart;

export interface ToolCall {
  id?: string;
  name: string;
  arguments?: unknown;
}

export interface Message {
  role: MessageRole;
  content?: string | ContentPart[];
  name?: string;
  toolCalls?: ToolCall[];
  /** For `role: 'tool'`: the call this message answers. */
  toolCallId?: string;
  finishReason?: string;
}

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON schema of the arguments. */
  parameters?: unknown;
  type?: string;
}

/** Token usage. `inputTokens` includes cached tokens and `outputTokens` includes reasoning tokens. */
export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  /** Input tokens served from the provider's prompt cache (a part of `inputTokens`). */
  cachedInputTokens?: number;
  /** Input tokens written to the provider's prompt cache (a part of `inputTokens`). */
  cacheCreationInputTokens?: number;
  /** Reasoning tokens (a part of `outputTokens`). */
  reasoningTokens?: number;
}

export interface Cost {
  input?: number;
  output?: number;
  total: number;
  /** ISO 4217 code; the built-in price table is in USD. */
  currency: string;
}

export interface LlmParams {
  temperature?: number;
  topP?: number;
  topK?: number;
  maxTokens?: number;
  stopSequences?: string[];
  frequencyPenalty?: number;
  presencePenalty?: number;
  seed?: number;
  choiceCount?: number;
  [key: string]: unknown;
}

export interface Document {
  id?: string;
  content?: string;
  score?: number;
  metadata?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Kind-specific fields

export interface ModelFields {
  /** Provider as GenAI conventions name it: `openai`, `anthropic`, `aws.bedrock`, … */
  provider?: string;
  /** The model requested. */
  model?: string;
  /** The model that answered (`gpt-4o-2024-08-06`). */
  responseModel?: string;
  serverAddress?: string;
  serverPort?: number;
}

export interface LlmFields extends ModelFields {
  params?: LlmParams;
  systemInstructions?: string | ContentPart[];
  inputMessages?: Message[];
  outputMessages?: Message[];
  tools?: ToolDefinition[];
  toolCalls?: ToolCall[];
  usage?: Usage;
  cost?: Cost;
  finishReasons?: string[];
  responseId?: string;
  /** Milliseconds from the step's start to the first streamed chunk. */
  timeToFirstTokenMs?: number;
  /** Prompt this call was built from (links the generation to a managed prompt). */
  promptName?: string;
  promptVersion?: string | number;
}

export interface RetrievalFields {
  query?: string;
  documents?: Document[];
  topK?: number;
  /** The store or index searched (`kb`, `pinecone:docs`). */
  dataSource?: string;
}

export interface ToolFields {
  toolName?: string;
  toolCallId?: string;
  toolDescription?: string;
  /** `function`, `extension`, `datastore`. */
  toolType?: string;
  arguments?: unknown;
  result?: unknown;
}

export interface PromptFields {
  templateName?: string;
  templateVersion?: string | number;
  template?: string | Message[];
  variables?: Record<string, unknown>;
  /** The rendered result. */
  messages?: Message[];
  text?: string;
}

export type GuardrailDecision = 'pass' | 'block' | 'annotate';

export interface GuardrailFields {
  guardrailName?: string;
  decision?: GuardrailDecision;
  reason?: string;
  /** What was checked. */
  target?: 'input' | 'output';
}

export interface EmbeddingFields extends ModelFields {
  dimensions?: number;
  /** How many texts were embedded. */
  count?: number;
  texts?: string[];
  usage?: Usage;
  cost?: Cost;
}

export interface RerankFields extends ModelFields {
  query?: string;
  /** The documents given to the reranker. */
  documents?: Document[];
  /** The documents it returned, best first, with their new scores. */
  rerankedDocuments?: Document[];
  topN?: number;
}

export interface AgentFields {
  agentName?: string;
  agentId?: string;
  agentDescription?: string;
}

type NoFields = {};

/** Kind → its own fields. Plugins may add kinds' fields by declaration merging. */
export interface StepKindFields {
  agent: AgentFields;
  chain: NoFields;
  retrieval: RetrievalFields;
  prompt: PromptFields;
  llm: LlmFields;
  tool: ToolFields;
  embedding: EmbeddingFields;
  rerank: RerankFields;
  guardrail: GuardrailFields;
  custom: NoFields;
}

// ---------------------------------------------------------------------------------------------
// Trace-level fields and identity

/** Fields a backend shows on the trace as a whole. */
export interface TraceFields {
  name?: string;
  userId?: string;
  sessionId?: string;
  tags?: string[];
  metadata?: Record<string, unknown>;
  input?: unknown;
  output?: unknown;
  environment?: string;
  release?: string;
  version?: string;
}

export const TRACE_KEYS = [
  'name',
  'userId',
  'sessionId',
  'tags',
  'metadata',
  'input',
  'output',
  'environment',
  'release',
  'version',
] as const;
export type TraceKey = (typeof TRACE_KEYS)[number];

/** Who ran the step. Never the API key itself: only an alias and a hash of it. */
export interface Identity {
  team?: string;
  keyAlias?: string;
  /** `sha256:` + hex of the key. */
  keyHash?: string;
  [key: string]: string | undefined;
}

/** How a streamed step ended. */
export type StreamState = 'open' | 'completed' | 'cancelled' | 'error' | 'not-consumed';

export interface StreamInfo {
  state: StreamState;
  chunks: number;
  /** Epoch ms of the first chunk. */
  firstChunkTime?: number;
}

/**
 * Retry and fallback bookkeeping on a step run with a retry policy or fallbacks. Such a step is a
 * container: each attempt runs as a child step of the same kind carrying `attempt`.
 */
export interface AttemptsInfo {
  /** Retries made (attempts after the first on the primary). */
  retries: number;
  maxRetries: number;
  /** Fallbacks tried. */
  fallbacks: number;
}

/** Set on the child step of each attempt. */
export interface AttemptInfo {
  /** 0 for the first attempt, then 1, 2, … across retries and fallbacks. */
  number: number;
  /** Name of the fallback (its model or function name) when this attempt is a fallback. */
  fallback?: string;
}

// ---------------------------------------------------------------------------------------------
// The record

/** What every step carries, whatever its kind. */
export interface StepCommon<K extends StepKind = StepKind> {
  readonly kind: K;
  name: string;
  /** 32 lowercase hex characters. */
  readonly traceId: string;
  /** 16 lowercase hex characters. */
  readonly spanId: string;
  /** Parent span id, when the step has a parent (local or remote). */
  readonly parentSpanId?: string;
  /**
   * Span id of the nearest enclosing spanchain step in this process. Equal to `parentSpanId`
   * when the parent is a step; different when an app span sits between them (step → app span →
   * step); undefined when no step encloses this one.
   */
  readonly parentStepId?: string;
  /** The parent is in another process (extracted from headers) or was named by `existingTraceId`. */
  readonly parentIsRemote: boolean;
  /** W3C trace flags (bit 0: sampled). */
  traceFlags: number;
  traceState?: string;
  /** Whether plugins receive this step. */
  sampled: boolean;
  /** Epoch ms with sub-millisecond precision. */
  readonly startTime: number;
  /** Epoch ms; undefined while the step runs. */
  endTime?: number;
  status: StepStatus;
  error?: StepError;
  input?: unknown;
  output?: unknown;
  metadata?: Record<string, unknown>;
  tags?: string[];
  /** Trace-level fields, inherited by every descendant. */
  trace: TraceFields;
  /** The trace fields this run may write to the backend's trace. All of them for a new trace. */
  traceKeys: readonly TraceKey[];
  /** Team and key identity, inherited by every descendant. */
  identity?: Identity;
  events: StepEvent[];
  attributes: Attributes;
  /** Fields replaced by redaction (`input`, `inputMessages`, `metadata.password`, …). */
  redacted?: string[];
  /** Fields cut to the payload budget. */
  truncated?: string[];
  stream?: StreamInfo;
  attempts?: AttemptsInfo;
  attempt?: AttemptInfo;
  /** Service that produced the step. */
  serviceName: string;
}

/** A step record of one kind: the common fields plus the kind's own. */
export type StepOf<K extends StepKind> = StepCommon<K> & StepKindFields[K];

/** A step record, discriminated by `kind`. This is what plugins receive. */
export type Step = { [K in StepKind]: StepOf<K> }[StepKind];

/** Fields a running step may update. */
export type StepUpdate<K extends StepKind = StepKind> = Partial<StepKindFields[K]> & {
  name?: string;
  input?: unknown;
  output?: unknown;
  metadata?: Record<string, unknown>;
  tags?: string[];
  attributes?: Attributes;
};
