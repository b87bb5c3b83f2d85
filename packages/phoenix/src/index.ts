// The public surface of @spanchain/phoenix: every export is named here.

export {
  DEFAULT_BASE64_IMAGE_MAX_LENGTH,
  type HideFlags,
  invocationParameters,
  NO_HIDE,
  type PhoenixMapOptions,
  phoenixMapper,
} from './map.js';
export {
  AnnotatorKind,
  EMBEDDING_SPAN_NAME,
  LLMProvider,
  LLMSystem,
  MimeType,
  OpenInferenceSpanKind,
  PROJECT_HEADER,
  PROJECT_METADATA_KEY,
  PROJECT_RESOURCE_ATTRIBUTE,
  PROVIDERS,
  type ProviderValues,
  providerValues,
  REDACTED_VALUE,
  SEMRESATTRS_PROJECT_NAME,
  SemanticConventions,
  SPAN_KIND,
} from './names.js';
export {
  type BatchSettings,
  type CredentialsFunction,
  DEFAULT_ENDPOINT,
  DEFAULT_GRPC_PORT,
  DEFAULT_PROJECT,
  HIDE_ENV,
  isHeaderValue,
  type PhoenixCredentials,
  type PhoenixPluginOptions,
  PhoenixPluginOptionsSchema,
  type PhoenixProtocol,
  type ProjectFunction,
  parseClientHeaders,
  type ResolvedPhoenixOptions,
  resolveEndpoint,
  resolvePhoenixOptions,
} from './options.js';
export { otelOptionsFor, phoenix, phoenixHeaders, SDK_NAME } from './plugin.js';
export { VERSION } from './version.js';

import type { OtelPlugin } from '@spanchain/otel';
import type { PhoenixPluginOptions } from './options.js';
import { phoenix } from './plugin.js';

/** Entry used when the plugin is named in `plugins: ['phoenix']` or `SPANCHAIN_PLUGINS=phoenix`. */
export function createPlugin(options?: Record<string, unknown>): OtelPlugin {
  return phoenix(options as PhoenixPluginOptions | undefined);
}
