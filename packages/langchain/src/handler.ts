import type { AgentAction, AgentFinish } from '@langchain/core/agents';
import { BaseCallbackHandler, type NewTokenIndices } from '@langchain/core/callbacks/base';
import type { DocumentInterface } from '@langchain/core/documents';
import type { Serialized } from '@langchain/core/load/serializable';
import type { BaseMessage } from '@langchain/core/messages';
import type { LLMResult } from '@langchain/core/outputs';
import type { ChainValues } from '@langchain/core/utils/types';
import {
  type ActiveStep,
  type Attributes,
  type Message,
  now,
  type StepKind,
  type StepOptions,
  safeStringify,
  type ToolCall,
  type Tracer,
  type Usage,
} from '@spanchain/core';
import {
  addUsage,
  isObject,
  isPromptRun,
  modelOf,
  paramsOf,
  providerOf,
  renderedPrompt,
  runName,
  serializedClass,
  templateOf,
  textOf,
  toDocuments,
  toMessage,
  toMessages,
  toolsOf,
  unwrap,
  usageFromLlmOutput,
  usageFromMetadata,
} from './convert.js';
import {
  type LangChainHandlerOptions,
  type ResolvedLangChainHandlerOptions,
  readRunOptions,
  resolveHandlerOptions,
  SPANCHAIN_METADATA_KEY,
} from './options.js';

type Obj = Record<string, unknown>;

/** One LangChain run the handler is tracking. */
interface RunEntry {
  /** The run's step; undefined for a hidden run, whose children attach to `parent`. */
  step: ActiveStep | undefined;
  parent: ActiveStep | undefined;
  kind: StepKind;
  /** The run started with placeholder inputs (`lc_defers_inputs`): the real ones come at the end. */
  deferredInput?: boolean;
  /** Epoch ms of the first streamed token. */
  firstTokenAt?: number;
  chunks: number;
}

/** Counters of a handler, for tests and health checks. */
export interface LangChainHandlerStats {
  /** Runs started and not yet ended. */
  openRuns: number;
  /** Runs turned into steps. */
  started: number;
  /** Runs whose step ended or failed. */
  ended: number;
  /** Open runs failed because `maxRuns` was reached. */
  evicted: number;
  /** Callbacks that threw inside the handler (the run goes on; nothing reaches LangChain). */
  errors: number;
}

/** The error an evicted run's step fails with. */
export class LangChainRunEvictedError extends Error {
  override readonly name = 'LangChainRunEvicted';
  constructor(maxRuns: number) {
    super(`the LangChain run did not end before ${maxRuns} newer runs were open; its step was closed`);
  }
}

const STRING_LIMIT = { maxStringLength: 2_048 };

/**
 * A LangChain callback handler that records each run as a spanchain step: chains as `chain`,
 * LLMs and chat models as `llm`, retrievers as `retrieval`, tools as `tool`, prompt templates as
 * `prompt`, output parsers as `chain` with `langchain.run_type: 'parser'` in metadata.
 *
 * @example
 * const handler = new SpanchainCallbackHandler(tracer);
 * await chain.invoke(input, { callbacks: [handler] });
 */
export class SpanchainCallbackHandler extends BaseCallbackHandler {
  name: string;
  readonly options: ResolvedLangChainHandlerOptions;
  private readonly tracer: Tracer;
  /** Open runs by run id, in start order (a Map keeps insertion order: the first is the oldest). */
  private readonly runs = new Map<string, RunEntry>();
  private counters = { started: 0, ended: 0, evicted: 0, errors: 0 };
  private stopped = false;

  constructor(tracer: Tracer, options?: LangChainHandlerOptions) {
    super();
    this.options = resolveHandlerOptions(options);
    this.name = this.options.name;
    this.tracer = tracer;
    // Run the callbacks inline rather than in LangChain's background queue: then they see the
    // caller's async context (so a root run nests under the active step or span) and the step
    // times are the run's own, not the queue's.
    this.awaitHandlers = true;
  }

  /** The step of a run: give a run id, or the `config` a RunnableLambda receives (its run's step). */
  stepFor(runIdOrConfig: string | { callbacks?: unknown } | undefined): ActiveStep | undefined {
    let runId: string | undefined;
    if (typeof runIdOrConfig === 'string') runId = runIdOrConfig;
    else if (isObject(runIdOrConfig) && isObject(runIdOrConfig.callbacks)) {
      const cb = runIdOrConfig.callbacks as { getParentRunId?: () => string | undefined };
      runId = typeof cb.getParentRunId === 'function' ? cb.getParentRunId() : undefined;
    }
    if (!runId) return undefined;
    const entry = this.runs.get(runId);
    return entry ? (entry.step ?? entry.parent) : undefined;
  }

  stats(): LangChainHandlerStats {
    return { openRuns: this.runs.size, ...this.counters };
  }

  /** Stops tracing new root runs; runs already traced finish normally. */
  stop(): void {
    this.stopped = true;
  }

  /** Resumes after `stop()`. */
  resume(): void {
    this.stopped = false;
  }

  // -------------------------------------------------------------------------------------------
  // Chains, prompts, parsers

  override handleChainStart(
    chain: Serialized,
    inputs: ChainValues,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runType?: string,
    name?: string,
    extra?: Record<string, unknown>,
  ): void {
    this.guard(() => {
      const cls = serializedClass(chain);
      const deferred = extra?.lc_defers_inputs === true;
      const input = deferred ? undefined : unwrap(inputs, 'input');
      if (isPromptRun(runType, cls)) {
        const template = templateOf(chain);
        const variables = !deferred && isObject(inputs) ? (inputs as Obj) : undefined;
        this.start('prompt', runId, parentRunId, tags, metadata, 'prompt', {
          name: runName(chain, name, 'prompt'),
          templateName: name ?? cls,
          ...(template !== undefined ? { template } : {}),
          ...(variables ? { variables } : {}),
        });
      } else if (isAgentRoot(metadata)) {
        const agentName = runName(chain, name, 'agent');
        this.start('agent', runId, parentRunId, tags, metadata, 'agent', {
          name: agentName,
          agentName,
          ...(input !== undefined ? { input } : {}),
        });
      } else {
        this.start('chain', runId, parentRunId, tags, metadata, runType === 'parser' ? 'parser' : 'chain', {
          name: runName(chain, name, 'chain'),
          ...(input !== undefined ? { input } : {}),
        });
      }
      const entry = this.runs.get(runId);
      if (entry && deferred) entry.deferredInput = true;
    });
  }

  override handleChainEnd(
    outputs: ChainValues,
    runId: string,
    _parentRunId?: string,
    _tags?: string[],
    kwargs?: { inputs?: Record<string, unknown> },
  ): void {
    this.guard(() => {
      const entry = this.take(runId);
      const step = entry?.step;
      if (!entry || !step) return;
      if (entry.deferredInput && kwargs?.inputs !== undefined) {
        if (entry.kind === 'prompt') step.update({ variables: kwargs.inputs });
        else step.update({ input: unwrap(kwargs.inputs, 'input') });
      }
      const output = unwrap(outputs, 'output');
      if (entry.kind === 'prompt') {
        step.update(renderedPrompt(output));
        step.end();
      } else step.end(output);
      this.counters.ended++;
    });
  }

  override handleChainError(
    err: unknown,
    runId: string,
    _parentRunId?: string,
    _tags?: string[],
    kwargs?: { inputs?: Record<string, unknown> },
  ): void {
    this.guard(() => {
      const entry = this.take(runId);
      if (entry?.step && entry.deferredInput && kwargs?.inputs !== undefined && entry.kind === 'chain')
        entry.step.update({ input: unwrap(kwargs.inputs, 'input') });
      this.failEntry(entry, err);
    });
  }

  override handleAgentAction(action: AgentAction, runId: string): void {
    this.guard(() => {
      const step = this.stepFor(runId);
      if (!step) return;
      const attributes: Attributes = { tool: action.tool };
      attributes['tool.input'] = safeStringify(action.toolInput, STRING_LIMIT).text;
      const toolCallId = (action as { toolCallId?: unknown }).toolCallId;
      if (typeof toolCallId === 'string') attributes['tool.call_id'] = toolCallId;
      step.addEvent('agent-action', attributes);
    });
  }

  override handleAgentEnd(finish: AgentFinish, runId: string): void {
    this.guard(() => {
      const step = this.stepFor(runId);
      if (!step) return;
      step.addEvent('agent-finish', {
        output: safeStringify(unwrap(finish.returnValues, 'output'), STRING_LIMIT).text,
      });
    });
  }

  override handleCustomEvent(eventName: string, _data: unknown, runId: string): void {
    this.guard(() => {
      // The payload may be content (redaction never sees event attributes): only the name is kept.
      this.stepFor(runId)?.addEvent(eventName, { 'langchain.custom_event': true });
    });
  }

  // -------------------------------------------------------------------------------------------
  // LLMs and chat models

  override handleChatModelStart(
    llm: Serialized,
    messages: BaseMessage[][],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    name?: string,
  ): void {
    this.guard(() => {
      this.startLlm(
        llm,
        runId,
        parentRunId,
        extraParams,
        tags,
        metadata,
        name,
        'chat_model',
        toMessages(messages[0]),
      );
    });
  }

  override handleLLMStart(
    llm: Serialized,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    name?: string,
  ): void {
    this.guard(() => {
      const inputMessages: Message[] = prompts.map((content) => ({ role: 'user', content }));
      this.startLlm(llm, runId, parentRunId, extraParams, tags, metadata, name, 'llm', inputMessages);
    });
  }

  private startLlm(
    llm: Serialized,
    runId: string,
    parentRunId: string | undefined,
    extraParams: Record<string, unknown> | undefined,
    tags: string[] | undefined,
    metadata: Record<string, unknown> | undefined,
    name: string | undefined,
    runType: string,
    inputMessages: Message[],
  ): void {
    const params = isObject(extraParams?.invocation_params)
      ? (extraParams.invocation_params as Obj)
      : undefined;
    const cls = serializedClass(llm);
    const model = modelOf(metadata, params, llm);
    const provider = providerOf(metadata, params, cls);
    const llmParams = paramsOf(params, metadata);
    const tools = toolsOf(params);
    this.start('llm', runId, parentRunId, tags, metadata, runType, {
      name: name ?? model ?? cls ?? 'llm',
      inputMessages,
      ...(model ? { model } : {}),
      ...(provider ? { provider } : {}),
      ...(llmParams ? { params: llmParams } : {}),
      ...(tools ? { tools } : {}),
    });
  }

  override handleLLMNewToken(token: string, _idx: NewTokenIndices, runId: string): void {
    const entry = this.runs.get(runId);
    const step = entry?.step;
    if (!entry || !step) return;
    entry.chunks++;
    if (entry.firstTokenAt !== undefined) return;
    this.guard(() => {
      const t = now();
      entry.firstTokenAt = t;
      step.update({ timeToFirstTokenMs: t - step.step.startTime });
      step.addEvent('first-token', { 'token.length': token.length });
    });
  }

  override handleLLMEnd(output: LLMResult, runId: string): void {
    this.guard(() => {
      const entry = this.take(runId);
      const step = entry?.step as ActiveStep<'llm'> | undefined;
      if (!entry || !step) return;
      const generations = (output?.generations ?? []).flat();
      const outputMessages: Message[] = [];
      const toolCalls: ToolCall[] = [];
      const finishReasons: string[] = [];
      let usage: Usage | undefined;
      let responseModel: string | undefined;
      let responseId: string | undefined;
      let text: string | undefined;
      for (const gen of generations) {
        const info = isObject(gen.generationInfo) ? gen.generationInfo : undefined;
        const message = (gen as { message?: unknown }).message;
        let m: Message;
        if (isObject(message)) {
          m = toMessage(message);
          if (m.role === 'user') m.role = 'assistant';
          usage = addUsage(usage, usageFromMetadata(message.usage_metadata));
          const meta = isObject(message.response_metadata) ? message.response_metadata : undefined;
          responseModel ??= str(meta?.model_name) ?? str(meta?.model);
          responseId ??= str(meta?.id) ?? providerMessageId(message.id);
          text ??= textOf(message.content);
        } else {
          m = { role: 'assistant', content: gen.text };
        }
        text ??= gen.text;
        const finish = str(info?.finish_reason) ?? str(info?.stop_reason) ?? m.finishReason;
        if (finish) {
          m.finishReason = finish;
          finishReasons.push(finish);
        }
        if (m.toolCalls) toolCalls.push(...m.toolCalls);
        outputMessages.push(m);
      }
      const llmOutput = isObject(output?.llmOutput) ? output.llmOutput : undefined;
      usage ??= usageFromLlmOutput(llmOutput);
      responseModel ??= str(llmOutput?.model_name) ?? str(llmOutput?.model);
      step.update({
        outputMessages,
        ...(toolCalls.length > 0 ? { toolCalls } : {}),
        ...(finishReasons.length > 0 ? { finishReasons } : {}),
        ...(usage ? { usage } : {}),
        ...(responseModel ? { responseModel } : {}),
        ...(responseId ? { responseId } : {}),
      });
      if (entry.firstTokenAt !== undefined) {
        const seconds = (now() - entry.firstTokenAt) / 1000;
        const tokens = usage?.outputTokens ?? entry.chunks;
        const attributes: Attributes = { 'langchain.stream.chunks': entry.chunks };
        if (seconds > 0)
          attributes['langchain.stream.tokens_per_second'] = Math.round((tokens / seconds) * 100) / 100;
        step.setAttributes(attributes);
      }
      step.end(text);
      this.counters.ended++;
    });
  }

  override handleLLMError(err: unknown, runId: string): void {
    this.guard(() => this.failEntry(this.take(runId), err));
  }

  // -------------------------------------------------------------------------------------------
  // Retrievers

  override handleRetrieverStart(
    retriever: Serialized,
    query: string,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    name?: string,
  ): void {
    this.guard(() => {
      const cls = serializedClass(retriever);
      const dataSource = str(metadata?.ls_vector_store_provider) ?? str(metadata?.ls_retriever_name) ?? cls;
      const topK = typeof metadata?.ls_k === 'number' ? metadata.ls_k : undefined;
      this.start('retrieval', runId, parentRunId, tags, metadata, 'retriever', {
        name: runName(retriever, name, 'retriever'),
        query,
        ...(dataSource ? { dataSource } : {}),
        ...(topK !== undefined ? { topK } : {}),
      });
    });
  }

  override handleRetrieverEnd(documents: DocumentInterface[], runId: string): void {
    this.guard(() => {
      const entry = this.take(runId);
      const step = entry?.step as ActiveStep<'retrieval'> | undefined;
      if (!step) return;
      step.update({ documents: toDocuments(documents) });
      step.end();
      this.counters.ended++;
    });
  }

  override handleRetrieverError(err: unknown, runId: string): void {
    this.guard(() => this.failEntry(this.take(runId), err));
  }

  // -------------------------------------------------------------------------------------------
  // Tools

  override handleToolStart(
    tool: Serialized,
    input: string,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    name?: string,
    toolCallId?: string,
  ): void {
    this.guard(() => {
      const toolName = runName(tool, name, 'tool');
      const description = isObject(tool) && isObject(tool.kwargs) ? str(tool.kwargs.description) : undefined;
      this.start('tool', runId, parentRunId, tags, metadata, 'tool', {
        name: toolName,
        toolName,
        arguments: parseArguments(input),
        ...(toolCallId ? { toolCallId } : {}),
        ...(description ? { toolDescription: description } : {}),
      });
    });
  }

  override handleToolEnd(output: unknown, runId: string): void {
    this.guard(() => {
      const entry = this.take(runId);
      const step = entry?.step as ActiveStep<'tool'> | undefined;
      if (!step) return;
      // A tool called with a ToolCall returns a ToolMessage: its content is the result.
      if (isObject(output) && 'tool_call_id' in output && 'content' in output) {
        const id = str(output.tool_call_id);
        step.update({ result: output.content, ...(id && !step.step.toolCallId ? { toolCallId: id } : {}) });
        if (output.status === 'error') step.setAttributes({ 'langchain.tool.status': 'error' });
      } else {
        step.update({ result: output });
      }
      step.end();
      this.counters.ended++;
    });
  }

  override handleToolError(err: unknown, runId: string): void {
    this.guard(() => this.failEntry(this.take(runId), err));
  }

  // -------------------------------------------------------------------------------------------
  // Bookkeeping

  private start<K extends StepKind>(
    kind: K,
    runId: string,
    parentRunId: string | undefined,
    tags: string[] | undefined,
    metadata: Record<string, unknown> | undefined,
    runType: string,
    options: StepOptions<K>,
  ): void {
    const parentEntry = parentRunId !== undefined ? this.runs.get(parentRunId) : undefined;
    // After stop(), runs under an already traced run still finish their tree; new roots are skipped.
    if (this.stopped && !parentEntry) return;
    const parent = parentEntry ? (parentEntry.step ?? parentEntry.parent) : undefined;
    if (!this.options.includeHidden && tags?.includes('langsmith:hidden')) {
      this.track(runId, { step: undefined, parent, kind, chunks: 0 });
      return;
    }
    if (parent) {
      options.parent = parent;
    } else {
      // A root run: it nests under the active step or span (the tracer reads the context), and
      // takes the per-invocation trace options from `metadata.spanchain`.
      const run = readRunOptions(metadata);
      if (run) {
        if (run.existingTraceId) options.existingTraceId = run.existingTraceId;
        if (run.existingParentSpanId) options.existingParentSpanId = run.existingParentSpanId;
        if (run.traceparent && !run.existingTraceId) options.parent = run.traceparent;
        if (run.updateTraceKeys) options.updateTraceKeys = run.updateTraceKeys;
        if (run.maskInput !== undefined) options.maskInput = run.maskInput;
        if (run.maskOutput !== undefined) options.maskOutput = run.maskOutput;
        const trace: NonNullable<StepOptions['trace']> = {};
        if (run.traceName) trace.name = run.traceName;
        if (run.userId) trace.userId = run.userId;
        if (run.sessionId) trace.sessionId = run.sessionId;
        if (run.tags) trace.tags = run.tags;
        if (run.metadata) trace.metadata = run.metadata;
        if (Object.keys(trace).length > 0) options.trace = trace;
      }
    }
    const stepMetadata: Record<string, unknown> = { 'langchain.run_type': runType };
    if (this.options.recordRunMetadata) {
      if (metadata) {
        for (const key of Object.keys(metadata))
          if (key !== SPANCHAIN_METADATA_KEY) stepMetadata[key] = metadata[key];
      }
      if (tags && tags.length > 0) options.tags = tags;
    }
    options.metadata = stepMetadata;
    const step = this.tracer.startStep(kind, options) as ActiveStep;
    this.counters.started++;
    this.track(runId, { step, parent, kind, chunks: 0 });
  }

  private track(runId: string, entry: RunEntry): void {
    // Bounded: a run that never ends (a dropped stream, a crashed callback) cannot grow the map.
    while (this.runs.size >= this.options.maxRuns) {
      const oldest = this.runs.keys().next().value as string;
      const evicted = this.runs.get(oldest);
      this.runs.delete(oldest);
      if (evicted?.step) {
        evicted.step.fail(new LangChainRunEvictedError(this.options.maxRuns));
        this.counters.evicted++;
      }
    }
    this.runs.set(runId, entry);
  }

  private take(runId: string): RunEntry | undefined {
    const entry = this.runs.get(runId);
    if (entry) this.runs.delete(runId);
    return entry;
  }

  private failEntry(entry: RunEntry | undefined, err: unknown): void {
    if (!entry?.step) return;
    entry.step.fail(err);
    this.counters.ended++;
  }

  /** A handler must never break the app's run: errors inside it are counted and swallowed. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch {
      this.counters.errors++;
    }
  }
}

/**
 * The graph of `createAgent` (langchain v1): its runs carry `ls_integration:
 * 'langchain_create_agent'`, and only the graph itself has no `langgraph_node` yet.
 */
function isAgentRoot(metadata: Record<string, unknown> | undefined): boolean {
  return metadata?.ls_integration === 'langchain_create_agent' && metadata.langgraph_node === undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** LangChain gives messages ids of its own (`run-…`, `lc_run--…`); only a provider's id is a response id. */
function providerMessageId(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return undefined;
  return id.startsWith('run-') || id.startsWith('lc_run') ? undefined : id;
}

/** Tool input arrives as a string (JSON for structured tools); keep objects as objects. */
function parseArguments(input: unknown): unknown {
  if (typeof input !== 'string') return input;
  const first = input.charCodeAt(0);
  // `{` or `[`: structured arguments.
  if (first === 123 || first === 91) {
    try {
      return JSON.parse(input);
    } catch {
      return input;
    }
  }
  return input;
}
