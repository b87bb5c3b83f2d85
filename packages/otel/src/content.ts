/**
 * The GenAI conventions' JSON shapes for message content (`gen_ai.input.messages`,
 * `gen_ai.output.messages`, `gen_ai.system_instructions`, `gen_ai.tool.definitions`,
 * `gen_ai.retrieval.documents`), built from spanchain's typed step fields. Pure functions: the
 * result is plain data that the span mapper turns into a JSON string.
 *
 * The app's lists can be of any length (an array may say 2³²−1): every list is cut to the
 * budgets before it is mapped, and parts are read field by field, so the work is bounded by the
 * budgets, not by the input. The serialiser would cut the result anyway; this keeps the walk
 * that comes before it from costing seconds.
 */
import {
  type ContentPart,
  type Document,
  isBinary,
  keysOf,
  ListBudget,
  type Message,
  type ToolCall,
  type ToolDefinition,
  textOf,
} from '@spanchain/core';

export type GenAiPart = { type: string; [key: string]: unknown };
export interface GenAiMessage {
  role: string;
  parts: GenAiPart[];
  name?: string;
  finish_reason?: string;
}

/**
 * The lists of one content attribute, cut before they are mapped (the core's {@link ListBudget}:
 * each to `maxArrayLength`, all of them together to what `maxBytes` could hold).
 */
export class ContentBudget extends ListBudget {
  /**
   * `fn` of the first items of `list`, skipping holes and undefined items (a lone value that is
   * not an array counts as a list of one). Reads no item past the budget, whatever `length` says.
   */
  list<T, U>(list: unknown, fn: (item: T, index: number, budget: ContentBudget) => U): U[] {
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list)) return [fn(list as T, 0, this)];
    const n = this.take(list.length);
    const out: U[] = [];
    for (let i = 0; i < n; i++) {
      const item: unknown = list[i];
      if (item !== undefined) out.push(fn(item as T, i, this));
    }
    return out;
  }
}

const MODALITIES: Record<string, string> = { image: 'image', audio: 'audio', video: 'video' };

/** An object whose fields are read one by one: not an array, not binary data. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isBinary(value);
}

/** A text field: a string as it is (the serialiser cuts it), anything else described within the budgets. */
function textField(value: unknown, c: ContentBudget): string {
  return typeof value === 'string' ? value : textOf(value, c.budgets);
}

/** A part of a type the conventions do not name: its own fields (at most `maxObjectKeys`), with `type`. */
function genericPart(part: Record<string, unknown>, type: string, c: ContentBudget): GenAiPart {
  const out: GenAiPart = { type };
  const source = keysOf(part, c.budgets);
  if (source === undefined) return out;
  const { keys, record } = source;
  const n = Math.min(keys.length, c.budgets.maxKeys);
  if (source.cut || n < keys.length) c.cut = true;
  for (let i = 0; i < n; i++) {
    const key = keys[i] as string;
    if (key === 'type') continue;
    // Defined, not assigned: a `__proto__` key stays data.
    Object.defineProperty(out, key, {
      value: record[key],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** One spanchain content part as a GenAI part. */
function toPart(part: unknown, _index: number, c: ContentBudget): GenAiPart {
  if (typeof part === 'string') return { type: 'text', content: part };
  // Binary data is described (`[Buffer 1048576 bytes]`), never walked item by item.
  if (!isRecord(part)) return { type: 'text', content: textField(part, c) };
  const { type } = part;
  if (type === 'text' || type === 'reasoning') {
    return { type, content: textField(part.text ?? part.content ?? '', c) };
  }
  const modality = typeof type === 'string' ? MODALITIES[type] : undefined;
  if (modality !== undefined) {
    const { url, uri, mimeType, data } = part;
    const mime = typeof mimeType === 'string' ? { mime_type: mimeType } : {};
    if (typeof data === 'string') return { type: 'blob', modality, content: data, ...mime };
    const target = typeof url === 'string' ? url : typeof uri === 'string' ? uri : '';
    return { type: 'uri', modality, uri: target, ...mime };
  }
  // Any other part keeps its own shape: the conventions allow generic parts with a `type`.
  return genericPart(part, typeof type === 'string' ? type : 'unknown', c);
}

function toolCallPart(call: unknown, _index: number, c: ContentBudget): GenAiPart {
  if (!isRecord(call)) return { type: 'tool_call', name: textField(call, c) };
  const part: GenAiPart = { type: 'tool_call', name: (call as unknown as ToolCall).name };
  if (call.id !== undefined) part.id = call.id;
  if (call.arguments !== undefined) part.arguments = call.arguments;
  return part;
}

function contentParts(content: unknown, c: ContentBudget): GenAiPart[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', content }];
  if (Array.isArray(content)) return c.list(content, toPart);
  return [toPart(content, 0, c)];
}

function toMessage(message: unknown, c: ContentBudget): GenAiMessage {
  if (!isRecord(message)) return { role: 'user', parts: contentParts(textField(message, c), c) };
  const m = message as unknown as Message;
  const role = typeof m.role === 'string' ? m.role : 'user';
  let parts: GenAiPart[];
  if (role === 'tool' && m.toolCallId !== undefined) {
    // A tool result answers a call: the schema's field is `response` (not `result`).
    const part: GenAiPart = {
      type: 'tool_call_response',
      id: m.toolCallId,
      response: m.content ?? null,
    };
    parts = [part];
  } else {
    parts = contentParts(m.content, c);
  }
  if (Array.isArray(m.toolCalls)) for (const call of c.list(m.toolCalls, toolCallPart)) parts.push(call);
  const out: GenAiMessage = { role, parts };
  if (typeof m.name === 'string') out.name = m.name;
  return out;
}

/** `gen_ai.input.messages`: `[{ role, parts, name? }]`. */
export function inputMessages(messages: readonly Message[], c: ContentBudget): GenAiMessage[] {
  return c.list(messages, (message: unknown) => toMessage(message, c));
}

/**
 * `gen_ai.output.messages`: one message per choice, each with the `finish_reason` the schema
 * requires: the message's own, else the step's reason for that choice, else `error` for a
 * failed call and `stop` for a completed one.
 */
export function outputMessages(
  messages: readonly Message[],
  finishReasons: readonly string[] | undefined,
  failed: boolean,
  c: ContentBudget,
): GenAiMessage[] {
  return c.list(messages, (message: unknown, index) => {
    const out = toMessage(message, c);
    const own =
      isRecord(message) && typeof message.finishReason === 'string' ? message.finishReason : undefined;
    out.finish_reason = own ?? finishReasons?.[index] ?? finishReasons?.[0] ?? (failed ? 'error' : 'stop');
    return out;
  });
}

/** Output messages for a call that recorded only tool calls (no message list). */
export function outputFromToolCalls(
  calls: readonly ToolCall[],
  finishReason: string | undefined,
  c: ContentBudget,
): GenAiMessage[] {
  return [
    { role: 'assistant', parts: c.list(calls, toolCallPart), finish_reason: finishReason ?? 'tool_call' },
  ];
}

/** `gen_ai.system_instructions`: an array of parts. */
export function systemInstructions(value: string | ContentPart[], c: ContentBudget): GenAiPart[] {
  return contentParts(value, c);
}

/** `gen_ai.tool.definitions`: `[{ type: 'function', name, description?, parameters? }]`. */
export function toolDefinitions(tools: readonly ToolDefinition[], c: ContentBudget): GenAiPart[] {
  return c.list(tools, (tool: unknown) => {
    if (!isRecord(tool)) return { type: 'function', name: textField(tool, c) };
    const t = tool as unknown as ToolDefinition;
    const out: GenAiPart = { type: t.type ?? 'function', name: t.name };
    if (t.description !== undefined) out.description = t.description;
    if (t.parameters !== undefined) out.parameters = t.parameters;
    return out;
  });
}

/**
 * `gen_ai.retrieval.documents`: `[{ id, score, ... }]`. A document without an id gets its
 * position as id; one without a score has none (the schema wants one, and spanchain does not
 * invent relevance). Content and metadata ride along as additional properties.
 */
export function retrievalDocuments(
  documents: readonly Document[],
  c: ContentBudget,
): Record<string, unknown>[] {
  return c.list(documents, (doc: unknown, index) => {
    if (!isRecord(doc)) return { id: String(index), content: doc };
    const d = doc as unknown as Document;
    const out: Record<string, unknown> = {
      id:
        typeof d.id === 'string'
          ? d.id
          : d.id === undefined || d.id === null
            ? String(index)
            : textField(d.id, c),
    };
    if (typeof d.score === 'number') out.score = d.score;
    if (d.content !== undefined) out.content = d.content;
    if (d.metadata !== undefined) out.metadata = d.metadata;
    return out;
  });
}
