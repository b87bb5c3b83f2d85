/**
 * Step → span, following the OpenTelemetry GenAI semantic conventions (v1.41.0). A pure
 * function of the step and the mapping options, tested on its own; the plugin calls it when a
 * batch is exported, never on the traced code's path.
 */
import { type Attributes, SpanKind, type SpanStatus, SpanStatusCode } from '@opentelemetry/api';
import type { SerializeLimits, Step, StepOf } from '@spanchain/core';
import { AttributeWriter, snake } from './attribute-writer.js';
import {
  inputMessages,
  outputFromToolCalls,
  outputMessages,
  retrievalDocuments,
  systemInstructions,
  toolDefinitions,
} from './content.js';
import { OPERATION, SEMCONV, SPANCHAIN } from './names.js';

export interface MapOptions {
  /**
   * Record content (messages, system instructions, tool arguments and results, documents, step
   * input and output) as JSON-string attributes. Off by default, as the conventions require.
   */
  captureContent: boolean;
  /** Budgets for each serialised content value. */
  limits?: Partial<SerializeLimits>;
  /**
   * Content as structured values instead of JSON strings: what log events need (the conventions
   * require structured content there), and what OTel span attributes cannot hold.
   */
  structuredContent?: boolean;
  /**
   * For mappers built on this one that write these in their own vocabulary (the Langfuse
   * mapper): leave out the trace-level fields (`user.id`, `session.id`,
   * `gen_ai.conversation.id`, `deployment.environment.name`, `spanchain.trace.*`), the step's
   * records (its own attributes, metadata, trace metadata, identity) and what says they were cut
   * (`spanchain.truncated`, `spanchain.attributes.dropped`).
   */
  bare?: boolean;
}

/**
 * Maps a step to span data. The default is {@link mapStep} (the GenAI conventions); other OTLP
 * backends (Langfuse, Phoenix) plug their own vocabulary in through the plugin's `mapper` option
 * and reuse everything else: batching, transport, credentials, metrics.
 */
export type StepMapper = (step: Step, options: MapOptions) => SpanData;

export interface SpanEventData {
  name: string;
  /** Epoch ms. */
  time: number;
  attributes?: Attributes;
}

/** What a step becomes: everything a span needs besides its ids, times and resource. */
export interface SpanData {
  name: string;
  kind: SpanKind;
  attributes: Attributes;
  events: SpanEventData[];
  status: SpanStatus;
  /**
   * For mappers: a parent span id to export instead of the step's (same trace, remote). The
   * Langfuse mapper uses it so that a step joining a trace is never taken for the trace's root.
   */
  parentSpanId?: string;
}

/** The GenAI operation of a step, or undefined for kinds the conventions do not cover. */
export function operationOf(step: Step): string | undefined {
  const own = step.attributes[SEMCONV.operationName];
  if (typeof own === 'string' && own !== '') return own;
  switch (step.kind) {
    case 'llm':
      return OPERATION.chat;
    case 'embedding':
      return OPERATION.embeddings;
    case 'retrieval':
      return OPERATION.retrieval;
    case 'tool':
      return OPERATION.executeTool;
    case 'agent':
      return OPERATION.invokeAgent;
    default:
      return undefined;
  }
}

/** The span name the conventions give each operation: `chat gpt-4o`, `execute_tool search`, … */
export function spanNameOf(step: Step, operation = operationOf(step)): string {
  switch (step.kind) {
    case 'llm':
    case 'embedding':
      return step.model ? `${operation} ${step.model}` : (operation ?? step.name);
    case 'retrieval':
      return step.dataSource ? `${operation} ${step.dataSource}` : (operation ?? step.name);
    case 'tool':
      return `${operation} ${step.toolName ?? step.name}`;
    case 'agent':
      return `${operation} ${step.agentName ?? step.name}`;
    default:
      return step.name;
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

/** Which sides of a step's content its kind wrote under the conventions' own names. */
const INPUT_DONE = 1;
const OUTPUT_DONE = 2;

function writeCommon(out: AttributeWriter, step: Step, bare: boolean | undefined): void {
  out.set(SPANCHAIN.stepKind, step.kind);
  out.set(SPANCHAIN.stepName, step.name);
  if (!bare) writeTraceAndRecords(out, step);
  if (step.tags && step.tags.length > 0) out.set(SPANCHAIN.tags, step.tags);
  if (step.redacted && step.redacted.length > 0) out.set(SPANCHAIN.redacted, step.redacted);
  if (step.stream) {
    out.set(SPANCHAIN.streamState, step.stream.state);
    out.set(SPANCHAIN.streamChunks, step.stream.chunks);
  }
  if (step.attempt) {
    out.set(SPANCHAIN.attemptNumber, step.attempt.number);
    out.set(SPANCHAIN.attemptFallback, step.attempt.fallback);
  }
  if (step.attempts) {
    out.set(SPANCHAIN.attemptsRetries, step.attempts.retries);
    out.set(SPANCHAIN.attemptsMaxRetries, step.attempts.maxRetries);
    out.set(SPANCHAIN.attemptsFallbacks, step.attempts.fallbacks);
  }
}

/** The trace's fields, the step's identity and metadata, and the trace's metadata. */
function writeTraceAndRecords(out: AttributeWriter, step: Step): void {
  const { trace } = step;
  out.set(SEMCONV.userId, trace.userId);
  out.set(SEMCONV.sessionId, trace.sessionId);
  out.set(SPANCHAIN.traceName, trace.name);
  if (trace.tags && trace.tags.length > 0) out.set(SPANCHAIN.traceTags, trace.tags);
  out.set(SEMCONV.deploymentEnvironment, trace.environment);
  out.set(SPANCHAIN.traceRelease, trace.release);
  out.set(SPANCHAIN.traceVersion, trace.version);
  if (step.identity) {
    for (const key of Object.keys(step.identity))
      out.set(SPANCHAIN.identityPrefix + snake(key), step.identity[key]);
  }
  // The step's metadata takes its keys from the span's budget before the trace's (the step's own
  // attributes took theirs first); `spanchain.truncated` is written by `finish`.
  out.spread(SPANCHAIN.metadataPrefix, step.metadata, 'metadata');
  out.spread(SPANCHAIN.traceMetadataPrefix, trace.metadata, 'trace.metadata');
}

function writeModel(
  out: AttributeWriter,
  step: {
    provider?: string;
    model?: string;
    responseModel?: string;
    serverAddress?: string;
    serverPort?: number;
  },
): void {
  out.set(SEMCONV.providerName, step.provider);
  out.set(SEMCONV.requestModel, step.model);
  out.set(SEMCONV.responseModel, step.responseModel);
  out.set(SEMCONV.serverAddress, step.serverAddress);
  if (step.serverAddress !== undefined) out.set(SEMCONV.serverPort, step.serverPort);
}

function writeUsageAndCost(out: AttributeWriter, step: StepOf<'llm'> | StepOf<'embedding'>): void {
  const { usage, cost } = step;
  if (usage) {
    out.set(SEMCONV.usageInputTokens, usage.inputTokens);
    out.set(SEMCONV.usageOutputTokens, usage.outputTokens);
    out.set(SEMCONV.usageCacheReadInputTokens, usage.cachedInputTokens);
    out.set(SEMCONV.usageCacheCreationInputTokens, usage.cacheCreationInputTokens);
    out.set(SEMCONV.usageReasoningOutputTokens, usage.reasoningTokens);
    out.set(SPANCHAIN.usageTotalTokens, usage.totalTokens);
  }
  if (cost) {
    out.set(SPANCHAIN.costTotal, cost.total);
    out.set(SPANCHAIN.costInput, cost.input);
    out.set(SPANCHAIN.costOutput, cost.output);
    out.set(SPANCHAIN.costCurrency, cost.currency);
  }
}

const PARAM_ATTRIBUTES: ReadonlyArray<readonly [string, string]> = [
  ['temperature', SEMCONV.requestTemperature],
  ['topP', SEMCONV.requestTopP],
  ['topK', SEMCONV.requestTopK],
  ['maxTokens', SEMCONV.requestMaxTokens],
  ['stopSequences', SEMCONV.requestStopSequences],
  ['frequencyPenalty', SEMCONV.requestFrequencyPenalty],
  ['presencePenalty', SEMCONV.requestPresencePenalty],
  ['seed', SEMCONV.requestSeed],
];

/** The attributes of an LLM call: also what a parent span receives in `llmSpans: 'parent'` mode. */
export function llmAttributes(step: StepOf<'llm'>, options: MapOptions, into?: AttributeWriter): Attributes {
  const out = into ?? new AttributeWriter(options.limits, options.structuredContent);
  writeModel(out, step);
  const params = step.params;
  if (params) {
    for (const [key, name] of PARAM_ATTRIBUTES) out.set(name, params[key]);
    if (typeof params.choiceCount === 'number' && params.choiceCount !== 1) {
      out.set(SEMCONV.requestChoiceCount, params.choiceCount);
    }
  }
  if (step.stream) out.set(SEMCONV.requestStream, true);
  out.set(SEMCONV.responseId, step.responseId);
  if (step.finishReasons && step.finishReasons.length > 0)
    out.set(SEMCONV.responseFinishReasons, step.finishReasons);
  if (step.timeToFirstTokenMs !== undefined) {
    out.set(SEMCONV.responseTimeToFirstChunk, step.timeToFirstTokenMs / 1000);
  }
  out.set(SEMCONV.promptName, step.promptName);
  out.set(SPANCHAIN.promptVersion, step.promptVersion);
  if (!options.bare) out.set(SEMCONV.conversationId, step.trace.sessionId);
  writeUsageAndCost(out, step);
  if (options.captureContent) {
    if (step.systemInstructions !== undefined) {
      out.content(
        SEMCONV.systemInstructions,
        'systemInstructions',
        step.systemInstructions,
        systemInstructions,
      );
    }
    if (step.inputMessages)
      out.content(SEMCONV.inputMessages, 'inputMessages', step.inputMessages, inputMessages);
    else if (step.input !== undefined) out.text(SPANCHAIN.input, step.input, 'input');
    const failed = step.status === 'error';
    if (step.outputMessages) {
      out.content(SEMCONV.outputMessages, 'outputMessages', step.outputMessages, (messages, lists) =>
        outputMessages(messages, step.finishReasons, failed, lists),
      );
    } else if (step.toolCalls && step.toolCalls.length > 0) {
      out.content(SEMCONV.outputMessages, 'toolCalls', step.toolCalls, (calls, lists) =>
        outputFromToolCalls(calls, step.finishReasons?.[0], lists),
      );
    } else if (step.output !== undefined) {
      out.text(SPANCHAIN.output, step.output, 'output');
    }
    if (step.tools && step.tools.length > 0)
      out.content(SEMCONV.toolDefinitions, 'tools', step.tools, toolDefinitions);
  }
  // Called on its own (a parent span takes the call's attributes): say what was cut here too.
  if (into === undefined) out.finish(undefined);
  return out.attributes;
}

function writeKind(out: AttributeWriter, step: Step, options: MapOptions): number {
  const content = options.captureContent;
  switch (step.kind) {
    case 'llm':
      llmAttributes(step, options, out);
      return INPUT_DONE | OUTPUT_DONE;
    case 'embedding':
      writeModel(out, step);
      out.set(SEMCONV.embeddingsDimensionCount, step.dimensions);
      out.set(SPANCHAIN.embeddingCount, step.count);
      writeUsageAndCost(out, step);
      if (content && step.texts) out.json(SPANCHAIN.embeddingTexts, step.texts, 'texts');
      return 0;
    case 'retrieval':
      out.set(SEMCONV.dataSourceId, step.dataSource);
      out.set(SEMCONV.requestTopK, step.topK);
      if (content) {
        out.set(SEMCONV.retrievalQueryText, step.query);
        if (step.documents)
          out.content(SEMCONV.retrievalDocuments, 'documents', step.documents, retrievalDocuments);
      }
      return (step.query !== undefined ? INPUT_DONE : 0) | (step.documents !== undefined ? OUTPUT_DONE : 0);
    case 'tool': {
      out.set(SEMCONV.toolName, step.toolName ?? step.name);
      out.set(SEMCONV.toolCallId, step.toolCallId);
      out.set(SEMCONV.toolDescription, step.toolDescription);
      out.set(SEMCONV.toolType, step.toolType);
      // A tool's return value is its result unless the step recorded one.
      const args = step.arguments ?? step.input;
      const result = step.result ?? step.output;
      if (content) {
        const argsField = step.arguments !== undefined ? 'arguments' : 'input';
        if (args !== undefined) out.text(SEMCONV.toolCallArguments, args, argsField);
        if (result !== undefined)
          out.text(SEMCONV.toolCallResult, result, step.result !== undefined ? 'result' : 'output');
      }
      return (args !== undefined ? INPUT_DONE : 0) | (result !== undefined ? OUTPUT_DONE : 0);
    }
    case 'agent':
      out.set(SEMCONV.agentName, step.agentName ?? step.name);
      out.set(SEMCONV.agentId, step.agentId);
      out.set(SEMCONV.agentDescription, step.agentDescription);
      if (!options.bare) out.set(SEMCONV.conversationId, step.trace.sessionId);
      return 0;
    case 'prompt':
      out.set(SPANCHAIN.promptTemplateName, step.templateName);
      out.set(SPANCHAIN.promptTemplateVersion, step.templateVersion);
      if (content) {
        out.json(SPANCHAIN.promptTemplate, step.template, 'template');
        out.json(SPANCHAIN.promptVariables, step.variables, 'variables');
        if (step.messages) out.content(SPANCHAIN.promptMessages, 'messages', step.messages, inputMessages);
      }
      return 0;
    case 'guardrail':
      out.set(SPANCHAIN.guardrailName, step.guardrailName);
      out.set(SPANCHAIN.guardrailDecision, step.decision);
      out.set(SPANCHAIN.guardrailReason, step.reason);
      out.set(SPANCHAIN.guardrailTarget, step.target);
      return 0;
    case 'rerank':
      writeModel(out, step);
      out.set(SPANCHAIN.rerankTopN, step.topN);
      if (content) {
        out.set(SPANCHAIN.rerankQuery, step.query);
        if (step.documents)
          out.content(SPANCHAIN.rerankInputDocuments, 'documents', step.documents, retrievalDocuments);
        if (step.rerankedDocuments) {
          out.content(
            SPANCHAIN.rerankOutputDocuments,
            'rerankedDocuments',
            step.rerankedDocuments,
            retrievalDocuments,
          );
        }
      }
      return 0;
    default:
      return 0;
  }
}

/** Error types are codes or class names; a longer value is cut so it cannot blow up a series key. */
const MAX_ERROR_TYPE_LENGTH = 128;

/**
 * `error.type` of a failed step, the same on its span, its metrics and its log records: a string
 * error code when the error has one, else its class name, else `_OTHER`.
 */
export function errorTypeOf(step: Step): string {
  const { error } = step;
  const type = typeof error?.code === 'string' && error.code !== '' ? error.code : error?.type;
  if (typeof type !== 'string' || type === '') return '_OTHER';
  return type.length > MAX_ERROR_TYPE_LENGTH ? type.slice(0, MAX_ERROR_TYPE_LENGTH) : type;
}

/** The span a step becomes, minus ids, times and resource. */
export function mapStep(step: Step, options: MapOptions): SpanData {
  const out = new AttributeWriter(options.limits);
  const { bare } = options;
  // The app's own attributes take their keys from the span's budget first (metadata gets what
  // is left), and are written last: they win over derived ones.
  const own = bare ? undefined : out.takeOwn(step.attributes);
  const operation = operationOf(step);
  if (operation !== undefined) out.set(SEMCONV.operationName, operation);
  writeCommon(out, step, bare);
  const done = writeKind(out, step, options);
  if (options.captureContent) {
    // What the conventions have no name for keeps spanchain's.
    if (!(done & INPUT_DONE) && step.input !== undefined) out.text(SPANCHAIN.input, step.input, 'input');
    if (!(done & OUTPUT_DONE) && step.output !== undefined) out.text(SPANCHAIN.output, step.output, 'output');
  }
  if (!bare) {
    out.finish(step.truncated);
    out.writeOwn(own);
  }

  const events: SpanEventData[] = [];
  for (const event of step.events) {
    events.push(
      event.attributes ? { name: event.name, time: event.time, attributes: event.attributes } : event,
    );
  }
  let status: SpanStatus = { code: SpanStatusCode.UNSET };
  if (step.status === 'ok') status = { code: SpanStatusCode.OK };
  else if (step.status === 'error') {
    const errorType = errorTypeOf(step);
    out.attributes[SEMCONV.errorType] = errorType;
    status = { code: SpanStatusCode.ERROR, message: step.error?.message ?? errorType };
    if (step.error) {
      const attributes: Attributes = {
        [SEMCONV.exceptionType]: step.error.type,
        [SEMCONV.exceptionMessage]: step.error.message,
      };
      if (step.error.stack !== undefined) attributes[SEMCONV.exceptionStacktrace] = step.error.stack;
      events.push({ name: 'exception', time: step.endTime ?? step.startTime, attributes });
    }
  }
  return {
    name: spanNameOf(step, operation),
    kind: spanKindOf(step),
    attributes: out.attributes,
    events,
    status,
  };
}
