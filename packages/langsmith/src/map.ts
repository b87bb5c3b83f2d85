/**
 * Step → LangSmith run (CONTRACTS §4.1, §4.3, §6): run type, inputs and outputs as objects in the
 * shapes LangSmith renders (OpenAI-style chat messages, LangChain documents), `usage_metadata`,
 * `extra.metadata` with the `ls_*` keys, thread, user and identity, events, tags and error. A pure
 * function of the step and its link (links.ts); the plugin adds the project per destination.
 */
import {
  type Budgets,
  budgetsOf,
  type ContentPart,
  type Cost,
  type Document,
  keysOf,
  ListBudget,
  type Message,
  type RecordKeys,
  type SerializeLimits,
  type Step,
  type StepError,
  type StepKind,
  type StepOf,
  safeStringify,
  type ToolCall,
  type ToolDefinition,
  toJsonSafe,
  type Usage,
} from '@spanchain/core';
import { formatEndTime } from './ids.js';
import type { RunLink } from './links.js';
import { RUN_TYPES, type Run, type RunEvent, type RunType } from './run.js';
import { VERSION } from './version.js';

export interface MapOptions {
  /** `LANGSMITH_HIDE_INPUTS`: every run's `inputs` become `{}` (what LangSmith's SDK does). */
  hideInputs?: boolean;
  /** `LANGSMITH_HIDE_OUTPUTS`: every run's `outputs` become `{}`; token usage moves to metadata. */
  hideOutputs?: boolean;
  /** The content budget (core's serialisation limits), applied to inputs, outputs, metadata, events. */
  limits?: Partial<SerializeLimits>;
  /** Merged over {@link runtimeInfo} in `extra.runtime`. */
  runtime?: Record<string, string>;
}

type Obj = Record<string, unknown>;
type Limits = Partial<SerializeLimits> | undefined;

/** LangSmith's run type of each step kind; kinds LangSmith lacks become `chain` (or `retriever`). */
export const RUN_TYPE_BY_KIND: Readonly<Record<StepKind, RunType>> = Object.freeze({
  llm: 'llm',
  chain: 'chain',
  retrieval: 'retriever',
  prompt: 'prompt',
  tool: 'tool',
  embedding: 'embedding',
  rerank: 'retriever',
  agent: 'chain',
  guardrail: 'chain',
  custom: 'chain',
});

/** The step metadata key @spanchain/langchain records LangChain's run type under (`parser`, …). */
export const LANGCHAIN_RUN_TYPE_KEY = 'langchain.run_type';

const RUN_TYPE_SET: ReadonlySet<string> = new Set(RUN_TYPES);

function isRecord(value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Reads a property of a user value without letting a throwing getter escape. */
function read(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  try {
    return (value as Obj)[key];
  } catch {
    return undefined;
  }
}

const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;
const finite = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;
const count = (value: unknown): number | undefined => {
  const n = finite(value);
  return n === undefined ? undefined : Math.max(0, Math.round(n));
};

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

// ---------------------------------------------------------------------------------------------
// Budgets (@spanchain/core's `budgetsOf`, `keysOf`, `ListBudget`): the serialisation limits
// applied before anything is walked, so that the work of one run is bounded by them and not by
// the app's data.

/** {@link keysOf}, undefined where there are none to read (a proxy whose `ownKeys` trap throws). */
function keysOfSafe(record: unknown, b: Budgets): RecordKeys | undefined {
  try {
    return keysOf(record, b);
  } catch {
    return undefined;
  }
}

function defineKey(into: Obj, key: string, value: unknown): void {
  // Defined, not assigned: a `__proto__` key stays data.
  Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The run type of a step: `metadata.ls_run_type` when it names a LangSmith run type, `parser`
 * for LangChain output parsers (recorded by @spanchain/langchain as `chain` steps with
 * `langchain.run_type: 'parser'`), else {@link RUN_TYPE_BY_KIND}.
 */
export function runTypeOf(step: Step): RunType {
  const metadata = isRecord(step.metadata) ? step.metadata : undefined;
  const override = read(metadata, 'ls_run_type');
  if (typeof override === 'string' && RUN_TYPE_SET.has(override)) return override as RunType;
  if (step.kind === 'chain' && read(metadata, LANGCHAIN_RUN_TYPE_KEY) === 'parser') return 'parser';
  return RUN_TYPE_BY_KIND[step.kind] ?? 'chain';
}

const RUNTIME: Readonly<Record<string, string>> = Object.freeze({
  sdk: '@spanchain/langsmith',
  sdk_version: VERSION,
  library: 'spanchain',
  runtime: 'nodejs',
  runtime_version: typeof process === 'object' && typeof process.version === 'string' ? process.version : '',
});

/** `extra.runtime` of every run: this SDK and the Node.js version. */
export function runtimeInfo(): Record<string, string> {
  return { ...RUNTIME };
}

// ---------------------------------------------------------------------------------------------
// Messages, tools, documents in the shapes LangSmith renders

function chatContent(content: unknown, lists: ListBudget): unknown {
  if (!Array.isArray(content)) return content;
  return lists.map(content, (part: ContentPart | unknown) => {
    if (!isRecord(part)) return part;
    const type = read(part, 'type');
    if (type === 'text') return { type: 'text', text: read(part, 'text') ?? '' };
    const url = read(part, 'url') ?? read(part, 'uri');
    if (type === 'image' && typeof url === 'string') return { type: 'image_url', image_url: { url } };
    return part;
  });
}

function toolCallArguments(args: unknown, limits: Limits): string {
  // OpenAI's shape carries arguments as a JSON string; a string is taken to be that JSON already.
  return args === undefined ? '{}' : safeStringify(args, limits).text;
}

function openAiToolCall(call: ToolCall | unknown, limits: Limits): Obj {
  const out: Obj = { type: 'function' };
  const id = read(call, 'id');
  if (id !== undefined) out.id = id;
  out.function = {
    name: read(call, 'name') ?? '',
    arguments: toolCallArguments(read(call, 'arguments'), limits),
  };
  return out;
}

/**
 * One message in OpenAI's chat shape: `role`, `content`, `name`, `tool_calls`, `tool_call_id`.
 * Its lists (content parts, tool calls) are cut to the budgets before they are mapped; `lists`
 * shares that budget across the messages of one value.
 */
export function chatMessage(
  message: Message | unknown,
  limits?: Limits,
  lists: ListBudget = new ListBudget(budgetsOf(limits)),
): Obj {
  if (!isRecord(message)) return { role: 'user', content: message };
  const out: Obj = { role: read(message, 'role') ?? 'user' };
  const name = read(message, 'name');
  if (name !== undefined) out.name = name;
  const content = read(message, 'content');
  if (content !== undefined) out.content = chatContent(content, lists);
  const calls = read(message, 'toolCalls');
  if (Array.isArray(calls) && calls.length > 0)
    out.tool_calls = lists.map(calls, (c) => openAiToolCall(c, limits));
  const callId = read(message, 'toolCallId');
  if (callId !== undefined) out.tool_call_id = callId;
  return out;
}

function openAiTool(tool: ToolDefinition | unknown): unknown {
  if (!isRecord(tool)) return tool;
  const fn: Obj = { name: read(tool, 'name') ?? '' };
  const description = read(tool, 'description');
  if (description !== undefined) fn.description = description;
  const parameters = read(tool, 'parameters');
  if (parameters !== undefined) fn.parameters = parameters;
  return { type: str(read(tool, 'type')) ?? 'function', function: fn };
}

/**
 * A document as LangChain (and LangSmith's retriever view) shows it: `page_content`, `metadata`
 * (at most `maxObjectKeys` of its own keys; one that is not a plain object is converted by the
 * serialiser rather than copied key by key).
 */
export function toDocument(doc: Document | unknown, limits?: Limits): Obj {
  if (!isRecord(doc))
    return { page_content: typeof doc === 'string' ? doc : '', type: 'Document', metadata: {} };
  const metadata: Obj = {};
  const budgets = budgetsOf(limits);
  const source = keysOfSafe(read(doc, 'metadata'), budgets);
  if (source !== undefined) {
    const n = Math.min(source.keys.length, budgets.maxKeys);
    for (let i = 0; i < n; i++) {
      const key = source.keys[i] as string;
      defineKey(metadata, key, read(source.record, key));
    }
  }
  const id = read(doc, 'id');
  if (id !== undefined) metadata.id = id;
  const score = read(doc, 'score');
  if (score !== undefined) metadata.score = score;
  const content = read(doc, 'content');
  return {
    page_content: typeof content === 'string' ? content : content === undefined ? '' : content,
    type: 'Document',
    metadata,
  };
}

function documents(list: unknown, lists: ListBudget): Obj[] | undefined {
  return Array.isArray(list) ? lists.map(list, (doc) => toDocument(doc, lists.budgets.limits)) : undefined;
}

function chatMessages(list: readonly unknown[], lists: ListBudget): Obj[] {
  return lists.map(list, (m) => chatMessage(m, lists.budgets.limits, lists));
}

/**
 * `usage_metadata` as LangSmith prices it: only `input_tokens`, `output_tokens`, `total_tokens`,
 * `input_token_details` (`cache_read`, `cache_creation`), `output_token_details` (`reasoning`)
 * and USD costs. spanchain's counts already include cached and reasoning tokens, as LangSmith's
 * do. Undefined without usage.
 */
export function usageMetadata(usage: Usage | undefined, cost?: Cost): Obj | undefined {
  if (!isRecord(usage)) return undefined;
  const input = count(usage.inputTokens);
  const output = count(usage.outputTokens);
  const total = count(usage.totalTokens);
  if (input === undefined && output === undefined && total === undefined) return undefined;
  const out: Obj = {
    input_tokens: input ?? 0,
    output_tokens: output ?? 0,
    total_tokens: total ?? (input ?? 0) + (output ?? 0),
  };
  const cacheRead = count(usage.cachedInputTokens);
  const cacheCreation = count(usage.cacheCreationInputTokens);
  if (cacheRead !== undefined || cacheCreation !== undefined) {
    const details: Obj = {};
    if (cacheRead !== undefined) details.cache_read = cacheRead;
    if (cacheCreation !== undefined) details.cache_creation = cacheCreation;
    out.input_token_details = details;
  }
  const reasoning = count(usage.reasoningTokens);
  if (reasoning !== undefined) out.output_token_details = { reasoning };
  // LangSmith's costs are in USD; a cost in another currency is left to LangSmith's own pricing.
  if (isRecord(cost) && typeof cost.currency === 'string' && cost.currency.toUpperCase() === 'USD') {
    const inputCost = finite(cost.input);
    const outputCost = finite(cost.output);
    const totalCost = finite(cost.total);
    if (inputCost !== undefined) out.input_cost = inputCost;
    if (outputCost !== undefined) out.output_cost = outputCost;
    if (totalCost !== undefined) out.total_cost = totalCost;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Inputs and outputs

/** Tool arguments often arrive as the model's JSON text: an object inside is shown as one. */
function parsedArguments(args: unknown, limits: Limits): unknown {
  if (typeof args !== 'string') return args;
  const text = args.trim();
  const max = limits?.maxStringLength ?? 32_768;
  if (!text.startsWith('{') || text.length > max) return args;
  try {
    const parsed: unknown = JSON.parse(text);
    return isRecord(parsed) ? parsed : args;
  } catch {
    return args;
  }
}

function llmInputs(step: StepOf<'llm'>, lists: ListBudget): unknown {
  const limits = lists.budgets.limits;
  let out: Obj | undefined;
  const system = step.systemInstructions;
  if (Array.isArray(step.inputMessages) || system !== undefined) {
    const messages = Array.isArray(step.inputMessages) ? chatMessages(step.inputMessages, lists) : [];
    // The GenAI conventions keep system instructions apart; LangSmith shows them as the first message.
    if (system !== undefined) messages.unshift({ role: 'system', content: chatContent(system, lists) });
    out = { messages };
  } else if (typeof step.input === 'string') {
    // A text completion: LangChain's LLM runs carry `prompts`.
    out = { prompts: [step.input] };
  } else if (step.input !== undefined) {
    out = jsonObject(step.input, 'input', limits);
  }
  if (Array.isArray(step.tools) && step.tools.length > 0) {
    out = { ...out, tools: lists.map(step.tools, openAiTool) };
  }
  return out;
}

function llmOutputs(step: StepOf<'llm'>, lists: ListBudget): unknown {
  const limits = lists.budgets.limits;
  const reasons = Array.isArray(step.finishReasons) ? step.finishReasons : [];
  const choice = (message: Obj, index: number, reason: unknown): Obj => {
    const c: Obj = { index, message };
    const finish = reason ?? reasons[index];
    if (finish !== undefined) c.finish_reason = finish;
    return c;
  };
  if (Array.isArray(step.outputMessages) && step.outputMessages.length > 0) {
    return {
      choices: lists.map(step.outputMessages, (m, i) =>
        choice(chatMessage(m, limits, lists), i, read(m, 'finishReason')),
      ),
    };
  }
  if (Array.isArray(step.toolCalls) && step.toolCalls.length > 0) {
    const message: Obj = { role: 'assistant', content: typeof step.output === 'string' ? step.output : '' };
    message.tool_calls = lists.map(step.toolCalls, (c) => openAiToolCall(c, limits));
    return { choices: [choice(message, 0, undefined)] };
  }
  if (typeof step.output === 'string') {
    return { choices: [choice({ role: 'assistant', content: step.output }, 0, undefined)] };
  }
  return step.output;
}

/**
 * The content of a run's `inputs`: an object in LangSmith's shape for the kind, or a raw value
 * that {@link jsonObject} wraps as `{ input: value }` unless it serialises to an object.
 */
function inputsOf(step: Step, lists: ListBudget): unknown {
  const limits = lists.budgets.limits;
  switch (step.kind) {
    case 'llm':
      return llmInputs(step, lists);
    case 'retrieval':
      if (step.query !== undefined) return { query: step.query };
      return typeof step.input === 'string' ? { query: step.input } : step.input;
    case 'rerank':
      if (step.query !== undefined || step.documents !== undefined) {
        const out: Obj = {};
        if (step.query !== undefined) out.query = step.query;
        if (step.documents !== undefined) out.documents = documents(step.documents, lists) ?? step.documents;
        return out;
      }
      return step.input;
    case 'tool':
      return step.arguments !== undefined ? parsedArguments(step.arguments, limits) : step.input;
    case 'prompt':
      return step.variables ?? step.input;
    case 'embedding':
      return step.texts !== undefined ? { input: step.texts } : step.input;
    default:
      return step.input;
  }
}

function embeddingSummary(step: StepOf<'embedding'>): Obj | undefined {
  const out: Obj = {};
  const vectors = Array.isArray(step.output) ? step.output : undefined;
  const first = vectors?.[0];
  const dimensions =
    count(step.dimensions) ??
    (Array.isArray(first) || ArrayBuffer.isView(first) ? (first as { length: number }).length : undefined);
  const n = count(step.count) ?? (vectors ? vectors.length : undefined);
  if (dimensions !== undefined) out.dimensions = dimensions;
  if (n !== undefined) out.count = n;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The content of a run's `outputs`, like {@link inputsOf} (raw values become `{ output: value }`). */
function outputsOf(step: Step, lists: ListBudget): unknown {
  switch (step.kind) {
    case 'llm':
      return llmOutputs(step, lists);
    case 'retrieval': {
      const docs = documents(step.documents, lists);
      return docs ? { documents: docs } : step.output;
    }
    case 'rerank': {
      const docs = documents(step.rerankedDocuments, lists);
      return docs ? { documents: docs } : step.output;
    }
    case 'tool':
      return step.result !== undefined ? step.result : step.output;
    case 'prompt':
      if (Array.isArray(step.messages)) return { messages: chatMessages(step.messages, lists) };
      return step.text ?? step.output;
    case 'embedding':
      // Vectors are not worth sending: a summary of what was made.
      return embeddingSummary(step);
    case 'guardrail':
      if (step.output === undefined && step.decision !== undefined) {
        const out: Obj = { decision: step.decision };
        if (step.reason !== undefined) out.reason = step.reason;
        return out;
      }
      return step.output;
    default:
      return step.output;
  }
}

/**
 * JSON-safe object within the budget: a value that serialises to an object as it is, anything
 * else (a string, an array, a date, a budget marker) under `key`.
 */
function jsonObject(
  value: unknown,
  key: string,
  limits: Limits,
  cut?: { list: string[]; field: string },
): Obj {
  const { value: safe, truncated } = toJsonSafe(value, limits);
  if (truncated && cut !== undefined) noteCut(cut.list, cut.field);
  return isRecord(safe) ? safe : { [key]: safe };
}

/** Notes a step field cut or left out by the budgets, for `spanchain_truncated`. */
function noteCut(list: string[], field: string): void {
  if (!list.includes(field)) list.push(field);
}

/** The step field a run's `inputs` show, as named in `spanchain_truncated` when cut. */
function inputField(step: Step): string {
  switch (step.kind) {
    case 'llm':
      return step.inputMessages !== undefined || step.systemInstructions !== undefined
        ? 'inputMessages'
        : 'input';
    case 'retrieval':
      return step.query !== undefined ? 'query' : 'input';
    case 'rerank':
      return step.query !== undefined || step.documents !== undefined ? 'documents' : 'input';
    case 'tool':
      return step.arguments !== undefined ? 'arguments' : 'input';
    case 'prompt':
      return step.variables !== undefined ? 'variables' : 'input';
    case 'embedding':
      return step.texts !== undefined ? 'texts' : 'input';
    default:
      return 'input';
  }
}

/** The step field a run's `outputs` show, as named in `spanchain_truncated` when cut. */
function outputField(step: Step): string {
  switch (step.kind) {
    case 'llm':
      if (Array.isArray(step.outputMessages) && step.outputMessages.length > 0) return 'outputMessages';
      return Array.isArray(step.toolCalls) && step.toolCalls.length > 0 ? 'toolCalls' : 'output';
    case 'retrieval':
      return Array.isArray(step.documents) ? 'documents' : 'output';
    case 'rerank':
      return Array.isArray(step.rerankedDocuments) ? 'rerankedDocuments' : 'output';
    case 'tool':
      return step.result !== undefined ? 'result' : 'output';
    case 'prompt':
      return Array.isArray(step.messages) ? 'messages' : step.text !== undefined ? 'text' : 'output';
    default:
      return 'output';
  }
}

// ---------------------------------------------------------------------------------------------
// Metadata

/** GenAI provider names → LangChain's `ls_provider` values where they differ (LangSmith prices by those). */
const LS_PROVIDERS: Readonly<Record<string, string>> = {
  'gcp.gemini': 'google_genai',
  'gcp.gen_ai': 'google_genai',
  'gcp.vertex_ai': 'google_vertexai',
  'aws.bedrock': 'amazon_bedrock',
  'azure.ai.openai': 'azure',
  mistral_ai: 'mistral',
  x_ai: 'xai',
};

export function lsProvider(provider: unknown): string | undefined {
  const p = str(provider);
  return p === undefined ? undefined : (LS_PROVIDERS[p] ?? p);
}

class Meta {
  readonly out: Obj = {};
  set(key: string, value: unknown): void {
    if (value !== undefined && value !== null) this.out[key] = value;
  }
  spread(record: unknown): void {
    if (!isRecord(record)) return;
    let keys: string[];
    try {
      keys = Object.keys(record);
    } catch {
      return;
    }
    for (const key of keys) this.set(key, read(record, key));
  }
}

function invocationParams(step: StepOf<'llm'> | StepOf<'embedding'>): Obj | undefined {
  const out: Obj = {};
  const model = str(step.model);
  if (model !== undefined) out.model = model;
  if (step.kind === 'llm' && isRecord(step.params)) {
    for (const key of Object.keys(step.params)) {
      const value = read(step.params, key);
      if (value === undefined || value === null) continue;
      if (key === 'stopSequences') out.stop = value;
      else if (key === 'choiceCount') out.n = value;
      else out[snake(key)] = value;
    }
  }
  if (step.kind === 'llm' && step.stream) out.stream = true;
  return Object.keys(out).length > 0 ? out : undefined;
}

function kindMetadata(meta: Meta, step: Step, link: RunLink): void {
  switch (step.kind) {
    case 'llm': {
      const params = isRecord(step.params) ? step.params : {};
      meta.set('ls_provider', lsProvider(step.provider));
      meta.set('ls_model_name', str(step.responseModel) ?? str(step.model));
      const text = step.inputMessages === undefined && typeof step.input === 'string';
      meta.set('ls_model_type', text ? 'llm' : 'chat');
      meta.set('ls_temperature', finite(params.temperature));
      meta.set('ls_max_tokens', finite(params.maxTokens));
      if (Array.isArray(params.stopSequences)) meta.set('ls_stop', params.stopSequences);
      meta.set('prompt_name', step.promptName);
      meta.set('prompt_version', step.promptVersion);
      meta.set('response_id', step.responseId);
      break;
    }
    case 'embedding':
    case 'rerank':
      meta.set('ls_provider', lsProvider(step.provider));
      meta.set('ls_model_name', str(step.responseModel) ?? str(step.model));
      if (step.kind === 'rerank') meta.set('top_n', step.topN);
      break;
    case 'retrieval':
      meta.set('ls_retriever_name', step.dataSource);
      meta.set('top_k', step.topK);
      break;
    case 'tool':
      meta.set('tool_name', step.toolName);
      meta.set('tool_call_id', step.toolCallId);
      meta.set('tool_type', step.toolType);
      meta.set('tool_description', step.toolDescription);
      break;
    case 'prompt':
      meta.set('prompt_template_name', step.templateName);
      meta.set('prompt_template_version', step.templateVersion);
      break;
    case 'agent':
      // LangSmith's agent views: `root` for a top-level agent, `subagent` for one inside another.
      meta.set('ls_agent_type', link.underAgent ? 'subagent' : 'root');
      meta.set('agent_name', step.agentName);
      meta.set('agent_id', step.agentId);
      meta.set('agent_description', step.agentDescription);
      break;
    case 'guardrail':
      meta.set('guardrail_name', step.guardrailName);
      meta.set('guardrail_decision', step.decision);
      meta.set('guardrail_reason', step.reason);
      meta.set('guardrail_target', step.target);
      break;
    default:
      break;
  }
}

/** Derived metadata is small and made here: it gets its own budget, so user metadata cannot crowd it out. */
const DERIVED_LIMITS: Partial<SerializeLimits> = { maxStringLength: 4_096, maxBytes: 65_536 };

/**
 * `extra.metadata`, lowest precedence first: baggage from an upstream `langsmith-trace` header,
 * then what spanchain derives (`ls_*`, kind fields, user, thread, identity, bookkeeping), then
 * the step's attributes, the trace's metadata and the step's own metadata: what the app set
 * explicitly wins over anything derived. Only the explicit part is cut to the content budget.
 */
/**
 * The app's metadata for `extra.metadata`: the step's, then the trace's, then the step's
 * attributes (earlier ones win a key), at most `maxObjectKeys` keys in all, taken in that order;
 * a record that is not a plain object is converted, never walked key by key. Fields that lost
 * keys are noted in `cut`.
 */
function explicitMetadata(step: Step, trace: Obj, b: Budgets, cut: string[]): Obj {
  const out: Obj = {};
  let left = b.maxKeys;
  const sources: ReadonlyArray<readonly [unknown, string]> = [
    [step.metadata, 'metadata'],
    [trace.metadata, 'trace.metadata'],
    [step.attributes, 'attributes'],
  ];
  for (const [record, field] of sources) {
    const source = keysOfSafe(record, b);
    if (source === undefined) continue;
    const { keys } = source;
    let i = 0;
    for (; i < keys.length && left > 0; i++) {
      const key = keys[i] as string;
      if (Object.hasOwn(out, key)) continue;
      const value = read(source.record, key);
      if (value === undefined || value === null) continue;
      defineKey(out, key, value);
      left--;
    }
    if (source.cut || i < keys.length) noteCut(cut, field);
  }
  return out;
}

function metadataOf(step: Step, link: RunLink, runType: RunType, limits: Limits, cut: string[]): Obj {
  const derived = new Meta();
  derived.spread(link.metadata);
  if (step.kind !== runType) derived.set('spanchain_kind', step.kind);
  kindMetadata(derived, step, link);
  const trace = isRecord(step.trace) ? step.trace : {};
  derived.set('user_id', str(trace.userId));
  // LangSmith groups runs into threads by `session_id`, `thread_id` or `conversation_id`.
  derived.set('thread_id', str(trace.sessionId));
  derived.set('trace_name', str(trace.name));
  derived.set('environment', str(trace.environment));
  derived.set('release', str(trace.release));
  // `revision_id` is what LangSmith's SDK calls the app's version.
  derived.set('revision_id', str(trace.version));
  derived.set('service_name', str(step.serviceName));
  if (isRecord(step.identity)) {
    // The names @spanchain/otel uses under `spanchain.identity.*`: team, key_alias, key_hash.
    for (const key of Object.keys(step.identity)) derived.set(snake(key), str(read(step.identity, key)));
  }
  if (step.error?.code !== undefined) derived.set('error_code', step.error.code);
  if (Array.isArray(step.redacted) && step.redacted.length > 0)
    derived.set('spanchain_redacted', step.redacted);
  derived.set('spanchain_stream', step.stream);
  derived.set('spanchain_attempt', step.attempt);
  derived.set('spanchain_attempts', step.attempts);
  const b = budgetsOf(limits);
  const explicit = jsonObject(explicitMetadata(step, trace, b, cut), 'metadata', limits, {
    list: cut,
    field: 'metadata',
  });
  // The core's list of fields cut to the payload budget, and what the budgets cut here.
  const given = Array.isArray(step.truncated) ? step.truncated : [];
  if (given.length > 0 || cut.length > 0)
    derived.set('spanchain_truncated', [...new Set([...given, ...cut])]);
  return { ...jsonObject(derived.out, 'metadata', DERIVED_LIMITS), ...explicit };
}

// ---------------------------------------------------------------------------------------------
// Error, events, tags

const MAX_CAUSES = 5;

function errorHeader(error: unknown): string {
  const type = str(read(error, 'type')) ?? 'Error';
  const message = read(error, 'message');
  return typeof message === 'string' && message !== '' ? `${type}: ${message}` : type;
}

/** `Type: message`, the stack (which V8 starts with the same line), then the causes. */
export function errorText(error: StepError | undefined): string | undefined {
  if (!isRecord(error)) return undefined;
  const header = errorHeader(error);
  const stack = read(error, 'stack');
  let text =
    typeof stack === 'string' && stack !== ''
      ? stack.startsWith(header)
        ? stack
        : `${header}\n${stack}`
      : header;
  let cause = read(error, 'cause');
  for (let i = 0; i < MAX_CAUSES && isRecord(cause); i++) {
    text += `\nCaused by: ${errorHeader(cause)}`;
    cause = read(cause, 'cause');
  }
  return text;
}

function isoTime(epochMs: unknown): string | undefined {
  const ms = finite(epochMs);
  if (ms === undefined || Math.abs(ms) > 8.64e15) return undefined;
  return new Date(ms).toISOString();
}

/** The core's streaming event; LangSmith derives `first_token_time` from the first `new_token`. */
const FIRST_TOKEN = 'first-token';

function eventsOf(step: Step, limits: Limits): RunEvent[] | undefined {
  const out: { event: RunEvent; at: number }[] = [];
  const max = limits?.maxArrayLength ?? 1_000;
  let firstToken = false;
  const events = Array.isArray(step.events) ? step.events : [];
  for (const event of events) {
    if (out.length >= max) break;
    const name = str(read(event, 'name'));
    const at = finite(read(event, 'time'));
    const time = isoTime(at);
    if (name === undefined || time === undefined || at === undefined) continue;
    if (name === FIRST_TOKEN) {
      firstToken = true;
      // LangSmith's SDK strips new_token kwargs; the time is what matters.
      out.push({ event: { name: 'new_token', time }, at });
      continue;
    }
    const runEvent: RunEvent = { name, time };
    const attributes = read(event, 'attributes');
    if (isRecord(attributes) && Object.keys(attributes).length > 0)
      runEvent.kwargs = jsonObject(attributes, 'attributes', limits);
    out.push({ event: runEvent, at });
  }
  if (step.kind === 'llm' && !firstToken) {
    const at =
      finite(step.stream?.firstChunkTime) ??
      (finite(step.timeToFirstTokenMs) !== undefined ? step.startTime + step.timeToFirstTokenMs! : undefined);
    const time = isoTime(at);
    if (at !== undefined && time !== undefined) out.push({ event: { name: 'new_token', time }, at });
  }
  if (out.length === 0) return undefined;
  return out.sort((a, b) => a.at - b.at).map((e) => e.event);
}

const MAX_TAGS = 100;

/**
 * The step's, the trace's and the upstream header's tags, once each: at most 100, each cut to
 * `maxStringLength`, reading at most `maxArrayLength` items of each list. `tags` is noted in
 * `cut` when a tag was cut or left out.
 */
function tagsOf(step: Step, link: RunLink, b: Budgets, cut: string[]): string[] | undefined {
  const seen = new Set<string>();
  const lists = [step.tags, isRecord(step.trace) ? step.trace.tags : undefined, link.tags];
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    const n = Math.min(list.length, b.maxItems);
    if (n < list.length) noteCut(cut, 'tags');
    for (let i = 0; i < n; i++) {
      const tag: unknown = list[i];
      if (typeof tag !== 'string' || tag === '') continue;
      let text = tag;
      if (text.length > b.maxString) {
        text = safeStringify(tag, b.limits).text;
        noteCut(cut, 'tags');
      }
      if (seen.size < MAX_TAGS) seen.add(text);
      else if (!seen.has(text)) noteCut(cut, 'tags');
    }
  }
  return seen.size > 0 ? [...seen] : undefined;
}

// ---------------------------------------------------------------------------------------------

function guarded<T>(fn: () => T, fallback: () => T): T {
  try {
    return fn();
  } catch {
    return fallback();
  }
}

/**
 * Maps an ended step to a LangSmith run (without `session_name`: the project is the plugin's, per
 * destination). Ids and dotted order come from the step's link. `inputs` is always an object;
 * `outputs` is left out when there is nothing to show. Content is JSON-safe and within
 * `options.limits`. Never throws.
 */
export function toRun(step: Step, link: RunLink, options: MapOptions = {}): Run {
  try {
    return mapRun(step, link, options ?? {});
  } catch {
    // Only a step whose own fields throw when read gets here: the run keeps its place in the tree.
    return {
      id: link.runId,
      trace_id: link.traceRunId,
      dotted_order: link.dottedOrder,
      ...(link.parentRunId !== undefined && { parent_run_id: link.parentRunId }),
      name: link.kind ?? 'step',
      run_type: (link.kind && RUN_TYPE_BY_KIND[link.kind]) || 'chain',
      start_time: link.startTime,
      inputs: {},
      extra: { metadata: {}, runtime: { ...RUNTIME } },
      error: 'the step could not be read',
    };
  }
}

function mapRun(step: Step, link: RunLink, options: MapOptions): Run {
  const limits = options.limits;
  const runType = guarded(
    () => runTypeOf(step),
    () => 'chain' as RunType,
  );
  const isRoot = link.parentRunId === undefined;
  const trace = isRecord(step.trace) ? step.trace : {};
  const budgets = budgetsOf(limits);
  // Step fields the budgets cut here, for `spanchain_truncated`.
  const cut: string[] = [];

  let inputs: Obj = {};
  if (!options.hideInputs) {
    const lists = new ListBudget(budgets);
    const raw = guarded(
      () => inputsOf(step, lists),
      () => step.input,
    );
    // LangSmith has no trace object: a root run without input of its own shows the trace's.
    const field =
      raw === undefined && isRoot
        ? 'trace.input'
        : guarded(
            () => inputField(step),
            () => 'input',
          );
    const value = raw === undefined && isRoot ? trace.input : raw;
    if (value !== undefined) inputs = jsonObject(value, 'input', limits, { list: cut, field });
    if (lists.cut) noteCut(cut, field);
  }

  let outputs: Obj | undefined;
  const usage =
    step.kind === 'llm' || step.kind === 'embedding' ? usageMetadata(step.usage, step.cost) : undefined;
  if (options.hideOutputs) {
    outputs = {};
  } else {
    const lists = new ListBudget(budgets);
    const raw = guarded(
      () => outputsOf(step, lists),
      () => step.output,
    );
    const field =
      raw === undefined && isRoot
        ? 'trace.output'
        : guarded(
            () => outputField(step),
            () => 'output',
          );
    const value = raw === undefined && isRoot ? trace.output : raw;
    if (value !== undefined) outputs = jsonObject(value, 'output', limits, { list: cut, field });
    if (lists.cut) noteCut(cut, field);
    if (usage) outputs = { ...outputs, usage_metadata: usage };
  }

  // Before the metadata, which lists what was cut.
  const tags = guarded(
    () => tagsOf(step, link, budgets, cut),
    () => undefined,
  );
  const metadata = guarded<Obj>(
    () => metadataOf(step, link, runType, limits, cut),
    () => ({}),
  );
  // Hidden outputs would take the token counts with them; LangSmith also reads them here.
  if (options.hideOutputs && usage) metadata.usage_metadata = usage;
  // The same frozen object for every run unless the caller adds to it: one allocation less per run.
  const extra: Run['extra'] = {
    metadata,
    runtime: options.runtime ? { ...RUNTIME, ...options.runtime } : RUNTIME,
  };
  if (step.kind === 'llm' || step.kind === 'embedding') {
    const params = guarded(
      () => invocationParams(step),
      () => undefined,
    );
    if (params) extra.invocation_params = jsonObject(params, 'params', limits);
  }

  const run: Run = {
    id: link.runId,
    trace_id: link.traceRunId,
    dotted_order: link.dottedOrder,
    name: typeof step.name === 'string' && step.name !== '' ? step.name.slice(0, 1024) : step.kind,
    run_type: runType,
    start_time: link.startTime,
    inputs,
    extra,
  };
  if (link.parentRunId !== undefined) run.parent_run_id = link.parentRunId;
  if (finite(step.endTime) !== undefined) {
    const end = formatEndTime(step.endTime!);
    // The start carries the execution order in its microseconds; never end before it (ISO
    // strings of one format compare as times).
    run.end_time = end;
    if (end < link.startTime) run.end_time = link.startTime;
  }
  if (outputs) run.outputs = outputs;
  const error =
    step.status === 'error'
      ? (guarded(
          () => errorText(step.error),
          () => undefined,
        ) ?? 'error')
      : undefined;
  if (error !== undefined) run.error = safeStringify(error, limits).text;
  const events = guarded(
    () => eventsOf(step, limits),
    () => undefined,
  );
  if (events) run.events = events;
  if (tags) run.tags = tags;
  return run;
}
