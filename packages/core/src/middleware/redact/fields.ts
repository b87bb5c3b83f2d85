/**
 * Which step fields hold content, which side of the call each belongs to, and how each is masked
 * while keeping the shape backends display (roles, ids, scores, counts).
 */
import type { StepKind } from '../../step.js';
import { REDACTED } from './options.js';

export type Side = 'input' | 'output';
export type Family = 'messages' | 'documents' | 'toolArguments' | 'toolResults' | 'promptVariables';
type Shape = 'value' | 'messages' | 'documents' | 'toolCalls' | 'texts' | 'variables';

export interface ContentField {
  /** Property of the step record (`trace.` fields are listed in {@link TRACE_CONTENT_FIELDS}). */
  readonly key: string;
  side(kind: StepKind): Side;
  family(kind: StepKind): Family | undefined;
  readonly shape: Shape;
  /** Only on these kinds (default: any kind that has the field). */
  readonly kinds?: readonly StepKind[];
}

const always =
  <T>(value: T) =>
  (): T =>
    value;

function field(key: string, side: Side, family: Family | undefined, shape: Shape): ContentField {
  return { key, side: always(side), family: always(family), shape };
}

/**
 * The content fields of a step. Tool definitions (`tools`), prompt templates, guardrail reasons,
 * errors, usage and every identifier are not content and are never masked here.
 *
 * | field                | side                           | family                      | masked as                         |
 * |----------------------|--------------------------------|-----------------------------|-----------------------------------|
 * | `input`              | input                          | `toolArguments` on tools    | marker                            |
 * | `inputMessages`      | input                          | `messages`                  | messages keep role/name/ids       |
 * | `systemInstructions` | input                          | `messages`                  | marker                            |
 * | `query`              | input                          | –                           | marker                            |
 * | `documents`          | input on rerank, else output   | `documents`                 | documents keep id/score/metadata  |
 * | `arguments`          | input                          | `toolArguments`             | marker                            |
 * | `variables`          | input                          | `promptVariables`           | names kept, each value a marker   |
 * | `texts`              | input                          | –                           | each text a marker (count kept)   |
 * | `trace.input`        | input                          | –                           | marker                            |
 * | `output`             | output                         | `toolResults` on tools      | marker                            |
 * | `outputMessages`     | output                         | `messages`                  | messages keep role/name/ids       |
 * | `toolCalls`          | output                         | `toolArguments`             | calls keep id/name                |
 * | `rerankedDocuments`  | output                         | `documents`                 | documents keep id/score/metadata  |
 * | `result`             | output                         | `toolResults`               | marker                            |
 * | `messages` (prompt)  | output                         | `messages`                  | messages keep role/name/ids       |
 * | `text` (prompt)      | output                         | –                           | marker                            |
 * | `trace.output`       | output                         | –                           | marker                            |
 *
 * Inside kept messages, `toolArguments: false` masks their tool calls' arguments and
 * `toolResults: false` masks the content of `tool` messages.
 */
export const CONTENT_FIELDS: readonly ContentField[] = [
  {
    key: 'input',
    side: always('input'),
    family: (kind) => (kind === 'tool' ? 'toolArguments' : undefined),
    shape: 'value',
  },
  field('inputMessages', 'input', 'messages', 'messages'),
  field('systemInstructions', 'input', 'messages', 'value'),
  field('query', 'input', undefined, 'value'),
  {
    key: 'documents',
    side: (kind) => (kind === 'rerank' ? 'input' : 'output'),
    family: always('documents'),
    shape: 'documents',
  },
  field('arguments', 'input', 'toolArguments', 'value'),
  field('variables', 'input', 'promptVariables', 'variables'),
  field('texts', 'input', undefined, 'texts'),
  {
    key: 'output',
    side: always('output'),
    family: (kind) => (kind === 'tool' ? 'toolResults' : undefined),
    shape: 'value',
  },
  field('outputMessages', 'output', 'messages', 'messages'),
  field('toolCalls', 'output', 'toolArguments', 'toolCalls'),
  field('rerankedDocuments', 'output', 'documents', 'documents'),
  { ...field('result', 'output', 'toolResults', 'value'), kinds: ['tool'] },
  field('messages', 'output', 'messages', 'messages'),
  field('text', 'output', undefined, 'value'),
];

/** Content fields of the trace (keys of `step.trace`). */
export const TRACE_CONTENT_FIELDS: readonly ContentField[] = [
  field('input', 'input', undefined, 'value'),
  field('output', 'output', undefined, 'value'),
];

/** What to mask inside messages that are otherwise kept. */
export interface MessageMask {
  content: boolean;
  toolArguments: boolean;
  toolResults: boolean;
}

const WHOLE: MessageMask = { content: true, toolArguments: true, toolResults: true };

type Loose = Record<string, unknown>;

function isObject(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null;
}

/** The whole field masked, in its shape. Unknown extra properties are dropped, not copied. */
export function maskWhole(value: unknown, shape: Shape): unknown {
  switch (shape) {
    case 'messages':
      return Array.isArray(value) ? maskMessages(value, WHOLE) : REDACTED;
    case 'documents':
      return Array.isArray(value) ? value.map(maskDocument) : REDACTED;
    case 'toolCalls':
      return Array.isArray(value) ? value.map(maskToolCall) : REDACTED;
    case 'texts':
      return Array.isArray(value) ? value.map(() => REDACTED) : REDACTED;
    case 'variables':
      return isObject(value) && !Array.isArray(value)
        ? Object.fromEntries(Object.keys(value).map((name) => [name, REDACTED]))
        : REDACTED;
    default:
      return REDACTED;
  }
}

/** Masks what `mask` asks for; returns the same array when nothing changed. */
export function maskMessages(messages: readonly unknown[], mask: MessageMask): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < messages.length; i++) {
    const before = messages[i];
    const after = maskMessage(before, mask);
    if (after !== before) {
      out ??= messages.slice();
      out[i] = after;
    }
  }
  return out ?? (messages as unknown[]);
}

function maskMessage(message: unknown, mask: MessageMask): unknown {
  if (!isObject(message)) return mask.content ? REDACTED : message;
  if (mask.content) {
    const out: Loose = { role: message.role };
    for (const key of ['name', 'toolCallId', 'finishReason'] as const) {
      if (message[key] !== undefined) out[key] = message[key];
    }
    if (message.content !== undefined) out.content = REDACTED;
    if (message.toolCalls !== undefined) out.toolCalls = maskWhole(message.toolCalls, 'toolCalls');
    return out;
  }
  let out: Loose | undefined;
  if (
    mask.toolResults &&
    message.role === 'tool' &&
    message.content !== undefined &&
    message.content !== REDACTED
  ) {
    out = { ...message, content: REDACTED };
  }
  if (mask.toolArguments && Array.isArray(message.toolCalls)) {
    const calls = message.toolCalls;
    if (
      calls.some((call) => !isObject(call) || (call.arguments !== undefined && call.arguments !== REDACTED))
    ) {
      out = { ...(out ?? message), toolCalls: calls.map(maskToolCall) };
    }
  }
  return out ?? message;
}

function maskDocument(document: unknown): unknown {
  if (!isObject(document)) return REDACTED;
  const out: Loose = {};
  for (const key of ['id', 'score', 'metadata'] as const) {
    if (document[key] !== undefined) out[key] = document[key];
  }
  if (document.content !== undefined) out.content = REDACTED;
  return out;
}

function maskToolCall(call: unknown): unknown {
  if (!isObject(call)) return REDACTED;
  const out: Loose = { name: call.name };
  if (call.id !== undefined) out.id = call.id;
  if (call.arguments !== undefined) out.arguments = REDACTED;
  return out;
}
