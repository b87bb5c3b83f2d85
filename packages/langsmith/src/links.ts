/**
 * Where each run hangs in LangSmith's tree: run id, parent run id, trace run id and dotted order
 * (CONTRACTS §4.1 invariants: the dotted order's last uuid is the run id, its first the trace id,
 * its penultimate the parent run id, and a child's dotted order is its parent's plus one segment).
 *
 * Each trace's root run gets the trace id as its run id (`traceUuid`), so LangSmith's rule
 * "trace_id = id of the root run" holds with the same trace id as every other backend; every
 * other run gets its span id (`spanUuid`). A run's parent is the nearest enclosing spanchain step
 * (an app span between two steps is not a run). Every map here is bounded, and nothing throws.
 */
import type { Step, StepKind } from '@spanchain/core';
import {
  dottedSegment,
  formatDottedOrder,
  formatRunTime,
  isUuid,
  MAX_DOTTED_ORDER_LENGTH,
  MAX_EXECUTION_ORDER,
  parseDottedOrder,
  spanIdFromUuid,
  spanUuid,
  traceIdFromUuid,
  traceUuid,
} from './ids.js';

/** Where one run hangs. */
export interface RunLink {
  /** W3C ids of the step. */
  traceId: string;
  spanId: string;
  /** The run's id: `traceUuid(traceId)` for a trace's root run, else `spanUuid(spanId)`. */
  runId: string;
  /** The run's `trace_id`: always `traceUuid(traceId)`. */
  traceRunId: string;
  parentRunId?: string;
  dottedOrder: string;
  /** 1…999: the digits after the milliseconds in `start_time` and in the own dotted segment. */
  executionOrder: number;
  /** `start_time` as sent, equal to the time in the own dotted segment. */
  startTime: string;
  kind?: StepKind;
  /** A spanchain `agent` step encloses this run in this process (for `ls_agent_type`). */
  underAgent: boolean;
  /** From the `baggage` of an extracted `langsmith-trace` header, inherited by the subtree. */
  metadata?: Record<string, unknown>;
  tags?: string[];
  project?: string;
}

/** What an extracted `langsmith-trace` + `baggage` pair says (see {@link parseHeaders}). */
export interface ParsedHeaders {
  /** W3C trace id: the first run id of the dotted order without dashes. */
  traceId: string;
  /**
   * W3C span id of the parent: the `traceparent`'s span id when that header is in the same trace
   * (the core nests the step under it, so this is the step's `parentSpanId`), else the last 16
   * hex digits of the parent run id.
   */
  parentSpanId: string;
  /** The parent run's id in LangSmith: the last uuid of the dotted order. */
  parentRunId: string;
  /** The parent's dotted order (ids lowercase). */
  dottedOrder: string;
  metadata?: Record<string, unknown>;
  tags?: string[];
  project?: string;
}

/** Baggage an extracted header brought; applied to the subtree under that parent. */
export interface RemoteBaggage {
  metadata?: Record<string, unknown>;
  tags?: string[];
  project?: string;
}

export interface RunLinksOptions {
  /** Ended runs kept so late (detached) children and headers still find them. Default 4096. */
  maxEnded?: number;
  /** Parents remembered from extracted `langsmith-trace` headers. Default 1024. */
  maxRemembered?: number;
  /** Runs started and not ended; beyond this the oldest is forgotten. Default 100,000. */
  maxLive?: number;
}

interface Remembered extends RemoteBaggage {
  dottedOrder: string;
  parentRunId: string;
}

/** A parent known only by id and dotted order (the trace root, a remote run): counts its children. */
interface Anchor {
  runId: string;
  dottedOrder: string;
  children: number;
}

interface LinkState extends RunLink {
  children: number;
}

/** The fields of a step this module reads (also satisfied by a `RunLink`-less step-like object). */
type StepLike = Pick<
  Step,
  'traceId' | 'spanId' | 'parentSpanId' | 'parentStepId' | 'parentIsRemote' | 'startTime' | 'kind'
>;

const MAX_ANCESTOR_WALK = 256;
/** W3C baggage is at most 8,192 bytes; a langsmith member that alone takes half is not sent. */
const MAX_BAGGAGE = 8_192;
const MAX_MEMBER = 4_096;
const MAX_TAGS = 100;
const MAX_TAG_LENGTH = 256;
const MAX_PROJECT_LENGTH = 512;
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-[\da-f]{2}(?:-.*)?$/;
const HEX32 = /^[0-9a-f]{32}$/;
const ZERO = /^0+$/;

/** A Map used as an LRU: reads move an entry to the end, writes evict from the front. */
function lruGet<K, V>(map: Map<K, V>, key: K): V | undefined {
  const value = map.get(key);
  if (value !== undefined) {
    map.delete(key);
    map.set(key, value);
  }
  return value;
}

function lruSet<K, V>(map: Map<K, V>, key: K, value: V, cap: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > cap) {
    const oldest = map.keys().next();
    if (oldest.done) break;
    map.delete(oldest.value);
  }
}

function cap(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : fallback;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function validTraceId(value: unknown): value is string {
  return typeof value === 'string' && HEX32.test(value) && !ZERO.test(value);
}

function sameTrace(link: LinkState | undefined, traceId: string): LinkState | undefined {
  return link !== undefined && link.traceId === traceId ? link : undefined;
}

function stepKey(traceId: string, spanId: string): string {
  return `${traceId}/${spanId}`;
}

/** A step-shaped value with usable ids (plugins only ever get real steps, but never throw on others). */
function readStep(step: unknown): StepLike | undefined {
  if (!isRecord(step)) return undefined;
  try {
    const s = step as Partial<StepLike>;
    if (typeof s.traceId !== 'string' || typeof s.spanId !== 'string') return undefined;
    return {
      traceId: s.traceId.toLowerCase(),
      spanId: s.spanId.toLowerCase(),
      parentSpanId: typeof s.parentSpanId === 'string' ? s.parentSpanId.toLowerCase() : undefined,
      parentStepId: typeof s.parentStepId === 'string' ? s.parentStepId.toLowerCase() : undefined,
      parentIsRemote: s.parentIsRemote === true,
      startTime: typeof s.startTime === 'number' ? s.startTime : 0,
      kind: s.kind as StepKind,
    };
  } catch {
    return undefined;
  }
}

/**
 * Assigns each step its run id, parent run id, trace run id and dotted order. Call `start(step)`
 * from `onStart` and `end(step)` from `onEnd`; `end` also works for steps whose start was never
 * seen (`tracer.emit()`ed, tail-sampled), and is idempotent.
 *
 * Parent resolution, in order:
 * 1. the nearest enclosing step (`parentStepId`, else `parentSpanId`) when it is known here (live,
 *    or ended recently: a detached child starting after its parent ended still nests);
 * 2. no parent at all (and not joined): the trace's root run, id `traceUuid(traceId)`;
 * 3. joined by `existingTraceId` without a parent span: under the trace's root run. The root's
 *    real start time is unknown here, so its dotted segment carries this run's start time;
 * 4. a remote parent remembered from an extracted `langsmith-trace` header: under that run, with
 *    the header's dotted order as prefix and its baggage (metadata, tags, project). A remote
 *    parent of a trace whose header was remembered under another span id nests under that header;
 * 5. a remote parent without that header: best effort, `spanUuid(parentSpanId)` directly under the
 *    trace root. Only right when the remote parent sits directly under the root (LangSmith
 *    cannot rebuild a deeper remote path from a W3C `traceparent` alone), and only when the remote
 *    parent is not itself a root run (whose id is the trace's, not `spanUuid`);
 * 6. a local parent that is not a known step: an enclosing step whose link is gone gets the best
 *    effort of (5); an app span with no step around it (an HTTP server span) is not a run, so the
 *    first such step of a trace becomes its root run and later ones nest under that root (or
 *    under the run of a `langsmith-trace` header remembered for the trace).
 */
export class RunLinks {
  private readonly live = new Map<string, LinkState>();
  private readonly ended = new Map<string, LinkState>();
  /** Trace id → its root run, once a step claimed it (bounded like `ended`). */
  private readonly roots = new Map<string, LinkState>();
  /** Trace id + span id → a remote parent's dotted order and baggage. */
  private readonly remembered = new Map<string, Remembered>();
  /** Trace id → the latest remembered remote parent of that trace. */
  private readonly rememberedByTrace = new Map<string, Remembered>();
  /** Parents known only by run id (trace roots not seen here, remote runs): child counters. */
  private readonly anchors = new Map<string, Anchor>();
  private readonly maxEnded: number;
  private readonly maxRemembered: number;
  private readonly maxLive: number;

  constructor(options: RunLinksOptions = {}) {
    this.maxEnded = cap(options.maxEnded, 4096);
    this.maxRemembered = cap(options.maxRemembered, 1024);
    this.maxLive = cap(options.maxLive, 100_000);
  }

  /** Computes and keeps the link of a starting step. Idempotent; undefined only for a non-step. */
  start(step: Step): RunLink | undefined {
    const s = readStep(step);
    if (!s) return undefined;
    const known = this.find(s.traceId, s.spanId, true);
    if (known) return known;
    const link = this.resolve(s, step, 0);
    lruSet(this.live, s.spanId, link, this.maxLive);
    return link;
  }

  /**
   * The link of an ending step, computed now if its start was not seen. The link is kept a while
   * (bounded) for children that start after it ended. Undefined only for a non-step.
   */
  end(step: Step): RunLink | undefined {
    const s = readStep(step);
    if (!s) return undefined;
    let link = sameTrace(this.live.get(s.spanId), s.traceId);
    if (link) this.live.delete(s.spanId);
    else link = sameTrace(this.ended.get(s.spanId), s.traceId) ?? this.resolve(s, step, 0);
    lruSet(this.ended, s.spanId, link, this.maxEnded);
    return link;
  }

  /** The link of a step already started or recently ended, without computing one. */
  get(step: Pick<Step, 'traceId' | 'spanId'>): RunLink | undefined {
    const s = readStep(step);
    if (!s) return undefined;
    return this.find(s.traceId, s.spanId, false);
  }

  /**
   * A live or recently ended link. The maps are keyed by span id alone (64 random bits; no key
   * string to build per lookup); an entry of another trace under the same span id is a miss.
   */
  private find(traceId: string, spanId: string, touch: boolean): LinkState | undefined {
    return (
      sameTrace(this.live.get(spanId), traceId) ??
      sameTrace(touch ? lruGet(this.ended, spanId) : this.ended.get(spanId), traceId)
    );
  }

  /**
   * Remembers a remote parent from an extracted `langsmith-trace` header, so steps whose parent is
   * `(traceId, spanId)` nest under that run with the header's dotted order and baggage. Returns
   * false (and keeps nothing) when the dotted order is malformed or belongs to another trace.
   */
  remember(traceId: string, spanId: string, dottedOrder: string, baggage?: RemoteBaggage): boolean {
    if (typeof traceId !== 'string' || typeof spanId !== 'string') return false;
    const trace = traceId.toLowerCase();
    const span = spanId.toLowerCase();
    const segments = parseDottedOrder(typeof dottedOrder === 'string' ? dottedOrder.trim() : dottedOrder);
    if (!validTraceId(trace) || !segments || segments[0]!.id !== traceUuid(trace)) return false;
    const entry: Remembered = {
      dottedOrder: formatDottedOrder(segments),
      parentRunId: segments[segments.length - 1]!.id,
    };
    if (baggage) {
      if (isRecord(baggage.metadata)) entry.metadata = baggage.metadata;
      if (Array.isArray(baggage.tags)) entry.tags = cleanTags(baggage.tags);
      if (typeof baggage.project === 'string' && baggage.project !== '') entry.project = baggage.project;
    }
    lruSet(this.remembered, stepKey(trace, span), entry, this.maxRemembered);
    lruSet(this.rememberedByTrace, trace, entry, this.maxRemembered);
    return true;
  }

  /**
   * Outgoing `langsmith-trace` and `baggage` headers for a run, so a LangSmith-instrumented
   * service nests its runs under it. Give a step (its link is computed if needed) or a link.
   * The baggage carries the trace's metadata, user and thread, tags, and `project` when given
   * (else the project a remembered header named). Merge `baggage` with W3C baggage from
   * `tracer.inject()` using {@link mergeBaggage}.
   */
  headers(from: Step | RunLink, options: { project?: string } = {}): Record<string, string> {
    try {
      return this.headersOf(from, options);
    } catch {
      return {};
    }
  }

  private headersOf(from: Step | RunLink, options: { project?: string }): Record<string, string> {
    let link: RunLink | undefined;
    let step: Step | undefined;
    if (isRecord(from) && typeof (from as RunLink).dottedOrder === 'string') link = from as RunLink;
    else {
      step = from as Step;
      const s = readStep(step);
      if (s) {
        const key = s.spanId;
        link = this.find(s.traceId, key, true);
        if (!link) {
          const state = this.resolve(s, step, 0);
          // A running step's link stays until its end, like one seen starting.
          if (step.endTime === undefined) lruSet(this.live, key, state, this.maxLive);
          else lruSet(this.ended, key, state, this.maxEnded);
          link = state;
        }
      }
    }
    if (!link) return {};
    const headers: Record<string, string> = { 'langsmith-trace': link.dottedOrder };
    const metadata: Record<string, unknown> = { ...link.metadata };
    let tags = link.tags ?? [];
    let trace: Step['trace'] | undefined;
    try {
      trace = isRecord(step?.trace) ? step.trace : undefined;
    } catch {
      // The run's own position still travels.
    }
    if (trace) {
      if (isRecord(trace.metadata)) Object.assign(metadata, trace.metadata);
      if (typeof trace.userId === 'string') metadata.user_id = trace.userId;
      if (typeof trace.sessionId === 'string') metadata.thread_id = trace.sessionId;
      if (Array.isArray(trace.tags)) tags = [...tags, ...trace.tags];
    }
    // A project named by an incoming header stays the trace's project for the next hop too.
    const project =
      link.project ?? (typeof options?.project === 'string' && options.project ? options.project : undefined);
    const baggage = formatBaggage(metadata, tags, project);
    if (baggage) headers.baggage = baggage;
    return headers;
  }

  /** Sizes, for tests and stats. */
  sizes(): { live: number; ended: number; roots: number; remembered: number; anchors: number } {
    return {
      live: this.live.size,
      ended: this.ended.size,
      roots: this.roots.size,
      remembered: this.remembered.size,
      anchors: this.anchors.size,
    };
  }

  // -------------------------------------------------------------------------------------------

  private resolve(s: StepLike, step: unknown, depth: number): LinkState {
    const traceRunId = traceUuid(s.traceId);
    const ownRunId = spanUuid(s.spanId);
    const localParent = s.parentStepId ?? s.parentSpanId;

    if (localParent !== undefined) {
      const parent =
        this.find(s.traceId, localParent, true) ??
        (s.parentStepId !== undefined ? this.ancestor(step, s, depth) : undefined);
      if (parent) return this.childOf(s, ownRunId, traceRunId, parent);
    }

    if (s.parentSpanId === undefined && !s.parentIsRemote) return this.claimRoot(s, traceRunId);

    if (s.parentIsRemote) {
      if (s.parentSpanId === undefined) return this.underRoot(s, ownRunId, traceRunId);
      // The exact parent's header, else the latest header of this trace (closer than a guess).
      const remembered =
        lruGet(this.remembered, stepKey(s.traceId, s.parentSpanId)) ??
        lruGet(this.rememberedByTrace, s.traceId);
      if (remembered) return this.underRemembered(s, ownRunId, traceRunId, remembered);
      return this.bestEffort(s, ownRunId, traceRunId, s.parentSpanId);
    }

    if (s.parentStepId !== undefined) {
      // An enclosing step whose link is gone (evicted) and whose record is not reachable.
      const root = this.roots.get(s.traceId);
      if (root && root.spanId === s.parentStepId) return this.childOf(s, ownRunId, traceRunId, root);
      return this.bestEffort(s, ownRunId, traceRunId, s.parentStepId);
    }

    // An app span with no step around it: the request came from somewhere (a remembered header),
    // or this is the trace's first step here and becomes the root run.
    const remembered = lruGet(this.rememberedByTrace, s.traceId);
    if (remembered) return this.underRemembered(s, ownRunId, traceRunId, remembered);
    return this.claimRoot(s, traceRunId);
  }

  /**
   * The link of an enclosing step never seen here (tail sampling delivers children before their
   * parents): the core's step record references its parent record, so walk up and link it now.
   */
  private ancestor(step: unknown, s: StepLike, depth: number): LinkState | undefined {
    if (depth >= MAX_ANCESTOR_WALK || !isRecord(step)) return undefined;
    let parentRecord: unknown;
    try {
      parentRecord = (step as { parent?: unknown }).parent;
    } catch {
      return undefined;
    }
    const p = readStep(parentRecord);
    if (!p || p.spanId !== s.parentStepId || p.traceId !== s.traceId) return undefined;
    const link = this.resolve(p, parentRecord, depth + 1);
    lruSet(this.ended, p.spanId, link, this.maxEnded);
    return link;
  }

  private state(
    s: StepLike,
    runId: string,
    traceRunId: string,
    parentRunId: string | undefined,
    prefix: string | undefined,
    order: number,
  ): LinkState {
    const segment = dottedSegment(s.startTime, order, runId);
    const link: LinkState = {
      traceId: s.traceId,
      spanId: s.spanId,
      runId,
      traceRunId,
      dottedOrder: prefix === undefined ? segment : `${prefix}.${segment}`,
      executionOrder: Math.min(order, MAX_EXECUTION_ORDER),
      startTime: formatRunTime(s.startTime, order),
      underAgent: false,
      children: 0,
    };
    if (parentRunId !== undefined) link.parentRunId = parentRunId;
    if (s.kind !== undefined) link.kind = s.kind;
    return link;
  }

  private childOf(s: StepLike, runId: string, traceRunId: string, parent: LinkState): LinkState {
    parent.children++;
    const link = this.state(s, runId, traceRunId, parent.runId, parent.dottedOrder, parent.children);
    link.underAgent = parent.underAgent || parent.kind === 'agent';
    inherit(link, parent);
    return link;
  }

  private claimRoot(s: StepLike, traceRunId: string): LinkState {
    const claimed = this.roots.get(s.traceId);
    // Another step of this trace already is the root (two steps under one app span): nest.
    if (claimed && claimed.spanId !== s.spanId)
      return this.childOf(s, spanUuid(s.spanId), traceRunId, claimed);
    const link = this.state(s, traceRunId, traceRunId, undefined, undefined, 1);
    lruSet(this.roots, s.traceId, link, this.maxEnded);
    return link;
  }

  /**
   * A parent known only by run id, with its dotted order: the first child fixes that dotted order
   * (later children of the same parent share it), and each child takes the next order.
   */
  private anchor(runId: string, dottedOrder: () => string): Anchor {
    let anchor = lruGet(this.anchors, runId);
    if (!anchor) {
      anchor = { runId, dottedOrder: dottedOrder(), children: 0 };
      lruSet(this.anchors, runId, anchor, this.maxEnded);
    }
    anchor.children++;
    return anchor;
  }

  private underAnchor(s: StepLike, runId: string, traceRunId: string, anchor: Anchor): LinkState {
    return this.state(s, runId, traceRunId, anchor.runId, anchor.dottedOrder, anchor.children);
  }

  /** Joined by trace id alone: under the trace's root run, known here or not. */
  private underRoot(s: StepLike, runId: string, traceRunId: string): LinkState {
    const root = this.roots.get(s.traceId);
    if (root) return this.childOf(s, runId, traceRunId, root);
    // The root's own start time is unknown: its segment carries the first joined run's start time.
    const anchor = this.anchor(traceRunId, () => dottedSegment(s.startTime, 1, traceRunId));
    return this.underAnchor(s, runId, traceRunId, anchor);
  }

  private underRemembered(s: StepLike, runId: string, traceRunId: string, parent: Remembered): LinkState {
    const anchor = this.anchor(parent.parentRunId, () => parent.dottedOrder);
    const link = this.underAnchor(s, runId, traceRunId, anchor);
    inherit(link, parent);
    return link;
  }

  /** A parent known only by span id: assumed to sit directly under the trace's root run. */
  private bestEffort(s: StepLike, runId: string, traceRunId: string, parentSpanId: string): LinkState {
    const parentRunId = spanUuid(parentSpanId);
    const anchor = this.anchor(parentRunId, () => {
      const root = this.roots.get(s.traceId);
      const rootSegment = root ? root.dottedOrder : dottedSegment(s.startTime, 1, traceRunId);
      // With 64-bit trace ids (upper half zero) a root span's run id can equal the trace's.
      return parentRunId === traceRunId
        ? rootSegment
        : `${rootSegment}.${dottedSegment(s.startTime, 1, parentRunId)}`;
    });
    return this.underAnchor(s, runId, traceRunId, anchor);
  }
}

function inherit(link: RunLink, from: RemoteBaggage): void {
  if (from.metadata) link.metadata = from.metadata;
  if (from.tags) link.tags = from.tags;
  if (from.project) link.project = from.project;
}

function cleanTags(tags: readonly unknown[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const tag of tags) {
    if (out.length >= MAX_TAGS) break;
    if (typeof tag !== 'string') continue;
    const t = tag.trim().slice(0, MAX_TAG_LENGTH);
    if (t === '' || seen.has(t)) continue;
    seen.add(t);
    out.push(t);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Headers

/** The langsmith members of a `baggage` header (empty string when there is nothing to send). */
export function formatBaggage(
  metadata: Record<string, unknown> | undefined,
  tags: readonly unknown[] | undefined,
  project: string | undefined,
): string {
  const members: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    let json: string | undefined;
    try {
      json = JSON.stringify(metadata);
    } catch {
      json = undefined;
    }
    const member = json === undefined ? undefined : `langsmith-metadata=${encodeURIComponent(json)}`;
    if (member && member.length <= MAX_MEMBER) members.push(member);
  }
  // LangSmith joins tags with commas inside the encoded value: a tag with a comma cannot travel.
  const list = tags ? cleanTags(tags).filter((t) => !t.includes(',')) : [];
  if (list.length > 0) {
    const member = `langsmith-tags=${encodeURIComponent(list.join(','))}`;
    if (member.length <= MAX_MEMBER) members.push(member);
  }
  if (typeof project === 'string' && project !== '' && project.length <= MAX_PROJECT_LENGTH)
    members.push(`langsmith-project=${encodeURIComponent(project)}`);
  return members.join(',');
}

/**
 * One `baggage` header from W3C baggage (e.g. from `tracer.inject()`) and the langsmith members:
 * other members are kept, stale langsmith members replaced. Members that would take the header
 * past 8,192 bytes are left out, the langsmith ones first.
 */
export function mergeBaggage(existing: string | undefined, langsmith: string | undefined): string {
  const kept =
    typeof existing === 'string' && existing.length <= MAX_BAGGAGE
      ? existing
          .split(',')
          .map((m) => m.trim())
          .filter((m) => m !== '' && !m.startsWith('langsmith-'))
      : [];
  let out = kept.join(',');
  for (const member of typeof langsmith === 'string' && langsmith ? langsmith.split(',') : []) {
    const next = out ? `${out},${member}` : member;
    if (Buffer.byteLength(next) <= MAX_BAGGAGE) out = next;
  }
  return out;
}

type HeaderValue = string | readonly string[] | null | undefined;

function readHeader(get: (name: string) => HeaderValue, name: string): string | undefined {
  let value: HeaderValue;
  try {
    value = get(name);
  } catch {
    return undefined;
  }
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string').join(',');
  return typeof value === 'string' ? value : undefined;
}

function decode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

function parseBaggage(header: string): RemoteBaggage {
  const out: RemoteBaggage = {};
  if (header.length > MAX_BAGGAGE) return out;
  for (const member of header.split(',')) {
    const eq = member.indexOf('=');
    if (eq < 0) continue;
    const key = member.slice(0, eq).trim();
    if (!key.startsWith('langsmith-')) continue;
    // W3C members may carry `;property` suffixes; LangSmith's encoded values never contain `;`.
    const raw = member
      .slice(eq + 1)
      .split(';')[0]!
      .trim();
    if (raw.length > MAX_MEMBER) continue;
    const value = decode(raw);
    if (value === undefined) continue;
    if (key === 'langsmith-metadata') {
      try {
        const parsed: unknown = JSON.parse(value);
        if (isRecord(parsed)) out.metadata = parsed;
      } catch {
        // Malformed metadata is dropped; the trace header still counts.
      }
    } else if (key === 'langsmith-tags') {
      const tags = cleanTags(value.split(','));
      if (tags.length > 0) out.tags = tags;
    } else if (key === 'langsmith-project') {
      const project = value.trim();
      if (project !== '' && project.length <= MAX_PROJECT_LENGTH) out.project = project;
    }
  }
  return out;
}

/**
 * Reads `langsmith-trace` (and `baggage`, and `traceparent` when it is in the same trace) from
 * incoming headers. Undefined when there is no valid `langsmith-trace`. Sizes are bounded: a
 * dotted order of more than 1000 segments, a baggage header over 8 KiB or a member over 4 KiB is
 * ignored. Only the `langsmith-*` baggage members are read. Never throws.
 */
export function parseHeaders(get: (name: string) => HeaderValue): ParsedHeaders | undefined {
  if (typeof get !== 'function') return undefined;
  const raw = readHeader(get, 'langsmith-trace')?.trim();
  if (!raw || raw.length > MAX_DOTTED_ORDER_LENGTH) return undefined;
  const segments = parseDottedOrder(raw);
  if (!segments) return undefined;
  const traceId = traceIdFromUuid(segments[0]!.id);
  const parentRunId = segments[segments.length - 1]!.id;
  if (!traceId || !isUuid(parentRunId)) return undefined;
  let parentSpanId = spanIdFromUuid(parentRunId);
  const traceparent = readHeader(get, 'traceparent');
  if (traceparent !== undefined && traceparent.length <= 512) {
    const m = TRACEPARENT.exec(traceparent.trim().toLowerCase());
    if (m && m[1] === traceId && !ZERO.test(m[2]!)) parentSpanId = m[2]!;
  }
  if (!parentSpanId) return undefined;
  const out: ParsedHeaders = { traceId, parentSpanId, parentRunId, dottedOrder: formatDottedOrder(segments) };
  const baggage = readHeader(get, 'baggage');
  if (baggage !== undefined) Object.assign(out, parseBaggage(baggage));
  return out;
}
