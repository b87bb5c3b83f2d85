/**
 * The shapes exchanged with LangSmith's run API (`runs.Run` in LangSmith's OpenAPI schema), and
 * the destination of a batch. The mapper (map.ts) makes runs; the transport (transport.ts) sends
 * them; neither knows the other's internals.
 */

/** The run types LangSmith accepts; anything else is rejected with a 422. */
export const RUN_TYPES = ['llm', 'chain', 'tool', 'retriever', 'embedding', 'prompt', 'parser'] as const;
export type RunType = (typeof RUN_TYPES)[number];

/** A point event on a run (`new_token`, `retry`, …). `time` is RFC 3339 with milliseconds. */
export interface RunEvent {
  name: string;
  time: string;
  kwargs?: Record<string, unknown>;
}

/** One run as sent in a create (`post`). Ids are UUID strings; times are ISO-8601 with microseconds. */
export interface Run {
  id: string;
  trace_id: string;
  dotted_order: string;
  parent_run_id?: string;
  name: string;
  run_type: RunType;
  start_time: string;
  end_time?: string;
  /** Always an object. */
  inputs: Record<string, unknown>;
  /** Always an object when present. */
  outputs?: Record<string, unknown>;
  error?: string;
  /** `extra.metadata` holds user metadata and the `ls_*` keys; `extra.runtime` the SDK/runtime. */
  extra?: { metadata?: Record<string, unknown>; [key: string]: unknown };
  events?: RunEvent[];
  tags?: string[];
  /** The LangSmith project (called session in the API). */
  session_name?: string;
}

/**
 * Where a batch goes. Runs are batched per target and never mixed: two teams' keys, or two
 * projects of one key, always travel in separate requests.
 */
export interface Target {
  /** API base URL without a trailing slash, e.g. `https://api.smith.langchain.com`. */
  endpoint: string;
  apiKey: string;
  /** `x-tenant-id`, for keys that span several workspaces. */
  workspaceId?: string;
  project: string;
  /**
   * A replica: a copy of runs that also go to a primary target. Its runs are counted apart
   * (`stats().replicas`), so that the plugin's totals count each step once.
   */
  replica?: boolean;
}

/** A stable key for a target (the API key is hashed, never kept in clear in the key). */
export type TargetKey = string;
