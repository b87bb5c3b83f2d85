/**
 * The attribute names Langfuse reads from OTLP spans (CONTRACTS §3.3), in one table, and the
 * observation type of each step kind.
 */
import type { StepKind } from '@spanchain/core';

export const LANGFUSE = {
  observationType: 'langfuse.observation.type',
  observationInput: 'langfuse.observation.input',
  observationOutput: 'langfuse.observation.output',
  observationMetadataPrefix: 'langfuse.observation.metadata.',
  observationLevel: 'langfuse.observation.level',
  observationStatusMessage: 'langfuse.observation.status_message',
  observationModel: 'langfuse.observation.model.name',
  observationModelParameters: 'langfuse.observation.model.parameters',
  observationUsageDetails: 'langfuse.observation.usage_details',
  observationCostDetails: 'langfuse.observation.cost_details',
  observationCompletionStartTime: 'langfuse.observation.completion_start_time',
  observationPromptName: 'langfuse.observation.prompt.name',
  observationPromptVersion: 'langfuse.observation.prompt.version',
  traceName: 'langfuse.trace.name',
  traceUserId: 'user.id',
  traceSessionId: 'session.id',
  traceTags: 'langfuse.trace.tags',
  traceMetadataPrefix: 'langfuse.trace.metadata.',
  traceInput: 'langfuse.trace.input',
  traceOutput: 'langfuse.trace.output',
  environment: 'langfuse.environment',
  release: 'langfuse.release',
  version: 'langfuse.version',
} as const;

/** Langfuse's observation types (the values of `langfuse.observation.type`). */
export type ObservationType =
  | 'span'
  | 'generation'
  | 'event'
  | 'embedding'
  | 'agent'
  | 'tool'
  | 'chain'
  | 'retriever'
  | 'guardrail'
  | 'evaluator';

/**
 * Step kind → Langfuse observation type. Set explicitly on every span: it is the only way to get
 * RETRIEVER, CHAIN and GUARDRAIL, and it keeps a span that carries a model from turning into a
 * generation.
 */
export const OBSERVATION_TYPE: Readonly<Record<StepKind, ObservationType>> = {
  llm: 'generation',
  embedding: 'embedding',
  retrieval: 'retriever',
  rerank: 'retriever',
  tool: 'tool',
  agent: 'agent',
  chain: 'chain',
  guardrail: 'guardrail',
  prompt: 'span',
  custom: 'span',
};
