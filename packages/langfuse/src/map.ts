/**
 * Step → span in Langfuse's vocabulary (CONTRACTS §3.3): the OpenTelemetry GenAI mapping of
 * @spanchain/otel, plus the `langfuse.*` attributes Langfuse reads first, minus the content
 * attributes that `langfuse.observation.input/output` already carry. A pure function, called
 * when a batch is exported.
 */
import { createHash } from 'node:crypto';
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import {
  type Budgets,
  budgetsOf,
  cutText,
  keysOf,
  ListBudget,
  type Message,
  type SerializeLimits,
  type Step,
  type StepOf,
  safeStringify,
  type TraceKey,
} from '@spanchain/core';
import { fitAttribute, type MapOptions, mapStep, SEMCONV, SPANCHAIN, type SpanData } from '@spanchain/otel';
import { LANGFUSE, OBSERVATION_TYPE } from './names.js';

export interface LangfuseMapOptions extends MapOptions {
  /** Default `langfuse.environment` when the trace has none (already validated). */
  environment?: string;
  /** Default `langfuse.release` when the trace has none. */
  release?: string;
  /** Default `langfuse.version` when the trace has none. */
  version?: string;
  /** Told about a trace environment Langfuse would not accept (the attribute is left out). */
  onInvalidEnvironment?: (value: string) => void;
}

const ENVIRONMENT = /^[a-z0-9_-]{1,40}$/;

/**
 * Langfuse's rule for environments: `[a-z0-9_-]{1,40}` after lowercasing, not starting with
 * `langfuse`. Returns the lowercased value, or undefined when Langfuse would reject it.
 */
export function normalizeEnvironment(value: string): string | undefined {
  const lower = value.toLowerCase();
  return ENVIRONMENT.test(lower) && !lower.startsWith('langfuse') ? lower : undefined;
}

/** JSON text of anything; a string stays as it is. Cut to the content budget. */
function json(value: unknown, limits: Partial<SerializeLimits> | undefined): string {
  return safeStringify(value, limits).text;
}

// ---------------------------------------------------------------------------------------------
// Budgets (@spanchain/core's `budgetsOf`, `keysOf`, `ListBudget`): the serialisation limits
// applied before anything is walked, so that the work of one span is bounded by them and not by
// the app's data.

/** A metadata value: strings as they are (cut), anything else as JSON (Langfuse stores strings). */
function metadataValue(value: unknown, b: Budgets): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? cutText(value, b) : json(value, b.limits);
}

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

// ---------------------------------------------------------------------------------------------
// Content in the shapes Langfuse renders: OpenAI-style chat messages

function chatContent(content: Message['content'], lists: ListBudget): unknown {
  if (!Array.isArray(content)) return content;
  return lists.map(content, (part) => {
    if (part === null || typeof part !== 'object') return part;
    const p = part as Record<string, unknown>;
    if (p.type === 'text') return { type: 'text', text: p.text ?? p.content ?? '' };
    if (p.type === 'image' && (typeof p.url === 'string' || typeof p.uri === 'string')) {
      return { type: 'image_url', image_url: { url: p.url ?? p.uri } };
    }
    return p;
  });
}

/**
 * One message as Langfuse's chat view expects it (`role`, `content`, `tool_calls`,
 * `tool_call_id`). Its lists (content parts, tool calls) are cut to the budgets before they are
 * mapped; `lists` shares that budget across the messages of one value.
 */
export function chatMessage(
  message: Message,
  limits?: Partial<SerializeLimits>,
  lists: ListBudget = new ListBudget(budgetsOf(limits)),
): Record<string, unknown> {
  if (message === null || typeof message !== 'object' || Array.isArray(message))
    return { role: 'user', content: Array.isArray(message) ? message : String(message) };
  const out: Record<string, unknown> = { role: message.role };
  if (typeof message.name === 'string') out.name = message.name;
  if (message.content !== undefined) out.content = chatContent(message.content, lists);
  if (Array.isArray(message.toolCalls) && message.toolCalls.length > 0) {
    out.tool_calls = lists.map(message.toolCalls, (item) => {
      const call = (item !== null && typeof item === 'object' ? item : { name: item }) as Record<
        string,
        unknown
      >;
      return {
        ...(call.id !== undefined && { id: call.id }),
        type: 'function',
        function: {
          name: call.name,
          arguments: call.arguments === undefined ? '{}' : json(call.arguments, limits),
        },
      };
    });
  }
  if (message.toolCallId !== undefined) out.tool_call_id = message.toolCallId;
  return out;
}

/** Messages as Langfuse's chat view expects them; a value that is not a list is one message. */
function chatMessages(messages: unknown, lists: ListBudget): Record<string, unknown>[] {
  const list = Array.isArray(messages) ? messages : [messages];
  return lists.map(list, (m) => chatMessage(m as Message, lists.budgets.limits, lists));
}

function llmInput(step: StepOf<'llm'>, lists: ListBudget): unknown {
  if (step.inputMessages === undefined) return step.input;
  const messages = chatMessages(step.inputMessages, lists);
  if (step.systemInstructions !== undefined) {
    // The conventions keep system instructions apart; Langfuse shows them as the first message.
    messages.unshift({ role: 'system', content: chatContent(step.systemInstructions, lists) });
  }
  return messages;
}

function llmOutput(step: StepOf<'llm'>, lists: ListBudget): unknown {
  if (step.outputMessages !== undefined) {
    const messages = chatMessages(step.outputMessages, lists);
    return messages.length === 1 ? messages[0] : messages;
  }
  if (step.toolCalls && step.toolCalls.length > 0) {
    return chatMessage({ role: 'assistant', toolCalls: step.toolCalls }, lists.budgets.limits, lists);
  }
  return step.output;
}

/**
 * Input, output, the attributes that carried the same content under other names, and the step
 * fields noted in `spanchain.truncated` when the budgets cut them. `inputLists`/`outputLists`
 * cut the lists of each side.
 */
function contentOf(step: Step, inputLists: ListBudget, outputLists: ListBudget) {
  switch (step.kind) {
    case 'llm':
      return {
        input: llmInput(step, inputLists),
        output: llmOutput(step, outputLists),
        inputField: step.inputMessages !== undefined ? 'inputMessages' : 'input',
        outputField:
          step.outputMessages !== undefined
            ? 'outputMessages'
            : step.toolCalls && step.toolCalls.length > 0
              ? 'toolCalls'
              : 'output',
      };
    case 'embedding':
      return {
        input: step.texts ?? step.input,
        output: step.output,
        inputField: step.texts !== undefined ? 'texts' : 'input',
        outputField: 'output',
      };
    case 'retrieval':
      return {
        input: step.query ?? step.input,
        output: step.documents ?? step.output,
        inputField: step.query !== undefined ? 'query' : 'input',
        outputField: step.documents !== undefined ? 'documents' : 'output',
      };
    case 'rerank': {
      const given = step.query !== undefined || step.documents !== undefined;
      return {
        input: given ? { query: step.query, documents: step.documents } : step.input,
        output: step.rerankedDocuments ?? step.output,
        inputField: given ? 'documents' : 'input',
        outputField: step.rerankedDocuments !== undefined ? 'rerankedDocuments' : 'output',
      };
    }
    case 'tool':
      return {
        input: step.arguments ?? step.input,
        output: step.result ?? step.output,
        inputField: step.arguments !== undefined ? 'arguments' : 'input',
        outputField: step.result !== undefined ? 'result' : 'output',
      };
    case 'prompt': {
      const input = step.variables ?? step.input;
      const output = step.messages ? chatMessages(step.messages, outputLists) : (step.text ?? step.output);
      return {
        input,
        output,
        inputField: step.variables !== undefined ? 'variables' : 'input',
        outputField: step.messages ? 'messages' : step.text !== undefined ? 'text' : 'output',
      };
    }
    default:
      return {
        input: step.input,
        output: step.output,
        inputField: 'input',
        outputField: 'output',
      };
  }
}

// ---------------------------------------------------------------------------------------------
// Generations: model, parameters, usage, cost, first token, prompt

/** Request parameters as Langfuse wants them: a flat object of strings and numbers. */
function modelParameters(step: StepOf<'llm'>): Record<string, string | number> | undefined {
  const out: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(step.params ?? {})) {
    if (value === undefined || value === null) continue;
    out[snake(key)] = typeof value === 'number' || typeof value === 'string' ? value : json(value, undefined);
  }
  if (step.stream) out.stream = 'true';
  return Object.keys(out).length > 0 ? out : undefined;
}

const count = (n: number | undefined): number | undefined =>
  typeof n === 'number' && Number.isFinite(n) ? Math.max(0, Math.round(n)) : undefined;

/**
 * `usage_details`, used verbatim by Langfuse and priced per key. spanchain's `inputTokens`
 * include cached and cache-creation tokens and `outputTokens` include reasoning tokens; Langfuse
 * prices each key separately, so those parts are taken out of `input`/`output` and sent under
 * their own keys (what Langfuse itself does with `gen_ai.usage.*`). `total` is everything.
 */
export function usageDetails(usage: StepOf<'llm'>['usage']): Record<string, number> | undefined {
  if (!usage) return undefined;
  const input = count(usage.inputTokens);
  const output = count(usage.outputTokens);
  const cached = count(usage.cachedInputTokens);
  const creation = count(usage.cacheCreationInputTokens);
  const reasoning = count(usage.reasoningTokens);
  const out: Record<string, number> = {};
  if (input !== undefined) out.input = Math.max(0, input - (cached ?? 0) - (creation ?? 0));
  if (output !== undefined) out.output = Math.max(0, output - (reasoning ?? 0));
  const total =
    count(usage.totalTokens) ??
    (input !== undefined || output !== undefined ? (input ?? 0) + (output ?? 0) : undefined);
  if (total !== undefined) out.total = total;
  if (cached !== undefined) out.input_cached_tokens = cached;
  if (creation !== undefined) out.input_cache_creation = creation;
  if (reasoning !== undefined) out.output_reasoning_tokens = reasoning;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `cost_details` in USD (Langfuse has no currency); other currencies are left out. */
export function costDetails(cost: StepOf<'llm'>['cost']): Record<string, number> | undefined {
  const currency = typeof cost?.currency === 'string' ? cost.currency.toUpperCase() : undefined;
  if (cost === undefined || currency !== 'USD' || !Number.isFinite(cost.total)) return undefined;
  const out: Record<string, number> = {};
  if (typeof cost.input === 'number' && Number.isFinite(cost.input)) out.input = cost.input;
  if (typeof cost.output === 'number' && Number.isFinite(cost.output)) out.output = cost.output;
  out.total = cost.total;
  return out;
}

function completionStartTime(step: StepOf<'llm'>): string | undefined {
  const time =
    step.stream?.firstChunkTime ??
    (step.timeToFirstTokenMs !== undefined ? step.startTime + step.timeToFirstTokenMs : undefined);
  if (time === undefined || !Number.isFinite(time)) return undefined;
  return new Date(time).toISOString();
}

/** Langfuse prompt versions are integers; anything else cannot link. */
function promptVersion(version: string | number | undefined): number | undefined {
  if (typeof version === 'number') return Number.isInteger(version) ? version : undefined;
  if (typeof version === 'string' && /^\d+$/.test(version)) return Number(version);
  return undefined;
}

// ---------------------------------------------------------------------------------------------

/** A model on a span that is not a generation or embedding would make it one (and priced). */
const MODEL_NAMES = [SEMCONV.requestModel, SEMCONV.responseModel];

class Writer {
  /** Keys the span may still take from the app's records: own attributes, then metadata, then the trace's. */
  private keysLeft: number;
  /** Keys of those records the span did not take. */
  dropped = 0;
  /** Step fields cut or left out here, for `spanchain.truncated`. */
  readonly cut: string[] = [];

  constructor(
    readonly attributes: Attributes,
    readonly budgets: Budgets,
  ) {
    this.keysLeft = budgets.maxKeys;
  }
  set(key: string, value: AttributeValue | undefined): void {
    if (value !== undefined) this.attributes[key] = value;
  }
  json(key: string, value: unknown, field?: string): void {
    if (value === undefined) return;
    if (typeof value === 'string' && value.length <= this.budgets.maxString) {
      this.attributes[key] = value;
      return;
    }
    const { text, truncated } = safeStringify(value, this.budgets.limits);
    this.attributes[key] = text;
    if (truncated && field !== undefined) this.noteCut(field);
  }
  /** A flat record of finite numbers made by this mapping (no budgets needed): its JSON. */
  numbers(key: string, record: Record<string, number> | undefined): void {
    if (record !== undefined) this.attributes[key] = JSON.stringify(record);
  }
  noteCut(field: string): void {
    if (!this.cut.includes(field)) this.cut.push(field);
  }
  /** How many of `total` keys the span may still take; the rest are counted as dropped. */
  take(total: number): number {
    const n = Math.min(total, this.keysLeft);
    this.keysLeft -= n;
    this.dropped += total - n;
    return n;
  }
  metadata(prefix: string, record: unknown, field: string): void {
    const source = keysOf(record, this.budgets);
    if (source === undefined) return;
    const n = this.take(source.keys.length);
    if (source.cut || n < source.keys.length) this.noteCut(field);
    for (let i = 0; i < n; i++) {
      const key = source.keys[i] as string;
      this.set(prefix + cutText(key, this.budgets), metadataValue(source.record[key], this.budgets));
    }
  }
}

/** The trace keys a run may write, as a lookup: the same array serves most steps (all keys). */
let lastKeys: readonly TraceKey[] | undefined;
let lastAllowed: ReadonlySet<TraceKey> = new Set();

function allowedKeys(keys: readonly TraceKey[]): ReadonlySet<TraceKey> {
  if (keys !== lastKeys) {
    lastAllowed = new Set(keys);
    lastKeys = keys;
  }
  return lastAllowed;
}

function writeTrace(out: Writer, step: Step, options: LangfuseMapOptions): void {
  const { trace } = step;
  const allowed = allowedKeys(step.traceKeys);
  const may = (key: TraceKey) => allowed.has(key);
  if (may('name')) out.set(LANGFUSE.traceName, trace.name);
  if (may('userId')) out.set(LANGFUSE.traceUserId, trace.userId);
  if (may('sessionId')) out.set(LANGFUSE.traceSessionId, trace.sessionId);
  if (may('tags') && Array.isArray(trace.tags) && trace.tags.length > 0) {
    const b = out.budgets;
    const tags = new ListBudget(b).map(trace.tags, (tag) =>
      typeof tag === 'string' ? cutText(tag, b) : json(tag, b.limits),
    );
    out.set(LANGFUSE.traceTags, tags);
    if (tags.length < trace.tags.length) out.noteCut('trace.tags');
  }
  if (may('metadata')) out.metadata(LANGFUSE.traceMetadataPrefix, trace.metadata, 'trace.metadata');
  // Masked trace content is already the redaction marker here (the core replaced it).
  if (may('input')) out.json(LANGFUSE.traceInput, trace.input);
  if (may('output')) out.json(LANGFUSE.traceOutput, trace.output);
  if (may('release')) out.set(LANGFUSE.release, trace.release ?? options.release);
  if (may('version')) out.set(LANGFUSE.version, trace.version ?? options.version);
  // The environment is also each observation's own: it goes on every span, joined trace or not.
  const raw = trace.environment;
  if (raw !== undefined) {
    const environment = normalizeEnvironment(raw);
    if (environment === undefined) options.onInvalidEnvironment?.(raw);
    out.set(LANGFUSE.environment, environment ?? options.environment);
  } else {
    out.set(LANGFUSE.environment, options.environment);
  }
}

function writeLevel(out: Writer, step: Step): void {
  if (step.status === 'error') {
    out.set(LANGFUSE.observationLevel, 'ERROR');
    out.set(LANGFUSE.observationStatusMessage, step.error?.message || step.error?.type || 'error');
  } else if (step.kind === 'guardrail' && step.decision === 'block') {
    out.set(LANGFUSE.observationLevel, 'WARNING');
    out.set(LANGFUSE.observationStatusMessage, step.reason ?? 'blocked by guardrail');
  } else {
    out.set(LANGFUSE.observationLevel, 'DEFAULT');
  }
}

function writeGeneration(out: Writer, step: StepOf<'llm'> | StepOf<'embedding'>): void {
  out.set(LANGFUSE.observationModel, step.responseModel ?? step.model);
  // Both are flat records of finite numbers made here: JSON as they are.
  out.numbers(LANGFUSE.observationUsageDetails, usageDetails(step.usage));
  out.numbers(LANGFUSE.observationCostDetails, costDetails(step.cost));
  if (step.kind !== 'llm') return;
  out.json(LANGFUSE.observationModelParameters, modelParameters(step));
  out.set(LANGFUSE.observationCompletionStartTime, completionStartTime(step));
  if (step.promptName !== undefined) {
    out.set(LANGFUSE.observationPromptName, step.promptName);
    out.set(LANGFUSE.observationPromptVersion, promptVersion(step.promptVersion));
  }
}

/** The base mapping's options for these: no content, no trace fields or records (see `bare`). */
const baseOptions = new WeakMap<LangfuseMapOptions, LangfuseMapOptions>();

function baseOptionsOf(options: LangfuseMapOptions): LangfuseMapOptions {
  let base = baseOptions.get(options);
  if (base === undefined) {
    base = { ...options, captureContent: false, bare: true };
    baseOptions.set(options, base);
  }
  return base;
}

/**
 * Maps a step to a span Langfuse files correctly: the GenAI mapping of @spanchain/otel (kept,
 * since Langfuse reads `gen_ai.*` too) with `langfuse.observation.*` attributes, the trace-level
 * attributes this run may write (`step.traceKeys`) on every span, and without the content
 * attributes that `langfuse.observation.input/output` duplicate. The span is named after the step.
 */
export function langfuseMapper(step: Step, options: LangfuseMapOptions): SpanData {
  // Content is written once, in Langfuse's own attributes, and so are the trace's fields and the
  // app's metadata and attributes: the base mapping leaves them all out (`bare`).
  const base = mapStep(step, baseOptionsOf(options));
  const attributes = base.attributes;
  const budgets = budgetsOf(options.limits);
  const out = new Writer(attributes, budgets);
  // The app's own attributes take their keys from the budget first, and are written last.
  const own = keysOf(step.attributes, budgets);
  const ownCount = own === undefined ? 0 : out.take(own.keys.length);
  if (own !== undefined && (own.cut || ownCount < own.keys.length)) out.noteCut('attributes');

  out.set(LANGFUSE.observationType, OBSERVATION_TYPE[step.kind]);
  if (options.captureContent) {
    const inputLists = new ListBudget(budgets);
    const outputLists = new ListBudget(budgets);
    const content = contentOf(step, inputLists, outputLists);
    if (content.input !== undefined) {
      out.json(LANGFUSE.observationInput, content.input, content.inputField);
      if (inputLists.cut) out.noteCut(content.inputField);
    }
    if (content.output !== undefined) {
      out.json(LANGFUSE.observationOutput, content.output, content.outputField);
      if (outputLists.cut) out.noteCut(content.outputField);
    }
  }
  out.metadata(LANGFUSE.observationMetadataPrefix, step.metadata, 'metadata');
  if (step.identity && Object.keys(step.identity).length > 0) {
    const identity: Record<string, string> = {};
    for (const [key, value] of Object.entries(step.identity))
      if (value !== undefined) identity[snake(key)] = value;
    out.json(`${LANGFUSE.observationMetadataPrefix}identity`, identity);
  }
  if (step.kind === 'llm' || step.kind === 'embedding') {
    writeGeneration(out, step);
  } else {
    for (const name of MODEL_NAMES) if (attributes[name] !== undefined) delete attributes[name];
    if (step.kind === 'rerank' && step.model !== undefined) {
      out.set(`${LANGFUSE.observationMetadataPrefix}model`, step.responseModel ?? step.model);
    }
  }
  writeLevel(out, step);
  writeTrace(out, step, options);
  if (out.dropped > 0) attributes[SPANCHAIN.attributesDropped] = out.dropped;
  const given = Array.isArray(step.truncated) ? step.truncated.slice(0, budgets.maxItems) : [];
  if (given.length > 0 || out.cut.length > 0) {
    attributes[SPANCHAIN.truncated] = [
      ...new Set([...given, ...out.cut].map((f) => cutText(String(f), budgets))),
    ];
  }

  // The app's own attributes still win over everything derived.
  for (let i = 0; own !== undefined && i < ownCount; i++) {
    const key = own.keys[i] as string;
    const raw = own.record[key];
    const name = cutText(key, budgets);
    const value = fitAttribute(raw, budgets);
    if (value !== undefined) attributes[name] = value;
    // An explicit null leaves the derived attribute of that name out, as it always did.
    else if (raw === null) delete attributes[name];
  }
  const data: SpanData = base;
  data.name = step.name;
  // Langfuse takes a span without a parent for the trace's root and gives it the trace's name,
  // input and output. A step that joined a trace by id alone (no parent span id) must not: it
  // gets a stable parent id derived from the trace id, which Langfuse accepts without the parent.
  if (step.parentSpanId === undefined && step.parentIsRemote)
    data.parentSpanId = joinedParentId(step.traceId);
  return data;
}

/** The parent span id given to steps that join a trace by id alone: the same for every such step. */
export function joinedParentId(traceId: string): string {
  return createHash('sha256').update(`spanchain-joined:${traceId}`).digest('hex').slice(0, 16);
}
