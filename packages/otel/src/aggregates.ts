/**
 * Histograms and counters aggregated in place, handed to the SDK's metric reader as a
 * `MetricProducer`. The SDK's own instruments hash every attribute set on every record (the
 * largest cost of a traced step in the bench); here an attribute set is a cached object and a
 * record is one map lookup by identity plus a few additions. Export, temporality on the wire
 * and the resource still go through the SDK's reader and OTLP exporter.
 *
 * Only for the plugin's private meter provider; with the app's provider the SDK's instruments
 * are used.
 */
import type { Attributes, HrTime, ValueType } from '@opentelemetry/api';
import { type InstrumentationScope, millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  type CollectionResult,
  type DataPoint,
  DataPointType,
  type Histogram,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

export interface Descriptor {
  name: string;
  description: string;
  unit: string;
  valueType: ValueType;
}

/** What both kinds of aggregation share: points by attribute-set identity, and their start. */
abstract class Aggregation<P> {
  protected points = new Map<Attributes, P>();

  constructor(readonly descriptor: Descriptor) {}

  /** Data for the interval ending now; with delta temporality the points start over. */
  collect(temporality: AggregationTemporality, start: HrTime, end: HrTime): MetricData | undefined {
    if (this.points.size === 0) return undefined;
    const points = this.points;
    if (temporality === AggregationTemporality.DELTA) this.points = new Map();
    return this.toData(points, temporality, start, end);
  }

  protected abstract toData(
    points: Map<Attributes, P>,
    temporality: AggregationTemporality,
    start: HrTime,
    end: HrTime,
  ): MetricData;
}

interface HistogramPoint {
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

export class FastHistogram extends Aggregation<HistogramPoint> {
  constructor(
    descriptor: Descriptor,
    private readonly boundaries: readonly number[],
  ) {
    super(descriptor);
  }

  /** `attributes` must be a cached, never-mutated object: points are keyed by its identity. */
  record(value: number, attributes: Attributes): void {
    let point = this.points.get(attributes);
    if (point === undefined) {
      point = {
        counts: new Array(this.boundaries.length + 1).fill(0),
        sum: 0,
        count: 0,
        min: value,
        max: value,
      };
      this.points.set(attributes, point);
    }
    // Boundaries are inclusive upper bounds; 14 of them, so a linear scan is the fast way.
    const bounds = this.boundaries;
    let bucket = 0;
    while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket++;
    point.counts[bucket] = (point.counts[bucket] as number) + 1;
    point.sum += value;
    point.count++;
    if (value < point.min) point.min = value;
    if (value > point.max) point.max = value;
  }

  protected toData(
    points: Map<Attributes, HistogramPoint>,
    temporality: AggregationTemporality,
    start: HrTime,
    end: HrTime,
  ): MetricData {
    const dataPoints: DataPoint<Histogram>[] = [];
    for (const [attributes, p] of points) {
      dataPoints.push({
        attributes,
        startTime: start,
        endTime: end,
        value: {
          buckets: { boundaries: [...this.boundaries], counts: [...p.counts] },
          sum: p.sum,
          count: p.count,
          min: p.min,
          max: p.max,
        },
      });
    }
    return {
      descriptor: this.descriptor,
      aggregationTemporality: temporality,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }
}

export class FastCounter extends Aggregation<{ sum: number }> {
  /** `attributes` must be a cached, never-mutated object: points are keyed by its identity. */
  add(value: number, attributes: Attributes): void {
    const point = this.points.get(attributes);
    if (point === undefined) this.points.set(attributes, { sum: value });
    else point.sum += value;
  }

  protected toData(
    points: Map<Attributes, { sum: number }>,
    temporality: AggregationTemporality,
    start: HrTime,
    end: HrTime,
  ): MetricData {
    const dataPoints: DataPoint<number>[] = [];
    for (const [attributes, p] of points) {
      dataPoints.push({ attributes, startTime: start, endTime: end, value: p.sum });
    }
    return {
      descriptor: this.descriptor,
      aggregationTemporality: temporality,
      dataPointType: DataPointType.SUM,
      dataPoints,
      isMonotonic: true,
    };
  }
}

/**
 * The producer the metric reader collects from. Cumulative points start when the producer was
 * made; delta points start at the previous collection.
 */
export class AggregatesProducer implements MetricProducer {
  private readonly created = Date.now();
  private lastCollection = this.created;

  constructor(
    private readonly scope: InstrumentationScope,
    private readonly temporality: AggregationTemporality,
    private readonly aggregations: readonly (FastHistogram | FastCounter)[],
  ) {}

  async collect(): Promise<CollectionResult> {
    const now = Date.now();
    const delta = this.temporality === AggregationTemporality.DELTA;
    const start = millisToHrTime(delta ? this.lastCollection : this.created);
    const end = millisToHrTime(now);
    this.lastCollection = now;
    const metrics: MetricData[] = [];
    for (const aggregation of this.aggregations) {
      const data = aggregation.collect(this.temporality, start, end);
      if (data !== undefined) metrics.push(data);
    }
    return {
      // The reader keeps its own resource: the provider's.
      resourceMetrics: { resource: emptyResource(), scopeMetrics: [{ scope: this.scope, metrics }] },
      errors: [],
    };
  }
}
