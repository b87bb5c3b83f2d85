/**
 * The OpenInference vocabulary the plugin writes, taken from Arize's own
 * `@arizeai/openinference-semantic-conventions` package (CONTRACTS §5.2) rather than typed by
 * hand, and organised by step kind: the span kind of each, the provider values, and the few
 * values the conventions name but the package does not export.
 */
import {
  AnnotatorKind,
  LLMProvider,
  LLMSystem,
  MimeType,
  OpenInferenceSpanKind,
  SEMRESATTRS_PROJECT_NAME,
  SemanticConventions,
} from '@arizeai/openinference-semantic-conventions';
import type { StepKind } from '@spanchain/core';

export {
  AnnotatorKind,
  LLMProvider,
  LLMSystem,
  MimeType,
  OpenInferenceSpanKind,
  SEMRESATTRS_PROJECT_NAME,
  SemanticConventions,
};

/** The resource attribute naming a span's Phoenix project. */
export const PROJECT_RESOURCE_ATTRIBUTE = SEMRESATTRS_PROJECT_NAME;

/** The request header Phoenix reads a batch's project from first (before the resource attribute). */
export const PROJECT_HEADER = 'x-project-name';

/** Trace metadata key naming a per-request project (LiteLLM's name for the same thing). */
export const PROJECT_METADATA_KEY = 'phoenix_project_name';

/** What a hidden value becomes (OpenInference spec/configuration.md, "Redacted Content"). */
export const REDACTED_VALUE = '__REDACTED__';

/** The name the OpenInference spec gives every embedding span (spec/embedding_spans.md). */
export const EMBEDDING_SPAN_NAME = 'CreateEmbeddings';

/** Step kind → `openinference.span.kind`. Every span carries one: without it Phoenix shows UNKNOWN. */
export const SPAN_KIND: Readonly<Record<StepKind, OpenInferenceSpanKind>> = {
  llm: OpenInferenceSpanKind.LLM,
  chain: OpenInferenceSpanKind.CHAIN,
  custom: OpenInferenceSpanKind.CHAIN,
  retrieval: OpenInferenceSpanKind.RETRIEVER,
  rerank: OpenInferenceSpanKind.RERANKER,
  tool: OpenInferenceSpanKind.TOOL,
  agent: OpenInferenceSpanKind.AGENT,
  embedding: OpenInferenceSpanKind.EMBEDDING,
  guardrail: OpenInferenceSpanKind.GUARDRAIL,
  prompt: OpenInferenceSpanKind.PROMPT,
};

/** `llm.provider` (who hosts the model) and `llm.system` (whose API it is) of one provider. */
export interface ProviderValues {
  provider: string;
  system?: string;
}

/**
 * spanchain's provider names (the GenAI conventions' `gen_ai.provider.name` values) → the
 * OpenInference enums. `llm.system` is only set where the spec has a value for that API; xAI and
 * DeepSeek are well-known `llm.system` values in the spec that the package's `LLMSystem` enum
 * lacks, so they take the `LLMProvider` value of the same spelling.
 */
export const PROVIDERS: Readonly<Record<string, ProviderValues>> = {
  openai: { provider: LLMProvider.OPENAI, system: LLMSystem.OPENAI },
  anthropic: { provider: LLMProvider.ANTHROPIC, system: LLMSystem.ANTHROPIC },
  cohere: { provider: LLMProvider.COHERE, system: LLMSystem.COHERE },
  mistral_ai: { provider: LLMProvider.MISTRALAI, system: LLMSystem.MISTRALAI },
  'aws.bedrock': { provider: LLMProvider.AWS, system: LLMSystem.AMAZON },
  'azure.ai.openai': { provider: LLMProvider.AZURE, system: LLMSystem.OPENAI },
  'azure.ai.inference': { provider: LLMProvider.AZURE },
  'gcp.vertex_ai': { provider: LLMProvider.GOOGLE, system: LLMSystem.VERTEXAI },
  'gcp.gemini': { provider: LLMProvider.GOOGLE, system: LLMSystem.VERTEXAI },
  'gcp.gen_ai': { provider: LLMProvider.GOOGLE, system: LLMSystem.VERTEXAI },
  x_ai: { provider: LLMProvider.XAI, system: LLMProvider.XAI },
  deepseek: { provider: LLMProvider.DEEPSEEK, system: LLMProvider.DEEPSEEK },
  groq: { provider: LLMProvider.GROQ },
  perplexity: { provider: LLMProvider.PERPLEXITY },
  // OpenInference system names that are not provider names.
  vertexai: { provider: LLMProvider.GOOGLE, system: LLMSystem.VERTEXAI },
  amazon: { provider: LLMProvider.AWS, system: LLMSystem.AMAZON },
};

/** `llm.system` values already in OpenInference's spelling. */
const SYSTEM_VALUES = new Set<string>(Object.values(LLMSystem));

/**
 * The OpenInference provider and system of a spanchain provider name. Known GenAI names are
 * translated; OpenInference values (`google`, `mistralai`, `vertexai`, …) pass through; anything
 * else is kept as a custom `llm.provider` (the spec allows custom values), without a system.
 */
export function providerValues(name: string | undefined): ProviderValues | undefined {
  if (name === undefined || name === '') return undefined;
  const known = Object.hasOwn(PROVIDERS, name) ? PROVIDERS[name] : undefined;
  if (known !== undefined) return known;
  return SYSTEM_VALUES.has(name) ? { provider: name, system: name } : { provider: name };
}
