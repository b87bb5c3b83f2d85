// The public surface of @spanchain/langsmith: every export is named here.

export {
  type DottedSegment,
  dottedSegment,
  formatDottedOrder,
  formatEndTime,
  formatRunTime,
  isUuid,
  parseDottedOrder,
  spanIdFromUuid,
  spanUuid,
  traceIdFromUuid,
  traceUuid,
} from './ids.js';
export {
  formatBaggage,
  mergeBaggage,
  type ParsedHeaders,
  parseHeaders,
  type RemoteBaggage,
  type RunLink,
  RunLinks,
  type RunLinksOptions,
} from './links.js';
export {
  chatMessage,
  errorText,
  LANGCHAIN_RUN_TYPE_KEY,
  lsProvider,
  type MapOptions,
  RUN_TYPE_BY_KIND,
  runTypeOf,
  runtimeInfo,
  toDocument,
  toRun,
  usageMetadata,
} from './map.js';
export { encodeRuns, multipartBody } from './multipart.js';
export {
  DEFAULT_ENDPOINT,
  DEFAULT_PROJECT,
  type LangSmithPluginOptions,
  LangSmithPluginOptionsSchema,
  type PerStep,
  type Replica,
  type ResolvedLangSmithOptions,
  resolveLangSmithOptions,
} from './options.js';
export { LangSmithPlugin, type LangSmithStats, langsmith } from './plugin.js';
export { RUN_TYPES, type Run, type RunEvent, type RunType, type Target, type TargetKey } from './run.js';
export {
  type DropReason,
  RunTransport,
  type RunTransportOptions,
  type TargetStats,
  TRANSPORT_DEFAULTS,
  type TransportStats,
  targetKey,
} from './transport.js';
export { VERSION } from './version.js';

import type { LangSmithPluginOptions } from './options.js';
import { type LangSmithPlugin, langsmith } from './plugin.js';

/** Entry used when the plugin is named in `plugins: ['langsmith']` or `SPANCHAIN_PLUGINS=langsmith`. */
export function createPlugin(options?: Record<string, unknown>): LangSmithPlugin {
  return langsmith(options as LangSmithPluginOptions | undefined);
}
