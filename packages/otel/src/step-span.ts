/**
 * A finished step seen as an OpenTelemetry `ReadableSpan`, so that the SDK's own processors and
 * exporters handle it. The ids are the step's own. The mapping to attributes runs on first
 * read, which happens when a batch is exported: the traced code only pays for this object.
 */
import {
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  SpanKind,
  type SpanStatus,
  SpanStatusCode,
} from '@opentelemetry/api';
import { type InstrumentationScope, TraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { Step } from '@spanchain/core';
import { sanitizedAttributes } from './attribute-writer.js';
import { type MapOptions, mapStep, type SpanData, type StepMapper } from './map.js';
import { SPANCHAIN } from './names.js';

/** Epoch milliseconds (sub-millisecond precision) as `[seconds, nanoseconds]`. */
export function toHrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  // Rounding can carry a full second.
  return nanos >= 1e9 ? [seconds + 1, nanos - 1e9] : [seconds, nanos];
}

const NO_LINKS: Link[] = [];

/** Extra attributes for a span, computed when it is read (the LLM calls folded into a parent). */
export type AttributeSource = () => Attributes | undefined;

/**
 * `mapper(step)`, or, when it throws (the app's data has a getter or a proxy trap that throws), a
 * span with the step's name, kind, status and the error's message: one unreadable step must not
 * fail the whole batch it is exported in. `onError` hears about it.
 */
export function mapSafely(
  mapper: StepMapper,
  step: Step,
  options: MapOptions,
  onError?: (error: unknown) => void,
): SpanData {
  try {
    const data = mapper(step, options);
    if (typeof data.name !== 'string') throw new TypeError('the mapper gave the span no name');
    // The app's own attributes (and event attributes) arrive as it gave them: values OTLP cannot
    // carry become JSON text here, so that the encoder never meets one (a cycle, a BigInt).
    data.attributes = sanitizedAttributes(data.attributes, options.limits);
    for (let i = 0; i < data.events.length; i++) {
      const event = data.events[i]!;
      if (event.attributes === undefined) continue;
      const attributes = sanitizedAttributes(event.attributes, options.limits);
      if (attributes !== event.attributes) data.events[i] = { ...event, attributes };
    }
    return data;
  } catch (error) {
    try {
      onError?.(error);
    } catch {
      // a failing reporter changes nothing here
    }
    let message = 'the step could not be mapped';
    try {
      message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    } catch {
      // an error whose message cannot be read keeps the generic text
    }
    const name = typeof step.name === 'string' && step.name !== '' ? step.name : String(step.kind);
    return {
      name,
      kind: SpanKind.INTERNAL,
      attributes: {
        [SPANCHAIN.stepKind]: String(step.kind),
        [SPANCHAIN.stepName]: name,
        [SPANCHAIN.mappingError]: message.slice(0, 1024),
      },
      events: [],
      status:
        step.status === 'error'
          ? { code: SpanStatusCode.ERROR }
          : { code: step.status === 'ok' ? SpanStatusCode.OK : SpanStatusCode.UNSET },
    };
  }
}

export class StepSpan implements ReadableSpan {
  readonly ended = true;
  readonly links = NO_LINKS;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  private data: SpanData | undefined;

  constructor(
    readonly step: Step,
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
    private readonly options: MapOptions,
    private readonly extra?: AttributeSource,
    private readonly mapper: StepMapper = mapStep,
    /** Hears about a step the mapper could not map (the span is then sent with a minimal mapping). */
    private readonly onMapError?: (error: unknown) => void,
  ) {}

  /** The step's span data: the mapping runs on the first call (of this or any span getter). */
  mapped(): SpanData {
    if (this.data === undefined) {
      this.data = mapSafely(this.mapper, this.step, this.options, this.onMapError);
      let extra: Attributes | undefined;
      try {
        extra = this.extra?.();
      } catch (error) {
        this.onMapError?.(error);
      }
      if (extra) {
        // The span's own attributes win over what its children contributed.
        this.data.attributes = { ...extra, ...this.data.attributes };
      }
    }
    return this.data;
  }

  get name(): string {
    return this.mapped().name;
  }
  get kind(): SpanKind {
    return this.mapped().kind;
  }
  get attributes(): Attributes {
    return this.mapped().attributes;
  }
  get status(): SpanStatus {
    return this.mapped().status;
  }
  get events(): TimedEvent[] {
    return this.mapped().events.map((event) => ({
      name: event.name,
      time: toHrTime(event.time),
      attributes: event.attributes,
      droppedAttributesCount: 0,
    }));
  }

  spanContext(): SpanContext {
    const { step } = this;
    const context: SpanContext = {
      traceId: step.traceId,
      spanId: step.spanId,
      traceFlags: step.traceFlags | 1,
    };
    if (step.traceState) context.traceState = new TraceState(step.traceState);
    return context;
  }

  get parentSpanContext(): SpanContext | undefined {
    const { step } = this;
    const override = step.parentSpanId === undefined ? this.mapped().parentSpanId : undefined;
    const parentSpanId = step.parentSpanId ?? override;
    if (parentSpanId === undefined) return undefined;
    return {
      traceId: step.traceId,
      spanId: parentSpanId,
      traceFlags: step.traceFlags,
      isRemote: override !== undefined || step.parentIsRemote,
    };
  }

  get startTime(): HrTime {
    return toHrTime(this.step.startTime);
  }
  get endTime(): HrTime {
    return toHrTime(this.step.endTime ?? this.step.startTime);
  }
  get duration(): HrTime {
    const ms = Math.max(0, (this.step.endTime ?? this.step.startTime) - this.step.startTime);
    return [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
  }
}
