// The public surface of @spanchain/otel: every export is named here.

export { fitAttribute } from './attribute-writer.js';
export type { GenAiMessage, GenAiPart } from './content.js';
export { activeTraceIds, type LogFields, logFields, type TraceIds } from './correlation.js';
export {
  errorTypeOf,
  llmAttributes,
  type MapOptions,
  mapStep,
  operationOf,
  type SpanData,
  type SpanEventData,
  type StepMapper,
  spanNameOf,
} from './map.js';
export { withMapOptions } from './mapper.js';
export { GEN_AI_DURATION_BUCKETS, GEN_AI_TOKEN_BUCKETS, METRIC_NAMES } from './metrics.js';
export { OPERATION, SEMCONV, SPANCHAIN } from './names.js';
export {
  CONTENT_MODES,
  type ContentMode,
  type HeadersInput,
  type OtelPluginOptions,
  OtelPluginOptionsSchema,
  type OtlpProtocol,
  PROTOCOLS,
  type ResolvedOtelOptions,
  resolveOtelOptions,
  type StepResource,
} from './options.js';
export { OtelPlugin, otel } from './plugin.js';
export { StepSpan } from './step-span.js';
export { VERSION } from './version.js';

import type { OtelPluginOptions } from './options.js';
import { OtelPlugin } from './plugin.js';

/** Entry used when the plugin is named in `plugins: ['otel']` or `SPANCHAIN_PLUGINS=otel`. */
export function createPlugin(options?: Record<string, unknown>): OtelPlugin {
  return new OtelPlugin(options as OtelPluginOptions | undefined);
}
