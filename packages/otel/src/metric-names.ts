/**
 * The GenAI metric instruments: names, units, value types and bucket boundaries, as the
 * conventions give them (v1.41.0, `model/gen-ai/metrics.yaml`, `docs/gen-ai/gen-ai-metrics.md`).
 */
import { ValueType } from '@opentelemetry/api';
import {
  ATTR_GEN_AI_TOKEN_TYPE,
  GEN_AI_TOKEN_TYPE_VALUE_INPUT,
  GEN_AI_TOKEN_TYPE_VALUE_OUTPUT,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
  METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
} from '@opentelemetry/semantic-conventions/incubating';
import type { StepKind } from '@spanchain/core';
import type { Descriptor } from './aggregates.js';
import { OPERATION } from './names.js';

/** Names of the instruments. The `gen_ai.*` ones come from the conventions. */
export const METRIC_NAMES = {
  tokenUsage: METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  operationDuration: METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  timeToFirstChunk: METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
  timePerOutputChunk: METRIC_GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
  /** spanchain's own: what the conventions do not define. */
  cost: 'spanchain.client.cost',
  stepDuration: 'spanchain.step.duration',
} as const;

/** `gen_ai.token.type` and its two values. */
export const TOKEN_TYPE = {
  attribute: ATTR_GEN_AI_TOKEN_TYPE,
  input: GEN_AI_TOKEN_TYPE_VALUE_INPUT,
  output: GEN_AI_TOKEN_TYPE_VALUE_OUTPUT,
} as const;

/** Explicit bucket boundaries of `gen_ai.client.token.usage` (powers of 4, 1 to 4^13). */
export const GEN_AI_TOKEN_BUCKETS: readonly number[] = Object.freeze([
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
]);

/**
 * Explicit bucket boundaries, in seconds, of `gen_ai.client.operation.duration`, also used by
 * the two streaming histograms and by `spanchain.step.duration`.
 */
export const GEN_AI_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
]);

/** `gen_ai.operation.name` of the step kinds the conventions cover; the others have none. */
export const METRIC_OPERATION_BY_KIND: Readonly<Partial<Record<StepKind, string>>> = Object.freeze({
  llm: OPERATION.chat,
  embedding: OPERATION.embeddings,
  retrieval: OPERATION.retrieval,
  tool: OPERATION.executeTool,
  agent: OPERATION.invokeAgent,
});

/** Names, units and value types of the instruments. */
export function instrumentDescriptors(): Record<
  'tokenUsage' | 'operationDuration' | 'timeToFirstChunk' | 'timePerOutputChunk' | 'stepDuration' | 'cost',
  Descriptor
> {
  const seconds = (name: string, description: string): Descriptor => ({
    name,
    description,
    unit: 's',
    valueType: ValueType.DOUBLE,
  });
  return {
    tokenUsage: {
      name: METRIC_NAMES.tokenUsage,
      description: 'Number of input and output tokens used.',
      unit: '{token}',
      valueType: ValueType.INT,
    },
    operationDuration: seconds(METRIC_NAMES.operationDuration, 'GenAI operation duration.'),
    timeToFirstChunk: seconds(
      METRIC_NAMES.timeToFirstChunk,
      'Time to receive the first chunk of a streamed response.',
    ),
    timePerOutputChunk: seconds(
      METRIC_NAMES.timePerOutputChunk,
      'Time per output chunk after the first one, averaged over a streamed response.',
    ),
    stepDuration: seconds(
      METRIC_NAMES.stepDuration,
      'Duration of spanchain steps that are no GenAI operation (chain, prompt, guardrail, rerank, custom).',
    ),
    cost: {
      name: METRIC_NAMES.cost,
      description: 'Cost of GenAI calls as the step reports it, in US dollars.',
      unit: 'USD',
      valueType: ValueType.DOUBLE,
    },
  };
}
