/**
 * Step → span in OpenInference's vocabulary (CONTRACTS §5.2), the attributes Phoenix reads:
 * `openinference.span.kind`, `input.value`/`output.value` with their MIME types, flattened LLM
 * messages, token counts, documents, tool and agent names, embeddings, sessions, users, metadata
 * and tags. Every name comes from `./names.js` (Arize's package). A pure function of the step and
 * the options, run when a batch is exported, never on the traced code's path.
 */
import {
  type Attributes,
  type AttributeValue,
  SpanKind,
  type SpanStatus,
  SpanStatusCode,
} from '@opentelemetry/api';
import {
  type Budgets,
  budgetsOf,
  type ContentPart,
  cutText,
  type Document,
  keysOf,
  ListBudget,
  type Message,
  type Step,
  type StepOf,
  safeStringify,
  type ToolCall,
  type ToolDefinition,
  type Usage,
} from '@spanchain/core';
import { fitAttribute, type MapOptions, SEMCONV, type SpanData, type SpanEventData } from '@spanchain/otel';
import {
  AnnotatorKind,
  EMBEDDING_SPAN_NAME,
  MimeType,
  providerValues,
  REDACTED_VALUE,
  SemanticConventions as SC,
  SPAN_KIND,
} from './names.js';

/** OpenInference's hide switches (spec/configuration.md), on top of spanchain's own redaction. */
export interface HideFlags {
  /** `input.value` becomes `__REDACTED__` (its MIME type is left out); input messages and the tools offered are left out. */
  inputs: boolean;
  /** `output.value` becomes `__REDACTED__`; output messages are left out. */
  outputs: boolean;
  /** Input messages are left out. */
  inputMessages: boolean;
  /** Output messages are left out. */
  outputMessages: boolean;
  /** Image URLs of input messages are left out. */
  inputImages: boolean;
  /** Text of input messages becomes `__REDACTED__`. */
  inputText: boolean;
  /** Text of output messages becomes `__REDACTED__`. */
  outputText: boolean;
  /** Embedding vectors become `__REDACTED__`. */
  embeddingsVectors: boolean;
  /** Embedded texts become `__REDACTED__`. */
  embeddingsText: boolean;
  /** `llm.invocation_parameters` is left out. */
  llmInvocationParameters: boolean;
  /** The tools offered to the model (`llm.tools.*`) are left out. */
  llmTools: boolean;
}

export const NO_HIDE: Readonly<HideFlags> = Object.freeze({
  inputs: false,
  outputs: false,
  inputMessages: false,
  outputMessages: false,
  inputImages: false,
  inputText: false,
  outputText: false,
  embeddingsVectors: false,
  embeddingsText: false,
  llmInvocationParameters: false,
  llmTools: false,
});

/** OpenInference's default for `OPENINFERENCE_BASE64_IMAGE_MAX_LENGTH`. */
export const DEFAULT_BASE64_IMAGE_MAX_LENGTH = 32_000;

export interface PhoenixMapOptions extends MapOptions {
  /** What to hide (the `OPENINFERENCE_HIDE_*` switches); nothing by default. */
  hide?: Partial<HideFlags>;
  /** Base64 image URLs longer than this become `__REDACTED__`. Default 32000. */
  base64ImageMaxLength?: number;
}

/** Options resolved once per options object (the plugin passes the same one for every span). */
interface Context {
  content: boolean;
  hide: HideFlags;
  /** The `limits` budgets (@spanchain/core's `budgetsOf`). */
  budgets: Budgets;
  base64Max: number;
}

const contexts = new WeakMap<PhoenixMapOptions, Context>();

function contextOf(options: PhoenixMapOptions): Context {
  let ctx = contexts.get(options);
  if (ctx === undefined) {
    const max = options.base64ImageMaxLength;
    ctx = {
      content: options.captureContent,
      hide: { ...NO_HIDE, ...options.hide },
      budgets: budgetsOf(options.limits),
      base64Max:
        typeof max === 'number' && Number.isInteger(max) && max > 0 ? max : DEFAULT_BASE64_IMAGE_MAX_LENGTH,
    };
    contexts.set(options, ctx);
  }
  return ctx;
}

/**
 * Attribute building: text within the budgets, JSON for the rest, nothing for undefined. The
 * span's content lists (messages, parts, tool calls, documents) share one {@link ListBudget}, so
 * that nested lists cannot multiply: `take(length)` says how many items of a list to flatten.
 */
class Out extends ListBudget {
  readonly attributes: Attributes = {};
  constructor(readonly ctx: Context) {
    super(ctx.budgets);
  }

  set(key: string, value: AttributeValue | undefined): void {
    if (value !== undefined) this.attributes[key] = value;
  }

  /** A string cut to `maxStringLength` with the serialiser's marker. */
  text(value: string): string {
    return cutText(value, this.budgets);
  }

  /** JSON text of anything; a string stays as it is. */
  json(value: unknown): string {
    if (typeof value === 'string') return this.text(value);
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    return safeStringify(value, this.budgets.limits).text;
  }

  /** `input.value`/`output.value` and the MIME type: text/plain for strings, JSON otherwise. */
  io(valueKey: string, mimeKey: string, value: unknown, hidden: boolean): void {
    if (value === undefined) return;
    if (hidden) {
      // What OpenInference's own masking does: the marker, and no MIME type.
      this.attributes[valueKey] = REDACTED_VALUE;
      return;
    }
    if (typeof value === 'string') {
      this.attributes[valueKey] = this.text(value);
      this.attributes[mimeKey] = MimeType.TEXT;
    } else {
      this.attributes[valueKey] = this.json(value);
      this.attributes[mimeKey] = MimeType.JSON;
    }
  }
}

const count = (n: number | undefined): number | undefined =>
  typeof n === 'number' && Number.isFinite(n) ? Math.max(0, Math.round(n)) : undefined;

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

// ---------------------------------------------------------------------------------------------
// Messages: `<prefix>.<i>.message.*`, parts under `message.contents.<j>.message_content.*`

interface MessageHide {
  /** Replace text with the marker. */
  text: boolean;
  /** Leave image URLs out. */
  images: boolean;
}

function isBase64Image(url: string): boolean {
  return url.startsWith('data:image/') && url.includes('base64');
}

function imageUrlOf(part: Record<string, unknown>): string | undefined {
  if (typeof part.url === 'string') return part.url;
  if (typeof part.uri === 'string') return part.uri;
  const nested = part.image_url;
  if (isRecord(nested) && typeof nested.url === 'string') return nested.url;
  return typeof nested === 'string' ? nested : undefined;
}

function writePart(out: Out, prefix: string, part: ContentPart, hide: MessageHide): void {
  if (!isRecord(part)) return;
  const p = part as Record<string, unknown>;
  const type = typeof p.type === 'string' ? p.type : 'text';
  if (type === 'image' || type === 'image_url') {
    out.set(prefix + SC.MESSAGE_CONTENT_TYPE, 'image');
    const url = imageUrlOf(p);
    if (url === undefined || hide.images) return;
    const tooLong = isBase64Image(url) && url.length > out.ctx.base64Max;
    out.set(`${prefix}${SC.MESSAGE_CONTENT_IMAGE}.${SC.IMAGE_URL}`, tooLong ? REDACTED_VALUE : url);
    return;
  }
  out.set(prefix + SC.MESSAGE_CONTENT_TYPE, type);
  const text = typeof p.text === 'string' ? p.text : typeof p.content === 'string' ? p.content : undefined;
  if (text !== undefined)
    out.set(prefix + SC.MESSAGE_CONTENT_TEXT, hide.text ? REDACTED_VALUE : out.text(text));
}

function writeToolCalls(out: Out, prefix: string, calls: readonly ToolCall[]): void {
  const n = out.take(calls.length);
  for (let k = 0; k < n; k++) {
    const call = calls[k];
    if (!isRecord(call)) continue;
    const p = `${prefix}${SC.MESSAGE_TOOL_CALLS}.${k}.`;
    if (call.id !== undefined) out.set(p + SC.TOOL_CALL_ID, String(call.id));
    out.set(p + SC.TOOL_CALL_FUNCTION_NAME, call.name);
    if (call.arguments !== undefined)
      out.set(p + SC.TOOL_CALL_FUNCTION_ARGUMENTS_JSON, out.json(call.arguments));
  }
}

function writeMessage(out: Out, prefix: string, message: Message, hide: MessageHide): void {
  if (!isRecord(message)) {
    if (message !== undefined && message !== null) {
      out.set(prefix + SC.MESSAGE_ROLE, 'user');
      out.set(prefix + SC.MESSAGE_CONTENT, hide.text ? REDACTED_VALUE : out.json(message));
    }
    return;
  }
  out.set(prefix + SC.MESSAGE_ROLE, typeof message.role === 'string' ? message.role : undefined);
  if (typeof message.name === 'string') out.set(prefix + SC.MESSAGE_NAME, message.name);
  const { content } = message;
  if (typeof content === 'string') {
    out.set(prefix + SC.MESSAGE_CONTENT, hide.text ? REDACTED_VALUE : out.text(content));
  } else if (Array.isArray(content)) {
    const n = out.take(content.length);
    for (let j = 0; j < n; j++) {
      writePart(out, `${prefix}${SC.MESSAGE_CONTENTS}.${j}.`, content[j] as ContentPart, hide);
    }
  }
  if (Array.isArray(message.toolCalls) && message.toolCalls.length > 0)
    writeToolCalls(out, prefix, message.toolCalls);
  if (message.toolCallId !== undefined) out.set(prefix + SC.MESSAGE_TOOL_CALL_ID, String(message.toolCallId));
}

function writeMessages(
  out: Out,
  key: string,
  messages: readonly Message[],
  hide: MessageHide,
  from = 0,
): void {
  if (!Array.isArray(messages)) return;
  const n = out.take(messages.length, out.budgets.maxItems - from);
  for (let i = 0; i < n; i++) writeMessage(out, `${key}.${i + from}.`, messages[i] as Message, hide);
}

// ---------------------------------------------------------------------------------------------
// Documents: `<prefix>.<i>.document.{id,content,score,metadata}`

function writeDocuments(out: Out, key: string, documents: readonly Document[]): void {
  if (!Array.isArray(documents)) return;
  const n = out.take(documents.length);
  for (let i = 0; i < n; i++) {
    const doc = documents[i];
    if (!isRecord(doc)) continue;
    const p = `${key}.${i}.`;
    if (typeof doc.id === 'string' || typeof doc.id === 'number') out.set(p + SC.DOCUMENT_ID, doc.id);
    if (typeof doc.content === 'string') out.set(p + SC.DOCUMENT_CONTENT, out.text(doc.content));
    if (typeof doc.score === 'number' && Number.isFinite(doc.score))
      out.set(p + SC.DOCUMENT_SCORE, doc.score);
    // Phoenix parses document metadata as a JSON object.
    if (isRecord(doc.metadata) && Object.keys(doc.metadata).length > 0)
      out.set(p + SC.DOCUMENT_METADATA, out.json(doc.metadata));
  }
}

// ---------------------------------------------------------------------------------------------
// LLM calls

/** `llm.invocation_parameters`: the request parameters, snake_case, as the provider APIs name them. */
export function invocationParameters(step: StepOf<'llm'>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const params = step.params;
  if (params) {
    for (const key of Object.keys(params)) {
      const value = params[key];
      if (value !== undefined && value !== null) out[snake(key)] = value;
    }
  }
  if (step.stream) out.stream = true;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The `tool.json_schema` of one tool offered to the model, in the OpenAI function shape. */
function toolSchema(tool: ToolDefinition): Record<string, unknown> {
  const fn: Record<string, unknown> = { name: tool.name };
  if (tool.description !== undefined) fn.description = tool.description;
  if (tool.parameters !== undefined) fn.parameters = tool.parameters;
  return { type: tool.type ?? 'function', function: fn };
}

/**
 * `llm.token_count.*`. spanchain's counts have the OpenInference meaning already: `inputTokens`
 * include cached and cache-write tokens (OpenInference's `prompt` does too, with the parts under
 * `prompt_details`), and `outputTokens` include reasoning tokens.
 */
function writeTokenCounts(out: Out, usage: Usage | undefined, embedding: boolean): void {
  if (!usage) return;
  const prompt = count(usage.inputTokens);
  const completion = embedding ? undefined : count(usage.outputTokens);
  out.set(SC.LLM_TOKEN_COUNT_PROMPT, prompt);
  out.set(SC.LLM_TOKEN_COUNT_COMPLETION, completion);
  const total =
    count(usage.totalTokens) ??
    (prompt !== undefined || completion !== undefined ? (prompt ?? 0) + (completion ?? 0) : undefined);
  out.set(SC.LLM_TOKEN_COUNT_TOTAL, total);
  if (embedding) return;
  out.set(SC.LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ, count(usage.cachedInputTokens));
  out.set(SC.LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_WRITE, count(usage.cacheCreationInputTokens));
  out.set(SC.LLM_TOKEN_COUNT_COMPLETION_DETAILS_REASONING, count(usage.reasoningTokens));
}

/** `llm.cost.*` is in USD; costs in other currencies are left out. */
function writeCost(out: Out, cost: StepOf<'llm'>['cost']): void {
  if (cost === undefined || typeof cost.currency !== 'string' || cost.currency.toUpperCase() !== 'USD')
    return;
  const finite = (n: number | undefined) => (typeof n === 'number' && Number.isFinite(n) ? n : undefined);
  out.set(SC.LLM_COST_PROMPT, finite(cost.input));
  out.set(SC.LLM_COST_COMPLETION, finite(cost.output));
  out.set(SC.LLM_COST_TOTAL, finite(cost.total));
}

function writeLlm(out: Out, step: StepOf<'llm'>): void {
  const { ctx } = out;
  const { hide } = ctx;
  // `llm.model_name` is the model that answered when known; request and response names only
  // when they differ (spec: set them when the API tells them apart).
  out.set(SC.LLM_MODEL_NAME, step.responseModel ?? step.model);
  if (step.model !== undefined && step.responseModel !== undefined && step.model !== step.responseModel) {
    out.set(SC.LLM_REQUEST_MODEL_NAME, step.model);
    out.set(SC.LLM_RESPONSE_MODEL_NAME, step.responseModel);
  }
  const provider = providerValues(step.provider);
  if (provider) {
    out.set(SC.LLM_PROVIDER, provider.provider);
    out.set(SC.LLM_SYSTEM, provider.system);
  }
  if (!hide.llmInvocationParameters) {
    const params = invocationParameters(step);
    if (params) out.set(SC.LLM_INVOCATION_PARAMETERS, out.json(params));
  }
  writeTokenCounts(out, step.usage, false);
  writeCost(out, step.cost);
  if (step.finishReasons && step.finishReasons.length > 0)
    out.set(SC.LLM_FINISH_REASON, step.finishReasons[0]);
  if (step.promptName !== undefined) out.set(SC.PROMPT_ID, step.promptName);
  if (step.promptVersion !== undefined) out.set(SC.PROMPT_TEMPLATE_VERSION, String(step.promptVersion));
  if (!ctx.content) return;

  if (!hide.inputs && !hide.inputMessages) {
    const inputHide = { text: hide.inputText, images: hide.inputImages };
    let from = 0;
    if (step.systemInstructions !== undefined) {
      // OpenInference has no separate system instructions: they are the first input message.
      writeMessage(
        out,
        `${SC.LLM_INPUT_MESSAGES}.0.`,
        { role: 'system', content: step.systemInstructions },
        inputHide,
      );
      from = 1;
    }
    if (step.inputMessages) writeMessages(out, SC.LLM_INPUT_MESSAGES, step.inputMessages, inputHide, from);
  }
  if (!hide.outputs && !hide.outputMessages) {
    const outputHide = { text: hide.outputText, images: false };
    if (step.outputMessages) writeMessages(out, SC.LLM_OUTPUT_MESSAGES, step.outputMessages, outputHide);
    else if (step.toolCalls && step.toolCalls.length > 0) {
      writeMessage(
        out,
        `${SC.LLM_OUTPUT_MESSAGES}.0.`,
        { role: 'assistant', toolCalls: step.toolCalls },
        outputHide,
      );
    }
  }
  if (Array.isArray(step.tools) && step.tools.length > 0 && !hide.inputs && !hide.llmTools) {
    const n = out.take(step.tools.length);
    for (let i = 0; i < n; i++) {
      const tool = step.tools[i];
      if (isRecord(tool))
        out.set(`${SC.LLM_TOOLS}.${i}.${SC.TOOL_JSON_SCHEMA}`, out.json(toolSchema(tool as ToolDefinition)));
    }
  }
}

/** What an LLM step shows as input and output when it has no plain `input`/`output`. */
function llmContent(step: StepOf<'llm'>): { input: unknown; output: unknown } {
  let input = step.input;
  if (input === undefined && step.inputMessages !== undefined) {
    input =
      step.systemInstructions === undefined
        ? { messages: step.inputMessages }
        : { system: step.systemInstructions, messages: step.inputMessages };
  }
  let output = step.output;
  if (output === undefined) {
    if (step.outputMessages !== undefined) {
      const only = step.outputMessages.length === 1 ? step.outputMessages[0] : undefined;
      output =
        typeof only?.content === 'string' && !only.toolCalls?.length ? only.content : step.outputMessages;
    } else if (step.toolCalls && step.toolCalls.length > 0) {
      output = { tool_calls: step.toolCalls };
    }
  }
  return { input, output };
}

// ---------------------------------------------------------------------------------------------
// Other kinds

/** Whether the first `length` items of `list` are all numbers. */
function allNumbers(list: readonly unknown[], length: number): boolean {
  for (let i = 0; i < length; i++) if (typeof list[i] !== 'number') return false;
  return true;
}

/**
 * Embedding vectors in the output: one per text (`number[][]`) or a single one (`number[]`),
 * with at most `maxNumbers` numbers in all (more would not fit the byte budget: the output is
 * then sent as JSON within the budgets instead). Reads no more than that, whatever the lengths say.
 */
function vectorsOf(output: unknown, maxNumbers: number): number[][] | undefined {
  if (!Array.isArray(output) || output.length === 0 || output.length > maxNumbers) return undefined;
  if (typeof output[0] === 'number')
    return allNumbers(output, output.length) ? [output as number[]] : undefined;
  let numbers = 0;
  for (let i = 0; i < output.length; i++) {
    const v: unknown = output[i];
    if (!Array.isArray(v)) return undefined;
    numbers += v.length;
    if (numbers > maxNumbers || !allNumbers(v, v.length)) return undefined;
  }
  return output as number[][];
}

/** Returns whether the output was written as vectors (so `output.value` does not repeat it). */
function writeEmbedding(out: Out, step: StepOf<'embedding'>): boolean {
  const { ctx } = out;
  out.set(SC.EMBEDDING_MODEL_NAME, step.responseModel ?? step.model);
  writeTokenCounts(out, step.usage, true);
  if (!ctx.content) return false;
  const texts = Array.isArray(step.texts) ? step.texts : undefined;
  // Vectors are numbers, not text: the byte budget decides whether they go at all.
  const vectors = vectorsOf(step.output, Math.floor(ctx.budgets.maxBytes / 8));
  const n = out.take(Math.max(texts?.length ?? 0, vectors?.length ?? 0));
  const vectorsFit = vectors !== undefined;
  for (let i = 0; i < n; i++) {
    const p = `${SC.EMBEDDING_EMBEDDINGS}.${i}.`;
    const text = texts?.[i];
    if (typeof text === 'string')
      out.set(p + SC.EMBEDDING_TEXT, ctx.hide.embeddingsText ? REDACTED_VALUE : out.text(text));
    const vector = vectors?.[i];
    if (vector !== undefined && vectorsFit)
      out.set(p + SC.EMBEDDING_VECTOR, ctx.hide.embeddingsVectors ? REDACTED_VALUE : vector);
  }
  return vectorsFit;
}

function writeGuardrail(out: Out, step: StepOf<'guardrail'>): void {
  if (step.decision === undefined && step.reason === undefined) return;
  // The result as span feedback (spec/annotations.md): name, the decision as label, the reason as explanation.
  const p = `${SC.ANNOTATIONS}.0.`;
  out.set(p + SC.ANNOTATION_NAME, step.guardrailName ?? step.name);
  out.set(p + SC.ANNOTATION_LABEL, step.decision);
  if (step.reason !== undefined) out.set(p + SC.ANNOTATION_EXPLANATION, out.text(step.reason));
  out.set(p + SC.ANNOTATION_ANNOTATOR_KIND, AnnotatorKind.CODE);
  if (step.target !== undefined) out.set(p + SC.ANNOTATION_METADATA, out.json({ target: step.target }));
}

/** Writes the kind's own attributes; returns the input and output shown as `input.value`/`output.value`. */
function writeKind(out: Out, step: Step): { input: unknown; output: unknown } {
  const content = out.ctx.content;
  switch (step.kind) {
    case 'llm':
      writeLlm(out, step);
      return llmContent(step);
    case 'embedding': {
      const vectors = writeEmbedding(out, step);
      return { input: step.input ?? step.texts, output: vectors ? undefined : step.output };
    }
    case 'retrieval': {
      const documents = content && step.documents !== undefined;
      if (documents) writeDocuments(out, SC.RETRIEVAL_DOCUMENTS, step.documents as Document[]);
      return { input: step.query ?? step.input, output: documents ? undefined : step.output };
    }
    case 'rerank': {
      out.set(SC.RERANKER_MODEL_NAME, step.responseModel ?? step.model);
      out.set(SC.RERANKER_TOP_K, count(step.topN));
      if (content) {
        if (step.query !== undefined) out.set(SC.RERANKER_QUERY, out.text(step.query));
        if (step.documents) writeDocuments(out, SC.RERANKER_INPUT_DOCUMENTS, step.documents);
        if (step.rerankedDocuments) writeDocuments(out, SC.RERANKER_OUTPUT_DOCUMENTS, step.rerankedDocuments);
      }
      return {
        input: step.input ?? step.query,
        output: content && step.rerankedDocuments !== undefined ? undefined : step.output,
      };
    }
    case 'tool':
      out.set(SC.TOOL_NAME, step.toolName ?? step.name);
      out.set(SC.TOOL_DESCRIPTION, step.toolDescription);
      out.set(SC.TOOL_ID, step.toolCallId);
      return { input: step.arguments ?? step.input, output: step.result ?? step.output };
    case 'agent':
      out.set(SC.AGENT_NAME, step.agentName ?? step.name);
      return { input: step.input, output: step.output };
    case 'prompt':
      if (step.templateName !== undefined) out.set(SC.PROMPT_ID, step.templateName);
      if (step.templateVersion !== undefined)
        out.set(SC.PROMPT_TEMPLATE_VERSION, String(step.templateVersion));
      if (content) {
        if (step.template !== undefined) out.set(SC.PROMPT_TEMPLATE_TEMPLATE, out.json(step.template));
        // Phoenix parses the variables as a JSON object.
        if (isRecord(step.variables)) out.set(SC.PROMPT_TEMPLATE_VARIABLES, out.json(step.variables));
      }
      return {
        input: step.variables ?? step.input,
        output: step.messages ?? step.text ?? step.output,
      };
    case 'guardrail':
      writeGuardrail(out, step);
      return { input: step.input, output: step.output };
    default:
      return { input: step.input, output: step.output };
  }
}

// ---------------------------------------------------------------------------------------------
// Common: session, user, metadata, tags, status, events

const defineKey = (into: Record<string, unknown>, key: string, value: unknown): void => {
  // Defined, not assigned: a `__proto__` key stays data.
  Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true });
};

/**
 * One metadata object from the step's and the trace's (the step's win), with at most
 * `maxObjectKeys` keys in all, the step's taken first; keys left out are counted under `…`, as
 * the serialiser marks them. Room is kept for `identity`.
 */
function mergedMetadata(step: Step, budgets: Budgets): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  let left = Math.max(0, budgets.maxKeys - 2);
  let more = 0;
  for (const source of [keysOf(step.metadata, budgets), keysOf(step.trace.metadata, budgets)]) {
    if (source === undefined) continue;
    const { keys, record } = source;
    let i = 0;
    for (; i < keys.length && left > 0; i++) {
      const key = keys[i] as string;
      if (Object.hasOwn(metadata, key)) continue;
      const value = record[key];
      if (value === undefined) continue;
      defineKey(metadata, key, value);
      left--;
    }
    more += keys.length - i;
  }
  if (more > 0) metadata['…'] = `[${more} more keys]`;
  return metadata;
}

/** Trace and step tags, once each: at most `maxArrayLength` of them, each cut, `maxBytes` in all. */
function tagsOf(step: Step, out: Out): string[] {
  const { budgets } = out;
  const tags = new Set<string>();
  let bytes = 0;
  for (const list of [step.trace.tags, step.tags]) {
    if (!Array.isArray(list)) continue;
    const n = Math.min(list.length, budgets.maxItems);
    for (let i = 0; i < n && tags.size < budgets.maxItems; i++) {
      const tag: unknown = list[i];
      const text = typeof tag === 'string' ? out.text(tag) : out.json(tag);
      bytes += text.length;
      if (bytes > budgets.maxBytes) return [...tags];
      tags.add(text);
    }
  }
  return [...tags];
}

function writeCommon(out: Out, step: Step): void {
  const { trace } = step;
  out.set(SC.SESSION_ID, trace.sessionId);
  out.set(SC.USER_ID, trace.userId);
  const identity = step.identity && Object.keys(step.identity).length > 0 ? step.identity : undefined;
  // One JSON object (Phoenix parses `metadata`): the trace's, then the step's, then who ran it.
  const metadata = mergedMetadata(step, out.budgets);
  if (identity) {
    const who: Record<string, string> = {};
    for (const key of Object.keys(identity)) {
      const value = identity[key];
      if (value !== undefined) who[snake(key)] = value;
    }
    metadata.identity = who;
  }
  if (Object.keys(metadata).length > 0) out.set(SC.METADATA, out.json(metadata));
  const hasTags =
    (Array.isArray(trace.tags) && trace.tags.length > 0) ||
    (Array.isArray(step.tags) && step.tags.length > 0);
  if (hasTags) out.set(SC.TAG_TAGS, tagsOf(step, out));
}

/**
 * The app's own attributes, which win over everything derived: at most `maxObjectKeys` of them
 * (the count limit; the rest are left out), values within the budgets.
 */
function writeOwn(out: Out, step: Step): void {
  const source = keysOf(step.attributes, out.budgets);
  if (source === undefined) return;
  const n = Math.min(source.keys.length, out.budgets.maxKeys);
  for (let i = 0; i < n; i++) {
    const key = source.keys[i] as string;
    const raw = source.record[key];
    const name = out.text(key);
    const value = fitAttribute(raw, out.budgets);
    if (value !== undefined) out.attributes[name] = value;
    // An explicit null leaves the derived attribute of that name out, as it always did.
    else if (raw === null) delete out.attributes[name];
  }
}

function spanKindOf(step: Step): SpanKind {
  switch (step.kind) {
    case 'llm':
    case 'embedding':
    case 'retrieval':
      return SpanKind.CLIENT;
    default:
      return SpanKind.INTERNAL;
  }
}

function statusAndEvents(step: Step): { status: SpanStatus; events: SpanEventData[] } {
  const events: SpanEventData[] = [];
  for (const event of step.events) {
    events.push(
      event.attributes ? { name: event.name, time: event.time, attributes: event.attributes } : event,
    );
  }
  if (step.status === 'ok') return { status: { code: SpanStatusCode.OK }, events };
  if (step.status !== 'error') return { status: { code: SpanStatusCode.UNSET }, events };
  const { error } = step;
  const status: SpanStatus = {
    code: SpanStatusCode.ERROR,
    message: error?.message || error?.type || 'error',
  };
  if (error) {
    // Phoenix shows a failed span's `exception` event (OpenTelemetry's exception attributes).
    const attributes: Attributes = {
      [SEMCONV.exceptionType]: error.type,
      [SEMCONV.exceptionMessage]: error.message,
    };
    if (error.stack !== undefined) attributes[SEMCONV.exceptionStacktrace] = error.stack;
    events.push({ name: 'exception', time: step.endTime ?? step.startTime, attributes });
  }
  return { status, events };
}

/**
 * Maps a step to a span Phoenix shows as OpenInference instrumentation would: the span kind of
 * its step kind, content as `input.value`/`output.value` (text/plain for strings, JSON
 * otherwise), the kind's flattened attributes, and session, user, metadata and tags on every
 * span. Content is written only when `captureContent` is on, and the hide switches apply on top.
 * Embedding spans are named `CreateEmbeddings`, as the spec requires; others after the step.
 */
export function phoenixMapper(step: Step, options: PhoenixMapOptions): SpanData {
  const ctx = contextOf(options);
  const out = new Out(ctx);
  out.attributes[SC.OPENINFERENCE_SPAN_KIND] = SPAN_KIND[step.kind] ?? SPAN_KIND.custom;
  const { input, output } = writeKind(out, step);
  if (ctx.content) {
    out.io(SC.INPUT_VALUE, SC.INPUT_MIME_TYPE, input, ctx.hide.inputs);
    out.io(SC.OUTPUT_VALUE, SC.OUTPUT_MIME_TYPE, output, ctx.hide.outputs);
  }
  writeCommon(out, step);
  // The app's own attributes win over everything derived.
  writeOwn(out, step);
  const { status, events } = statusAndEvents(step);
  return {
    name: step.kind === 'embedding' ? EMBEDDING_SPAN_NAME : step.name,
    kind: spanKindOf(step),
    attributes: out.attributes,
    events,
    status,
  };
}
