/**
 * A finished step seen as an OpenTelemetry `ReadableSpan`, so that the SDK's own processors and
 * exporters handle it. The ids are the step's own. The mapping to attributes runs on first
 * read, which happens when a batch is exported: the traced code only pays for this object.
 */
import type { Attributes, HrTime, Link, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api';
import { type InstrumentationScope, TraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { Step } from '@spanchain/core';
import { type MapOptions, mapStep, type SpanData, type StepMapper } from './map.js';

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
  ) {}

  private mapped(): SpanData {
    if (this.data === undefined) {
      this.data = this.mapper(this.step, this.options);
      const extra = this.extra?.();
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

  spanContext = (): SpanContext => {
    const { step } = this;
    const context: SpanContext = {
      traceId: step.traceId,
      spanId: step.spanId,
      traceFlags: step.traceFlags | 1,
    };
    if (step.traceState) context.traceState = new TraceState(step.traceState);
    return context;
  };

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
