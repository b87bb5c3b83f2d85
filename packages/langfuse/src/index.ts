// The public surface of @spanchain/langfuse: every export is named here.

export { createTraceId } from './ids.js';
export {
  chatMessage,
  costDetails,
  joinedParentId,
  type LangfuseMapOptions,
  langfuseMapper,
  normalizeEnvironment,
  usageDetails,
} from './map.js';
export { LANGFUSE, OBSERVATION_TYPE, type ObservationType } from './names.js';
export {
  type CredentialsFunction,
  DEFAULT_BASE_URL,
  type LangfuseCredentials,
  type LangfusePluginOptions,
  LangfusePluginOptionsSchema,
  type ResolvedLangfuseOptions,
  resolveLangfuseOptions,
} from './options.js';
export { INGESTION_VERSION, langfuse, langfuseHeaders, SDK_NAME } from './plugin.js';
export { VERSION } from './version.js';

import type { OtelPlugin } from '@spanchain/otel';
import type { LangfusePluginOptions } from './options.js';
import { langfuse } from './plugin.js';

/** Entry used when the plugin is named in `plugins: ['langfuse']` or `SPANCHAIN_PLUGINS=langfuse`. */
export function createPlugin(options?: Record<string, unknown>): OtelPlugin {
  return langfuse(options as LangfusePluginOptions | undefined);
}
