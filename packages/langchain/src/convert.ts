/**
 * Converts LangChain's callback payloads into spanchain step fields. Everything here reads
 * objects structurally (duck typing) so that duplicate copies of @langchain/core, plain message
 * dicts and serialized classes all work, and nothing here serialises content: the core makes
 * JSON-safe copies later, off the hot path.
 */
import type {
  ContentPart,
  Document,
  LlmParams,
  Message,
  ToolCall,
  ToolDefinition,
  Usage,
} from '@spanchain/core';

type Obj = Record<string, unknown>;

export function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The last element of a serialized class's id path (`ChatOpenAI`, `PromptTemplate`). */
export function serializedClass(serialized: unknown): string | undefined {
  if (!isObject(serialized)) return undefined;
  const id = serialized.id;
  if (Array.isArray(id) && id.length > 0) return str(id[id.length - 1]);
  return undefined;
}

/** A run's display name: the run name, else the serialized name, else the class name. */
export function runName(serialized: unknown, name: string | undefined, fallback: string): string {
  if (name) return name;
  if (isObject(serialized) && str(serialized.name)) return serialized.name as string;
  return serializedClass(serialized) ?? fallback;
}

/**
 * LangChain wraps non-object inputs and outputs as `{ input }` / `{ output }`; unwrap them, and
 * turn LangChain objects into plain data (see {@link plainValue}).
 */
export function unwrap(values: unknown, key: 'input' | 'output'): unknown {
  if (!isObject(values) || Array.isArray(values)) return plainValue(values);
  const keys = Object.keys(values);
  if (keys.length === 1 && keys[0] === key) return plainValue(values[key]);
  return plainValue(values);
}

const isMessage = (value: Obj): boolean =>
  'content' in value && (typeof value.getType === 'function' || typeof value._getType === 'function');

/** A LangChain value as plain data, or undefined when it is not a LangChain class instance. */
function plainLangChain(value: unknown): unknown {
  if (!isObject(value)) return undefined;
  if (isMessage(value)) return toMessage(value);
  // Prompt values: a chat prompt's messages, or a string prompt's text.
  if (typeof value.toChatMessages === 'function' && value.lc_serializable !== undefined) {
    try {
      if (typeof value.value === 'string') return value.value;
      if (Array.isArray(value.messages)) return { messages: toMessages(value.messages) };
      return { messages: toMessages((value.toChatMessages as () => unknown).call(value)) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Messages and prompt values become what they mean (`{ role, content, … }`, the prompt's messages
 * or text) instead of class instances whose `lc_kwargs` repeat every field; also inside an array
 * or one level down an object (`{ question, history: [HumanMessage…] }`). Documents are already
 * plain data (`{ pageContent, metadata }`) and stay as they are.
 */
export function plainValue(value: unknown): unknown {
  const direct = plainLangChain(value);
  if (direct !== undefined) return direct;
  if (Array.isArray(value)) {
    if (!value.some((item) => plainLangChain(item) !== undefined)) return value;
    return value.map((item) => plainLangChain(item) ?? item);
  }
  if (!isObject(value) || Object.getPrototypeOf(value) !== Object.prototype) return value;
  let out: Obj | undefined;
  for (const [key, item] of Object.entries(value)) {
    const plain = Array.isArray(item) ? plainValue(item) : plainLangChain(item);
    if (plain === undefined || plain === item) continue;
    out ??= { ...value };
    out[key] = plain;
  }
  return out ?? value;
}

// ---------------------------------------------------------------------------------------------
// Messages

const ROLE_BY_TYPE: Record<string, string> = {
  human: 'user',
  user: 'user',
  ai: 'assistant',
  assistant: 'assistant',
  system: 'system',
  developer: 'system',
  tool: 'tool',
  function: 'tool',
};

function messageType(message: Obj): string | undefined {
  const getType = message.getType ?? message._getType;
  if (typeof getType === 'function') {
    try {
      return str(getType.call(message));
    } catch {
      // A message class whose type getter throws is read by its fields instead.
    }
  }
  return str(message.type) ?? str(message.role);
}

function roleOf(message: Obj): string {
  const type = messageType(message);
  if (type === 'generic' || type === 'chat') return str(message.role) ?? 'user';
  return (type && ROLE_BY_TYPE[type]) ?? type ?? 'user';
}

function contentOf(content: unknown): string | ContentPart[] | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const parts: ContentPart[] = [];
  for (const block of content) {
    if (typeof block === 'string') parts.push({ type: 'text', text: block });
    else if (!isObject(block)) continue;
    else if (block.type === 'text' && typeof block.text === 'string')
      parts.push({ type: 'text', text: block.text });
    else if (block.type === 'image_url') {
      const url = isObject(block.image_url) ? block.image_url.url : block.image_url;
      parts.push({ type: 'image', ...(typeof url === 'string' ? { url } : {}) });
    } else if (typeof block.type === 'string') parts.push(block as ContentPart);
  }
  return parts;
}

export function toolCallsOf(message: Obj): ToolCall[] | undefined {
  const calls = message.tool_calls;
  if (!Array.isArray(calls) || calls.length === 0) return undefined;
  const out: ToolCall[] = [];
  for (const call of calls) {
    if (!isObject(call)) continue;
    const name = str(call.name) ?? (isObject(call.function) ? str(call.function.name) : undefined);
    if (!name) continue;
    const id = str(call.id);
    const args = call.args ?? (isObject(call.function) ? call.function.arguments : undefined);
    out.push({ name, ...(id ? { id } : {}), ...(args !== undefined ? { arguments: args } : {}) });
  }
  return out.length > 0 ? out : undefined;
}

/** One LangChain message (a class instance or a plain dict) as a spanchain message. */
export function toMessage(message: unknown): Message {
  if (typeof message === 'string') return { role: 'user', content: message };
  if (!isObject(message)) return { role: 'user' };
  const role = roleOf(message);
  const out: Message = { role };
  const content = contentOf(message.content);
  if (content !== undefined && content !== '') out.content = content;
  const name = str(message.name);
  if (name) out.name = name;
  const toolCalls = toolCallsOf(message);
  if (toolCalls) out.toolCalls = toolCalls;
  const toolCallId = str(message.tool_call_id);
  if (toolCallId) out.toolCallId = toolCallId;
  const finish = finishReasonOf(message);
  if (finish) out.finishReason = finish;
  return out;
}

export function toMessages(messages: unknown): Message[] {
  return Array.isArray(messages) ? messages.map(toMessage) : [];
}

function finishReasonOf(message: Obj): string | undefined {
  const meta = message.response_metadata;
  if (!isObject(meta)) return undefined;
  return str(meta.finish_reason) ?? str(meta.stop_reason) ?? str(meta.finishReason);
}

/** The text of a message's content, for the step's output. */
export function textOf(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  let text = '';
  for (const block of content) {
    if (typeof block === 'string') text += block;
    else if (isObject(block) && block.type === 'text' && typeof block.text === 'string') text += block.text;
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Model, provider, parameters

/** LangChain's `ls_provider` values that differ from the GenAI conventions' provider names. */
const PROVIDERS: Record<string, string> = {
  google_genai: 'gcp.gemini',
  google_vertexai: 'gcp.vertex_ai',
  google: 'gcp.gen_ai',
  bedrock: 'aws.bedrock',
  amazon_bedrock: 'aws.bedrock',
  bedrock_converse: 'aws.bedrock',
  azure: 'azure.ai.openai',
  azure_openai: 'azure.ai.openai',
  mistralai: 'mistral_ai',
  mistral: 'mistral_ai',
  xai: 'x_ai',
};

/** Provider guessed from the model class when no `ls_provider` metadata is given. */
const PROVIDER_BY_CLASS: [RegExp, string][] = [
  [/AzureChatOpenAI|AzureOpenAI/, 'azure.ai.openai'],
  [/OpenAI/, 'openai'],
  [/Anthropic/, 'anthropic'],
  [/Bedrock/, 'aws.bedrock'],
  [/VertexAI/, 'gcp.vertex_ai'],
  [/GoogleGenerativeAI|Gemini/, 'gcp.gemini'],
  [/Mistral/, 'mistral_ai'],
  [/Groq/, 'groq'],
  [/Cohere/, 'cohere'],
  [/Ollama/, 'ollama'],
  [/DeepSeek/, 'deepseek'],
  [/XAI/, 'x_ai'],
];

export function providerOf(metadata: Obj | undefined, params: Obj | undefined, cls: string | undefined) {
  const raw = str(metadata?.ls_provider) ?? str(params?._type) ?? undefined;
  if (raw) return PROVIDERS[raw] ?? raw;
  if (cls) for (const [re, provider] of PROVIDER_BY_CLASS) if (re.test(cls)) return provider;
  return undefined;
}

export function modelOf(metadata: Obj | undefined, params: Obj | undefined, serialized: unknown) {
  const kwargs = isObject(serialized) && isObject(serialized.kwargs) ? serialized.kwargs : undefined;
  return (
    str(params?.model) ??
    str(params?.model_name) ??
    str(params?.modelName) ??
    str(params?.model_id) ??
    str(metadata?.ls_model_name) ??
    str(kwargs?.model) ??
    str(kwargs?.model_name) ??
    str(kwargs?.modelName)
  );
}

/** Invocation parameter names (snake and camel case) → spanchain's names. */
const PARAM_NAMES: Record<string, keyof LlmParams> = {
  temperature: 'temperature',
  top_p: 'topP',
  topP: 'topP',
  top_k: 'topK',
  topK: 'topK',
  max_tokens: 'maxTokens',
  maxTokens: 'maxTokens',
  max_completion_tokens: 'maxTokens',
  maxOutputTokens: 'maxTokens',
  max_output_tokens: 'maxTokens',
  num_predict: 'maxTokens',
  stop: 'stopSequences',
  stop_sequences: 'stopSequences',
  stopSequences: 'stopSequences',
  frequency_penalty: 'frequencyPenalty',
  frequencyPenalty: 'frequencyPenalty',
  presence_penalty: 'presencePenalty',
  presencePenalty: 'presencePenalty',
  seed: 'seed',
  n: 'choiceCount',
};

/** Keys never copied into `params`: they are recorded elsewhere or are not parameters. */
const SKIPPED_PARAMS = new Set([
  'model',
  'model_name',
  'modelName',
  'model_id',
  'tools',
  '_type',
  'messages',
]);

/** Normalised request parameters; other scalar invocation parameters are kept under their own name. */
export function paramsOf(params: Obj | undefined, metadata: Obj | undefined): LlmParams | undefined {
  const out: LlmParams = {};
  let any = false;
  if (params) {
    for (const key of Object.keys(params)) {
      if (SKIPPED_PARAMS.has(key)) continue;
      const value = params[key];
      if (value === undefined || value === null) continue;
      const name = PARAM_NAMES[key];
      if (name === 'stopSequences') {
        const stops =
          typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter(isString) : [];
        if (stops.length > 0) {
          out.stopSequences = stops;
          any = true;
        }
      } else if (name) {
        if (typeof value === 'number') {
          out[name] = value;
          any = true;
        }
      } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        out[key] = value;
        any = true;
      }
    }
  }
  // LangSmith's standard metadata fills what the invocation parameters left out.
  if (metadata) {
    const t = num(metadata.ls_temperature);
    if (t !== undefined && out.temperature === undefined) {
      out.temperature = t;
      any = true;
    }
    const m = num(metadata.ls_max_tokens);
    if (m !== undefined && out.maxTokens === undefined) {
      out.maxTokens = m;
      any = true;
    }
  }
  return any ? out : undefined;
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

/** Tool definitions bound to a chat model (OpenAI's `{ type, function }` shape or flat). */
export function toolsOf(params: Obj | undefined): ToolDefinition[] | undefined {
  const tools = params?.tools;
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  const out: ToolDefinition[] = [];
  for (const t of tools) {
    if (!isObject(t)) continue;
    const fn = isObject(t.function) ? t.function : t;
    const name = str(fn.name);
    if (!name) continue;
    const def: ToolDefinition = { name };
    const description = str(fn.description);
    if (description) def.description = description;
    const parameters = fn.parameters ?? fn.input_schema ?? fn.schema;
    if (parameters !== undefined) def.parameters = parameters;
    if (str(t.type)) def.type = t.type as string;
    out.push(def);
  }
  return out.length > 0 ? out : undefined;
}

// ---------------------------------------------------------------------------------------------
// Results

/** `usage_metadata` of a message (LangChain counts cache reads inside `input_tokens`, as spanchain does). */
export function usageFromMetadata(meta: unknown): Usage | undefined {
  if (!isObject(meta)) return undefined;
  const usage: Usage = {};
  const input = num(meta.input_tokens);
  const output = num(meta.output_tokens);
  const total = num(meta.total_tokens);
  if (input !== undefined) usage.inputTokens = input;
  if (output !== undefined) usage.outputTokens = output;
  if (total !== undefined) usage.totalTokens = total;
  if (isObject(meta.input_token_details)) {
    const cacheRead = num(meta.input_token_details.cache_read);
    const cacheWrite = num(meta.input_token_details.cache_creation);
    if (cacheRead) usage.cachedInputTokens = cacheRead;
    if (cacheWrite) usage.cacheCreationInputTokens = cacheWrite;
  }
  if (isObject(meta.output_token_details)) {
    const reasoning = num(meta.output_token_details.reasoning);
    if (reasoning) usage.reasoningTokens = reasoning;
  }
  return Object.keys(usage).length > 0 ? usage : undefined;
}

/** `llmOutput.tokenUsage` (OpenAI-style camelCase) or `llmOutput.usage` (provider-shaped). */
export function usageFromLlmOutput(llmOutput: unknown): Usage | undefined {
  if (!isObject(llmOutput)) return undefined;
  const u = isObject(llmOutput.tokenUsage)
    ? llmOutput.tokenUsage
    : isObject(llmOutput.estimatedTokenUsage)
      ? llmOutput.estimatedTokenUsage
      : isObject(llmOutput.usage)
        ? llmOutput.usage
        : undefined;
  if (!u) return undefined;
  const usage: Usage = {};
  const input = num(u.promptTokens) ?? num(u.prompt_tokens) ?? num(u.input_tokens);
  const output = num(u.completionTokens) ?? num(u.completion_tokens) ?? num(u.output_tokens);
  const total = num(u.totalTokens) ?? num(u.total_tokens);
  if (input !== undefined) usage.inputTokens = input;
  if (output !== undefined) usage.outputTokens = output;
  if (total !== undefined) usage.totalTokens = total;
  else if (input !== undefined && output !== undefined) usage.totalTokens = input + output;
  return Object.keys(usage).length > 0 ? usage : undefined;
}

export function addUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (!a) return b;
  if (!b) return a;
  const out: Usage = { ...a };
  for (const key of Object.keys(b) as (keyof Usage)[]) out[key] = (out[key] ?? 0) + (b[key] ?? 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Documents

const SCORE_KEYS = ['score', 'relevance_score', 'relevanceScore', '_score', 'similarity', '_similarity'];

export function toDocuments(documents: unknown): Document[] {
  if (!Array.isArray(documents)) return [];
  return documents.map((doc) => {
    if (!isObject(doc)) return { content: String(doc) };
    const out: Document = {};
    const id = str(doc.id);
    if (id) out.id = id;
    if (typeof doc.pageContent === 'string') out.content = doc.pageContent;
    if (isObject(doc.metadata)) {
      const metadata = doc.metadata;
      out.metadata = metadata;
      for (const key of SCORE_KEYS) {
        const score = num(metadata[key]);
        if (score !== undefined) {
          out.score = score;
          break;
        }
      }
    }
    const score = num(doc.score);
    if (score !== undefined) out.score = score;
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Prompt templates

/** Whether a chain run is a prompt template (run type `prompt`, or a `…PromptTemplate` class). */
export function isPromptRun(runType: string | undefined, cls: string | undefined): boolean {
  return runType === 'prompt' || cls?.endsWith('PromptTemplate') === true;
}

const ROLE_BY_TEMPLATE: [RegExp, string][] = [
  [/^System/, 'system'],
  [/^Human/, 'user'],
  [/^AI/, 'assistant'],
  [/^Chat/, 'user'],
];

/**
 * A serialized class's kwargs hold nested Serializable instances until JSON.stringify reaches them;
 * this turns one into its `{ lc, type, id, kwargs }` form (a shallow, cheap call).
 */
function asSerialized(value: unknown): unknown {
  if (isObject(value) && value.lc !== 1 && typeof value.toJSON === 'function') {
    try {
      return value.toJSON();
    } catch {
      return value;
    }
  }
  return value;
}

function templateText(input: unknown): string | undefined {
  const prompt = asSerialized(input);
  if (!isObject(prompt)) return undefined;
  const kwargs = isObject(prompt.kwargs) ? prompt.kwargs : prompt;
  if (typeof kwargs.template === 'string') return kwargs.template;
  if (Array.isArray(kwargs.prompt)) {
    const parts = kwargs.prompt.map(templateText).filter(isString);
    return parts.length > 0 ? parts.join('') : undefined;
  }
  if (isObject(kwargs.prompt)) return templateText(kwargs.prompt);
  return undefined;
}

/** The template of a serialized prompt: a string, or messages whose content is their template. */
export function templateOf(serialized: unknown): string | Message[] | undefined {
  if (!isObject(serialized) || !isObject(serialized.kwargs)) return undefined;
  const kwargs = serialized.kwargs;
  if (typeof kwargs.template === 'string') return kwargs.template;
  if (!Array.isArray(kwargs.messages)) return undefined;
  const messages: Message[] = [];
  for (const item of kwargs.messages.slice(0, 100)) {
    const m = asSerialized(item);
    if (!isObject(m)) continue;
    const cls = serializedClass(m) ?? '';
    const mk = isObject(m.kwargs) ? m.kwargs : {};
    if (cls === 'MessagesPlaceholder') {
      messages.push({ role: 'placeholder', content: `{${String(mk.variable_name ?? '')}}` });
      continue;
    }
    if (!cls.endsWith('PromptTemplate')) {
      // A literal message inside the template.
      messages.push(toMessage({ ...mk, type: messageTypeFromClass(cls) }));
      continue;
    }
    const role = ROLE_BY_TEMPLATE.find(([re]) => re.test(cls))?.[1] ?? str(mk.role) ?? 'user';
    const text = templateText(mk.prompt);
    messages.push(text !== undefined ? { role, content: text } : { role });
  }
  return messages;
}

function messageTypeFromClass(cls: string): string {
  if (cls.startsWith('System')) return 'system';
  if (cls.startsWith('AI')) return 'ai';
  if (cls.startsWith('Tool')) return 'tool';
  return 'human';
}

/** What a prompt template rendered: chat messages (`ChatPromptValue`) or text (`StringPromptValue`). */
export function renderedPrompt(output: unknown): { messages?: Message[]; text?: string } {
  if (typeof output === 'string') return { text: output };
  if (!isObject(output)) return {};
  if (Array.isArray(output.messages)) return { messages: toMessages(output.messages) };
  if (typeof output.value === 'string') return { text: output.value };
  return {};
}
