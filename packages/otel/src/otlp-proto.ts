/**
 * OTLP/protobuf encoding of spans (`ExportTraceServiceRequest`, opentelemetry-proto v1), written
 * straight into one growing buffer.
 *
 * Why not the SDK's serializer: in the bench it cost about 20 µs per span with a 1 KiB input,
 * mostly in its JavaScript UTF-8 string writer, which is more than all the rest of a traced step
 * together, and it encodes a whole batch (512 spans) in one go, blocking the event loop for
 * milliseconds. Here strings and ids go through Node's native writers, nothing is allocated per
 * field, and a batch is encoded in slices with a yield to the event loop between them. The bytes
 * are the same message; a test decodes both encodings of the same spans and compares them.

 */

import { performance } from 'node:perf_hooks';
import type { Attributes, AttributeValue, HrTime, Link } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { Writer } from './proto-writer.js';
import { StepSpan } from './step-span.js';

// Tags: (field number << 3) | wire type (0 varint, 1 64-bit, 2 length-delimited, 5 32-bit).
const Tag = {
  // AnyValue
  StringValue: (1 << 3) | 2,
  BoolValue: (2 << 3) | 0,
  IntValue: (3 << 3) | 0,
  DoubleValue: (4 << 3) | 1,
  ArrayValue: (5 << 3) | 2,
  // ArrayValue.values, KeyValue.key
  Values: (1 << 3) | 2,
  Key: (1 << 3) | 2,
  Value: (2 << 3) | 2,
  // Span
  TraceId: (1 << 3) | 2,
  SpanId: (2 << 3) | 2,
  TraceState: (3 << 3) | 2,
  ParentSpanId: (4 << 3) | 2,
  Name: (5 << 3) | 2,
  Kind: (6 << 3) | 0,
  StartTime: (7 << 3) | 1,
  EndTime: (8 << 3) | 1,
  Attributes: (9 << 3) | 2,
  DroppedAttributes: (10 << 3) | 0,
  Events: (11 << 3) | 2,
  DroppedEvents: (12 << 3) | 0,
  Links: (13 << 3) | 2,
  DroppedLinks: (14 << 3) | 0,
  Status: (15 << 3) | 2,
  Flags: (16 << 3) | 5,
  // Span.Event
  EventTime: (1 << 3) | 1,
  EventName: (2 << 3) | 2,
  EventAttributes: (3 << 3) | 2,
  EventDropped: (4 << 3) | 0,
  // Span.Link
  LinkAttributes: (4 << 3) | 2,
  LinkDropped: (5 << 3) | 0,
  LinkFlags: (6 << 3) | 5,
  // Status
  StatusMessage: (2 << 3) | 2,
  StatusCode: (3 << 3) | 0,
  // Resource, InstrumentationScope
  ResourceAttributes: (1 << 3) | 2,
  ResourceDropped: (2 << 3) | 0,
  ScopeName: (1 << 3) | 2,
  ScopeVersion: (2 << 3) | 2,
  ScopeAttributes: (3 << 3) | 2,
  // Containers: ExportTraceServiceRequest.resource_spans, ResourceSpans.resource/.scope_spans,
  // ScopeSpans.scope/.spans
  ResourceSpans: (1 << 3) | 2,
  Resource: (1 << 3) | 2,
  ScopeSpans: (2 << 3) | 2,
  Scope: (1 << 3) | 2,
  Spans: (2 << 3) | 2,
} as const;

/** W3C flags in bits 0–7, then "is-remote known" (0x100) and "parent is remote" (0x200). */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

const TWO_16 = 0x10000;
const TWO_32 = 0x100000000;

/**
 * `seconds × 10⁹ + nanos` as a fixed64, without BigInt: the product is split so every
 * intermediate stays below 2⁵³ and exact (seconds < 2³¹, nanos < 10⁹).
 */
function writeFixed64Time(w: Writer, tag: number, time: HrTime): void {
  writeFixed64Parts(w, tag, time[0], time[1]);
}

/** Epoch milliseconds (sub-millisecond precision, as steps keep them) as a fixed64 of nanoseconds. */
function writeFixed64Ms(w: Writer, tag: number, ms: number): void {
  let seconds = Math.floor(ms / 1000);
  let nanos = Math.round((ms - seconds * 1000) * 1e6);
  // Rounding can carry a full second (as `toHrTime` does).
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  writeFixed64Parts(w, tag, seconds, nanos);
}

function writeFixed64Parts(w: Writer, tag: number, seconds: number, nanos: number): void {
  const high16 = Math.floor(seconds / TWO_16);
  const low16 = seconds - high16 * TWO_16;
  const x = low16 * 1e9 + nanos; // < 2⁴⁷
  const y = high16 * 1e9; // contributes y × 2¹⁶
  const yLow = y % TWO_16;
  let lo = (x % TWO_32) + yLow * TWO_16;
  const carry = lo >= TWO_32 ? 1 : 0;
  if (carry) lo -= TWO_32;
  const hi = Math.floor(x / TWO_32) + (y - yLow) / TWO_16 + carry;
  w.uint32(tag).fixed32(lo).fixed32(hi);
}

function writeAnyValue(w: Writer, value: unknown): void {
  switch (typeof value) {
    case 'string':
      w.uint32(Tag.StringValue).string(value);
      return;
    case 'boolean':
      w.uint32(Tag.BoolValue).bool(value);
      return;
    case 'number':
      // As the SDK does: whole numbers as intValue, others (NaN, ±Infinity, fractions) as doubles.
      if (Number.isInteger(value) && Number.isSafeInteger(value)) w.uint32(Tag.IntValue).int64(value);
      else w.uint32(Tag.DoubleValue).double(value);
      return;
    case 'object':
      if (Array.isArray(value)) {
        w.uint32(Tag.ArrayValue).fork();
        for (const item of value) {
          w.uint32(Tag.Values).fork();
          if (item !== null && item !== undefined) writeAnyValue(w, item);
          w.ldelim();
        }
        w.ldelim();
      }
      return;
    default:
  }
}

/**
 * `KeyValue.key` fields, encoded once per key (tag, length, UTF-8): spans repeat the same few
 * dozen attribute names, and copying their bytes costs a quarter of writing them. Bounded, since
 * keys can come from the app (metadata): once full, further keys are written each time.
 */
const KEYS = new Map<string, Uint8Array>();
const MAX_CACHED_KEYS = 2048;

function writeKey(w: Writer, key: string): void {
  const cached = KEYS.get(key);
  if (cached !== undefined) {
    w.raw(cached);
    return;
  }
  if (KEYS.size >= MAX_CACHED_KEYS || key.length > 256) {
    w.uint32(Tag.Key).string(key);
    return;
  }
  const bytes = Uint8Array.from(
    Writer.create(key.length * 3 + 4)
      .uint32(Tag.Key)
      .string(key)
      .finish(),
  );
  KEYS.set(key, bytes);
  w.raw(bytes);
}

/** Texts this long (UTF-16 units) have at least as many UTF-8 bytes: a length of two bytes or more. */
const WIDE_TEXT = 128;

function writeAttributes(w: Writer, tag: number, attributes: Attributes | undefined): void {
  if (!attributes) return;
  for (const key of Object.keys(attributes)) {
    const value: AttributeValue | undefined = attributes[key];
    if (value === undefined || value === null) continue;
    if (typeof value === 'string' && value.length >= WIDE_TEXT) {
      // Content: its UTF-8 is at least 128 bytes, so both lengths take two bytes or more.
      w.uint32(tag).forkWide();
      writeKey(w, key);
      w.uint32(Tag.Value).forkWide().uint32(Tag.StringValue).string(value);
      w.ldelim().ldelim();
      continue;
    }
    if (typeof value === 'string' && tag === Tag.Attributes && value.length <= MAX_PAIR_TEXT) {
      writeStringPair(w, key, value);
      continue;
    }
    w.uint32(tag).fork();
    writeKey(w, key);
    w.uint32(Tag.Value).fork();
    writeAnyValue(w, value);
    w.ldelim().ldelim();
  }
}

/**
 * Whole span attributes with a short text value, encoded once: most repeat from span to span
 * (`gen_ai.operation.name` = `chat`, a step kind, a model, a Langfuse observation type).
 * Bounded: at most `MAX_PAIR_VALUES` values per key (a key that has more, such as a step name
 * in an app that makes them up, stops being kept) and `MAX_PAIRS` in all.
 */
const PAIRS = new Map<string, Map<string, Uint8Array> | null>();
let pairCount = 0;
const MAX_PAIRS = 4096;
const MAX_PAIR_KEYS = 1024;
const MAX_PAIR_VALUES = 64;
const MAX_PAIR_TEXT = 64;

function writeStringPair(w: Writer, key: string, value: string): void {
  let values = PAIRS.get(key);
  if (values === undefined && PAIRS.size < MAX_PAIR_KEYS) {
    values = new Map();
    PAIRS.set(key, values);
  }
  if (values) {
    const cached = values.get(value);
    if (cached !== undefined) {
      w.raw(cached);
      return;
    }
  }
  const start = w.length;
  w.uint32(Tag.Attributes).fork();
  writeKey(w, key);
  w.uint32(Tag.Value).fork().uint32(Tag.StringValue).string(value);
  w.ldelim().ldelim();
  if (!values) return;
  if (values.size >= MAX_PAIR_VALUES) {
    // Too many values to be worth keeping: this key is written each time from now on.
    pairCount -= values.size;
    PAIRS.set(key, null);
  } else if (pairCount < MAX_PAIRS) {
    const bytes = new Uint8Array(w.length - start);
    w.copyTo(bytes, start);
    values.set(value, bytes);
    pairCount++;
  }
}

function writeId(w: Writer, tag: number, hex: string | undefined): void {
  if (hex) w.uint32(tag).hex(hex);
}

/**
 * The last id written under one tag and its field's bytes: spans of a trace follow each other in
 * a batch and share their trace id, siblings share their parent's span id.
 */
class IdMemo {
  private id = '';
  private readonly bytes: Uint8Array;
  constructor(
    private readonly tag: number,
    idBytes: number,
  ) {
    this.bytes = new Uint8Array(2 + idBytes);
  }

  write(w: Writer, hex: string | undefined): void {
    if (!hex) return;
    if (hex === this.id) {
      w.raw(this.bytes);
      return;
    }
    const start = w.length;
    w.uint32(this.tag).hex(hex);
    if (w.length - start === this.bytes.length) {
      w.copyTo(this.bytes, start);
      this.id = hex;
    }
  }
}
const TRACE_IDS = new IdMemo(Tag.TraceId, 16);
const PARENT_IDS = new IdMemo(Tag.ParentSpanId, 8);

function writeEvent(w: Writer, event: TimedEvent): void {
  w.uint32(Tag.Events).fork();
  writeFixed64Time(w, Tag.EventTime, event.time);
  w.uint32(Tag.EventName).string(event.name);
  writeAttributes(w, Tag.EventAttributes, event.attributes);
  if (event.droppedAttributesCount) w.uint32(Tag.EventDropped).uint32(event.droppedAttributesCount);
  w.ldelim();
}

function writeLink(w: Writer, link: Link): void {
  w.uint32(Tag.Links).fork();
  writeId(w, Tag.TraceId, link.context.traceId);
  writeId(w, Tag.SpanId, link.context.spanId);
  const state = link.context.traceState?.serialize();
  if (state) w.uint32(Tag.TraceState).string(state);
  writeAttributes(w, Tag.LinkAttributes, link.attributes);
  if (link.droppedAttributesCount) w.uint32(Tag.LinkDropped).uint32(link.droppedAttributesCount);
  const flags = (link.context.traceFlags & 0xff) | HAS_IS_REMOTE | (link.context.isRemote ? IS_REMOTE : 0);
  w.uint32(Tag.LinkFlags).fixed32(flags);
  w.ldelim();
}

/**
 * A step's span, read from the step and its mapped data directly: the `ReadableSpan` getters
 * make an object or array for every context, time and event, which this skips.
 */
function writeStepSpan(w: Writer, span: StepSpan): void {
  const { step } = span;
  const data = span.mapped();
  TRACE_IDS.write(w, step.traceId);
  writeId(w, Tag.SpanId, step.spanId);
  const parent = span.parentSpanContext;
  PARENT_IDS.write(w, parent?.spanId);
  w.uint32(Tag.Name).string(data.name);
  w.uint32(Tag.Kind).uint32(data.kind + 1);
  writeFixed64Ms(w, Tag.StartTime, step.startTime);
  writeFixed64Ms(w, Tag.EndTime, step.endTime ?? step.startTime);
  writeAttributes(w, Tag.Attributes, data.attributes);
  for (const event of data.events) {
    w.uint32(Tag.Events).fork();
    writeFixed64Ms(w, Tag.EventTime, event.time);
    w.uint32(Tag.EventName).string(event.name);
    writeAttributes(w, Tag.EventAttributes, event.attributes);
    w.ldelim();
  }
  const { status } = data;
  w.uint32(Tag.Status).fork();
  if (status.message) w.uint32(Tag.StatusMessage).string(status.message);
  if (status.code) w.uint32(Tag.StatusCode).uint32(status.code);
  w.ldelim();
  const flags = ((step.traceFlags | 1) & 0xff) | HAS_IS_REMOTE | (parent?.isRemote ? IS_REMOTE : 0);
  w.uint32(Tag.Flags).fixed32(flags);
}

/** One `Span` message, without its own tag and length. */
export function writeSpan(w: Writer, span: ReadableSpan): void {
  // A trace state goes through the SDK's parser (as the generic path does), so only spans without one take the short path.
  if (span instanceof StepSpan && span.step.traceState === undefined) {
    writeStepSpan(w, span);
    return;
  }
  const context = span.spanContext();
  writeId(w, Tag.TraceId, context.traceId);
  writeId(w, Tag.SpanId, context.spanId);
  const state = context.traceState?.serialize();
  if (state) w.uint32(Tag.TraceState).string(state);
  const parent = span.parentSpanContext;
  writeId(w, Tag.ParentSpanId, parent?.spanId);
  w.uint32(Tag.Name).string(span.name);
  // The API's SpanKind counts from INTERNAL = 0; the wire from UNSPECIFIED = 0.
  w.uint32(Tag.Kind).uint32(span.kind + 1);
  writeFixed64Time(w, Tag.StartTime, span.startTime);
  writeFixed64Time(w, Tag.EndTime, span.endTime);
  writeAttributes(w, Tag.Attributes, span.attributes);
  if (span.droppedAttributesCount) w.uint32(Tag.DroppedAttributes).uint32(span.droppedAttributesCount);
  for (const event of span.events) writeEvent(w, event);
  if (span.droppedEventsCount) w.uint32(Tag.DroppedEvents).uint32(span.droppedEventsCount);
  for (const link of span.links) writeLink(w, link);
  if (span.droppedLinksCount) w.uint32(Tag.DroppedLinks).uint32(span.droppedLinksCount);
  const { status } = span;
  w.uint32(Tag.Status).fork();
  if (status.message) w.uint32(Tag.StatusMessage).string(status.message);
  if (status.code) w.uint32(Tag.StatusCode).uint32(status.code);
  w.ldelim();
  const flags = (context.traceFlags & 0xff) | HAS_IS_REMOTE | (parent?.isRemote ? IS_REMOTE : 0);
  w.uint32(Tag.Flags).fixed32(flags);
}

/** Spans of one resource and scope, encoded as repeated `ScopeSpans.spans` fields. */
interface Group {
  span: ReadableSpan;
  writer: Writer;
  /** Where the spans begin: the room before them is for the request's headers. */
  spansStart: number;
  resource: Uint8Array;
  scope: Uint8Array;
}

function header(tag: number, length: number): Uint8Array {
  return Writer.create().uint32(tag).uint32(length).finish();
}

function byteLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const part of parts) n += part.length;
  return n;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Spans encoded between two yields to the event loop, at most. */
export const SLICE = 64;
/**
 * Time spent between two yields, at most (then the slice ends early): a span is mapped when it is
 * encoded, and one with megabytes of content takes half a millisecond, so 64 of them would hold
 * the event loop for tens of milliseconds.
 */
export const SLICE_MILLIS = 8;

/** An encoded request, and how to hand its buffer back once the request is done with it. */
export interface EncodedRequest {
  bytes: Uint8Array;
  /**
   * Lets the next batch reuse the buffer `bytes` lives in: call it once nothing reads `bytes`
   * any more (the request was answered), or never.
   */
  release(): void;
}

/**
 * The `ExportTraceServiceRequest` of `spans`, grouped by resource and instrumentation scope,
 * encoded `SLICE` spans or about `SLICE_MILLIS` at a time, whichever comes first, with a yield to
 * the event loop between slices.
 */
export async function encodeTraceRequest(spans: readonly ReadableSpan[], slice = SLICE): Promise<Uint8Array> {
  return (await encodeTraceRequestReusable(spans, slice)).bytes;
}

/**
 * As {@link encodeTraceRequest}; when the batch has one resource and one scope (nearly always),
 * the request is the span buffer itself, its headers written into room kept before the spans, and
 * `release()` returns that buffer to the pool.
 */
export async function encodeTraceRequestReusable(
  spans: readonly ReadableSpan[],
  slice = SLICE,
): Promise<EncodedRequest> {
  const resources = new Map<object, Map<string, Group>>();
  let lastResource: object | undefined;
  let lastScope: object | undefined;
  let lastGroup: Group | undefined;
  for (let start = 0; start < spans.length; ) {
    if (start > 0) await yieldToEventLoop();
    const end = Math.min(spans.length, start + slice);
    const sliceStart = performance.now();
    let i = start;
    for (; i < end; i++) {
      // The clock is read every 8 spans: reading it per span cost 5 % of the encoding.
      if (i > start && ((i - start) & 7) === 0 && performance.now() - sliceStart > SLICE_MILLIS) break;
      const span = spans[i] as ReadableSpan;
      const scope = span.instrumentationScope;
      // Consecutive spans nearly always share resource and scope: skip the lookups then.
      let group = span.resource === lastResource && scope === lastScope ? lastGroup : undefined;
      if (group === undefined) {
        let scopes = resources.get(span.resource);
        if (scopes === undefined) {
          scopes = new Map();
          resources.set(span.resource, scopes);
        }
        const scopeKey = `${scope.name}@${scope.version ?? ''}:${scope.schemaUrl ?? ''}`;
        group = scopes.get(scopeKey);
        if (group === undefined) {
          group = newGroup(span, spans.length);
          scopes.set(scopeKey, group);
        }
        lastResource = span.resource;
        lastScope = scope;
        lastGroup = group;
      }
      // Nearly every span is 128 bytes to 16 KiB long.
      group.writer.uint32(Tag.Spans).forkWide();
      writeSpan(group.writer, span);
      group.writer.ldelim();
    }
    start = i;
  }
  const only = resources.size === 1 ? onlyGroup(resources) : undefined;
  if (only !== undefined) return inPlace(only);
  try {
    return { bytes: assemble(resources), release: () => undefined };
  } finally {
    for (const scopes of resources.values()) for (const group of scopes.values()) releaseWriter(group.writer);
  }
}

function onlyGroup(resources: Map<object, Map<string, Group>>): Group | undefined {
  const scopes = resources.values().next().value as Map<string, Group>;
  return scopes.size === 1 ? (scopes.values().next().value as Group) : undefined;
}

/** Room for a length-delimited field's tag and length (varints of up to 5 bytes). */
const FIELD_HEAD = 6;

/**
 * A group's writer, with room kept before its spans for the request's headers: the resource
 * and the scope (known now, from the first span) and the lengths around them (known at the end).
 */
function newGroup(span: ReadableSpan, count: number): Group {
  // About what a span with some content takes: most batches then never regrow.
  const writer = takeWriter(Math.min(count * 1536 + 1024, 8 * 2 ** 20));
  const resource = resourceBytes(span);
  const scope = scopeBytes(span);
  const room = 3 * FIELD_HEAD + FIELD_HEAD + resource.length + scope.length;
  writer.skip(room);
  return { span, writer, spansStart: room, resource, scope };
}

function resourceBytes(span: ReadableSpan): Uint8Array {
  const w = Writer.create();
  writeAttributes(w, Tag.ResourceAttributes, span.resource.attributes as Attributes);
  return Uint8Array.from(w.finish());
}

function scopeBytes(span: ReadableSpan): Uint8Array {
  const scope = span.instrumentationScope;
  const w = Writer.create().uint32(Tag.ScopeName).string(scope.name);
  if (scope.version) w.uint32(Tag.ScopeVersion).string(scope.version);
  return Uint8Array.from(w.finish());
}

/**
 * The request of a batch with one resource and one scope, in the group's own buffer: the
 * schema URLs are appended after the spans, the headers written just before them.
 */
function inPlace(group: Group): EncodedRequest {
  const { writer, span, spansStart } = group;
  const scopeSchema = span.instrumentationScope.schemaUrl;
  if (scopeSchema) writer.uint32((3 << 3) | 2).string(scopeSchema);
  const scopeSpansEnd = writer.length;
  const resourceSchema = (span.resource as { schemaUrl?: string }).schemaUrl;
  if (resourceSchema) writer.uint32((3 << 3) | 2).string(resourceSchema);
  const end = writer.length;

  const scopeField = fieldLength(group.scope.length);
  const scopeSpansContent = scopeField + (scopeSpansEnd - spansStart);
  const resourceSpansContent =
    fieldLength(group.resource.length) + fieldLength(scopeSpansContent) + (end - scopeSpansEnd);
  const head = Writer.create(spansStart)
    .uint32(Tag.ResourceSpans)
    .uint32(resourceSpansContent)
    .uint32(Tag.Resource)
    .uint32(group.resource.length)
    .raw(group.resource)
    .uint32(Tag.ScopeSpans)
    .uint32(scopeSpansContent)
    .uint32(Tag.Scope)
    .uint32(group.scope.length)
    .raw(group.scope)
    .finish();
  const start = spansStart - head.length;
  writer.put(head, start);
  let released = false;
  return {
    bytes: writer.view(start, end),
    release: () => {
      if (released) return;
      released = true;
      releaseWriter(writer);
    },
  };
}

/** Bytes of a length-delimited field with a one-byte tag and `length` bytes of content. */
function fieldLength(length: number): number {
  let bytes = 1;
  for (let v = length; v >= 0x80; v = Math.floor(v / 0x80)) bytes++;
  return 1 + bytes + length;
}

/**
 * Span writers kept between batches: a new buffer of a batch's size is fresh memory the kernel
 * must map page by page as it is first written, on every batch. A writer comes back once its
 * request is answered (or assembled elsewhere). Bounded in count and size.
 */
const FREE_WRITERS: Writer[] = [];
const MAX_FREE_WRITERS = 4;
const MAX_KEPT_WRITER_BYTES = 4 * 2 ** 20;

function takeWriter(capacity: number): Writer {
  const writer = FREE_WRITERS.pop();
  return writer !== undefined ? writer.reset() : Writer.create(capacity);
}

function releaseWriter(writer: Writer): void {
  if (FREE_WRITERS.length < MAX_FREE_WRITERS && writer.capacity <= MAX_KEPT_WRITER_BYTES) {
    FREE_WRITERS.push(writer.reset());
  }
}

/** The request around the encoded spans: lengths are known now, so headers are written last. */
function assemble(resources: Map<object, Map<string, Group>>): Uint8Array {
  const out: Uint8Array[] = [];
  for (const scopes of resources.values()) {
    const first = scopes.values().next().value as Group;
    const resourceSpans: Uint8Array[] = [header(Tag.Resource, first.resource.length), first.resource];
    for (const group of scopes.values()) {
      const scope = group.span.instrumentationScope;
      const content = [
        header(Tag.Scope, group.scope.length),
        group.scope,
        group.writer.view(group.spansStart, group.writer.length),
      ];
      if (scope.schemaUrl)
        content.push(
          Writer.create()
            .uint32((3 << 3) | 2)
            .string(scope.schemaUrl)
            .finish(),
        );
      resourceSpans.push(header(Tag.ScopeSpans, byteLength(content)), ...content);
    }
    const schemaUrl = (first.span.resource as { schemaUrl?: string }).schemaUrl;
    if (schemaUrl)
      resourceSpans.push(
        Writer.create()
          .uint32((3 << 3) | 2)
          .string(schemaUrl)
          .finish(),
      );
    out.push(header(Tag.ResourceSpans, byteLength(resourceSpans)), ...resourceSpans);
  }
  return Buffer.concat(out);
}
