/**
 * The GenAI conventions' JSON shapes for message content (`gen_ai.input.messages`,
 * `gen_ai.output.messages`, `gen_ai.system_instructions`, `gen_ai.tool.definitions`,
 * `gen_ai.retrieval.documents`), built from spanchain's typed step fields. Pure functions: the
 * result is plain data that the span mapper turns into a JSON string.
 */
import type { ContentPart, Document, Message, ToolCall, ToolDefinition } from '@spanchain/core';

export type GenAiPart = { type: string; [key: string]: unknown };
export interface GenAiMessage {
  role: string;
  parts: GenAiPart[];
  name?: string;
  finish_reason?: string;
}

const MODALITIES: Record<string, string> = { image: 'image', audio: 'audio', video: 'video' };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One spanchain content part as a GenAI part. */
function toPart(part: ContentPart | string): GenAiPart {
  if (typeof part === 'string') return { type: 'text', content: part };
  if (!isRecord(part)) return { type: 'text', content: String(part) };
  const { type } = part;
  if (type === 'text') {
    const text = (part as { text?: unknown }).text ?? (part as { content?: unknown }).content;
    return { type: 'text', content: typeof text === 'string' ? text : String(text ?? '') };
  }
  if (type === 'reasoning') {
    const text = (part as { text?: unknown }).text ?? (part as { content?: unknown }).content;
    return { type: 'reasoning', content: typeof text === 'string' ? text : String(text ?? '') };
  }
  const modality = MODALITIES[type];
  if (modality !== undefined) {
    const { url, uri, mimeType, data } = part as {
      url?: unknown;
      uri?: unknown;
      mimeType?: unknown;
      data?: unknown;
    };
    const mime = typeof mimeType === 'string' ? { mime_type: mimeType } : {};
    if (typeof data === 'string') return { type: 'blob', modality, content: data, ...mime };
    const target = typeof url === 'string' ? url : typeof uri === 'string' ? uri : '';
    return { type: 'uri', modality, uri: target, ...mime };
  }
  // Any other part keeps its own shape: the conventions allow generic parts with a `type`.
  return { ...part, type: typeof type === 'string' ? type : 'unknown' };
}

function toolCallPart(call: ToolCall): GenAiPart {
  const part: GenAiPart = { type: 'tool_call', name: call.name };
  if (call.id !== undefined) part.id = call.id;
  if (call.arguments !== undefined) part.arguments = call.arguments;
  return part;
}

function contentParts(content: Message['content']): GenAiPart[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', content }];
  if (Array.isArray(content)) return content.map(toPart);
  return [toPart(content as ContentPart)];
}

function toMessage(message: Message): GenAiMessage {
  if (!isRecord(message)) return { role: 'user', parts: contentParts(String(message)) };
  const role = typeof message.role === 'string' ? message.role : 'user';
  let parts: GenAiPart[];
  if (role === 'tool' && message.toolCallId !== undefined) {
    // A tool result answers a call: the schema's field is `response` (not `result`).
    const part: GenAiPart = {
      type: 'tool_call_response',
      id: message.toolCallId,
      response: message.content ?? null,
    };
    parts = [part];
  } else {
    parts = contentParts(message.content);
  }
  if (Array.isArray(message.toolCalls)) for (const call of message.toolCalls) parts.push(toolCallPart(call));
  const out: GenAiMessage = { role, parts };
  if (typeof message.name === 'string') out.name = message.name;
  return out;
}

/** `gen_ai.input.messages`: `[{ role, parts, name? }]`. */
export function inputMessages(messages: readonly Message[]): GenAiMessage[] {
  return messages.map(toMessage);
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
): GenAiMessage[] {
  return messages.map((message, index) => {
    const out = toMessage(message);
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
): GenAiMessage[] {
  return [{ role: 'assistant', parts: calls.map(toolCallPart), finish_reason: finishReason ?? 'tool_call' }];
}

/** `gen_ai.system_instructions`: an array of parts. */
export function systemInstructions(value: string | ContentPart[]): GenAiPart[] {
  return contentParts(value);
}

/** `gen_ai.tool.definitions`: `[{ type: 'function', name, description?, parameters? }]`. */
export function toolDefinitions(tools: readonly ToolDefinition[]): GenAiPart[] {
  return tools.map((tool) => {
    const out: GenAiPart = { type: tool.type ?? 'function', name: tool.name };
    if (tool.description !== undefined) out.description = tool.description;
    if (tool.parameters !== undefined) out.parameters = tool.parameters;
    return out;
  });
}

/**
 * `gen_ai.retrieval.documents`: `[{ id, score, ... }]`. A document without an id gets its
 * position as id; one without a score has none (the schema wants one, and spanchain does not
 * invent relevance). Content and metadata ride along as additional properties.
 */
export function retrievalDocuments(documents: readonly Document[]): Record<string, unknown>[] {
  return documents.map((doc, index) => {
    if (!isRecord(doc)) return { id: String(index), content: doc };
    const out: Record<string, unknown> = {
      id: typeof doc.id === 'string' ? doc.id : String(doc.id ?? index),
    };
    if (typeof doc.score === 'number') out.score = doc.score;
    if (doc.content !== undefined) out.content = doc.content;
    if (doc.metadata !== undefined) out.metadata = doc.metadata;
    return out;
  });
}
