import { parseOptions, TRACE_KEYS, type TraceKey } from '@spanchain/core';
import { z } from 'zod';

/** Options of the handler and of `enableLangChainTracing`. All optional. */
export interface LangChainHandlerOptions {
  /**
   * The handler's name. LangChain adds one handler per name to a run, so a second handler of the
   * same name (for example the global one when you also pass one in `callbacks`) is not added twice.
   * Default `spanchain`.
   */
  name?: string;
  /** Record runs LangChain tags `langsmith:hidden` (LangGraph's internal writes and branches). Default `false`. */
  includeHidden?: boolean;
  /** Copy the run's LangChain metadata (`ls_*`, `langgraph_*`, yours) and tags onto its step. Default `true`. */
  recordRunMetadata?: boolean;
  /**
   * Runs kept open at once. When a new run would exceed it, the oldest open run's step is failed
   * with a `LangChainRunEvicted` error and counted in `stats().evicted`. Default 10,000.
   */
  maxRuns?: number;
}

export interface ResolvedLangChainHandlerOptions {
  name: string;
  includeHidden: boolean;
  recordRunMetadata: boolean;
  maxRuns: number;
}

/**
 * The key under RunnableConfig `metadata` that carries per-invocation trace options:
 * `chain.invoke(input, { metadata: { spanchain: { userId: 'u1' } } })`.
 */
export const SPANCHAIN_METADATA_KEY = 'spanchain';

/** Per-invocation trace options, read from `metadata.spanchain` and applied to the root run's step. */
export interface SpanchainRunOptions {
  /** Join a trace that already exists (32 hex characters or a UUID). */
  existingTraceId?: string;
  /** With `existingTraceId`: the span in that trace to nest under. */
  existingParentSpanId?: string;
  /** Parent of the root run's step: a W3C `traceparent` string. */
  traceparent?: string;
  /** The trace's name. */
  traceName?: string;
  userId?: string;
  sessionId?: string;
  /** Trace tags. */
  tags?: string[];
  /** Trace metadata. */
  metadata?: Record<string, unknown>;
  /** Record a redaction marker instead of the root step's input (with `redact()` installed). */
  maskInput?: boolean;
  /** Record a redaction marker instead of the root step's output (with `redact()` installed). */
  maskOutput?: boolean;
  /** When joining an existing trace, the trace keys this run may overwrite. */
  updateTraceKeys?: TraceKey[];
}

export const LangChainHandlerOptionsSchema = z
  .object({
    /** The handler's name in LangChain (one handler per name). Default `spanchain`. */
    name: z.string().min(1).max(100).optional(),
    /** Also trace runs LangChain marks hidden (`langsmith:hidden`, e.g. LangGraph's internals). Default false. */
    includeHidden: z.boolean().optional(),
    /** Keep each run's LangChain metadata (`ls_*`, `langgraph_*`) in the step's metadata. Default true. */
    recordRunMetadata: z.boolean().optional(),
    /** Runs kept open at once; past it the oldest is ended as evicted. Default 10,000. */
    maxRuns: z.number().int().min(1).max(10_000_000).optional(),
  })
  .strict();

/** Validates the options and fills the defaults; throws a `SpanchainError` (`INVALID_OPTIONS`). */
export function resolveHandlerOptions(input: unknown): ResolvedLangChainHandlerOptions {
  const o = parseOptions(LangChainHandlerOptionsSchema, input ?? {}, 'LangChain handler options');
  return {
    name: o.name ?? 'spanchain',
    includeHidden: o.includeHidden ?? false,
    recordRunMetadata: o.recordRunMetadata ?? true,
    maxRuns: o.maxRuns ?? 10_000,
  };
}

const TRACE_KEY_SET: ReadonlySet<string> = new Set(TRACE_KEYS);

/** Reads `metadata.spanchain`, keeping only well-typed fields (bad values are ignored, never thrown). */
export function readRunOptions(
  metadata: Record<string, unknown> | undefined,
): SpanchainRunOptions | undefined {
  const raw = metadata?.[SPANCHAIN_METADATA_KEY];
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const out: SpanchainRunOptions = {};
  for (const key of [
    'existingTraceId',
    'existingParentSpanId',
    'traceparent',
    'traceName',
    'userId',
    'sessionId',
  ] as const) {
    if (typeof r[key] === 'string' && r[key] !== '') out[key] = r[key] as string;
  }
  if (Array.isArray(r.tags)) out.tags = r.tags.filter((t): t is string => typeof t === 'string');
  if (typeof r.metadata === 'object' && r.metadata !== null && !Array.isArray(r.metadata))
    out.metadata = r.metadata as Record<string, unknown>;
  if (typeof r.maskInput === 'boolean') out.maskInput = r.maskInput;
  if (typeof r.maskOutput === 'boolean') out.maskOutput = r.maskOutput;
  if (Array.isArray(r.updateTraceKeys))
    out.updateTraceKeys = r.updateTraceKeys.filter((k): k is TraceKey => TRACE_KEY_SET.has(k as string));
  return out;
}
