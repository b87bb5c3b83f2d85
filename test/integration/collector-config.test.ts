import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const file = fileURLToPath(new URL('../../examples/collector/otel-collector.yaml', import.meta.url));

interface CollectorConfig {
  receivers: Record<string, unknown>;
  processors: Record<string, unknown>;
  exporters: Record<string, unknown>;
  service: { pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
}

describe('the collector example', () => {
  const config = parse(readFileSync(file, 'utf8')) as CollectorConfig;

  it('names in its pipelines only components it defines', () => {
    const pipelines = Object.entries(config.service.pipelines);
    expect(pipelines.map(([name]) => name).sort()).toEqual(['logs', 'metrics', 'traces']);
    for (const [name, pipeline] of pipelines) {
      for (const r of pipeline.receivers)
        expect(config.receivers, `${name} receiver ${r}`).toHaveProperty([r]);
      for (const p of pipeline.processors ?? [])
        expect(config.processors, `${name} processor ${p}`).toHaveProperty([p]);
      for (const e of pipeline.exporters)
        expect(config.exporters, `${name} exporter ${e}`).toHaveProperty([e]);
    }
  });

  it('receives OTLP on both protocols and batches, redacts and tail-samples traces', () => {
    expect(config.receivers).toMatchObject({ otlp: { protocols: { grpc: {}, http: {} } } });
    const traces = config.service.pipelines.traces;
    expect(traces?.processors).toEqual(['memory_limiter', 'redaction', 'tail_sampling', 'batch']);
    // The memory limiter must come first and the batch processor last, as the Collector advises.
    expect(traces?.processors?.[0]).toBe('memory_limiter');
    expect(traces?.processors?.at(-1)).toBe('batch');
    expect(traces?.exporters.length).toBeGreaterThan(1);
  });

  it('keeps its redaction patterns valid', () => {
    const redaction = config.processors.redaction as { blocked_values: string[] };
    for (const pattern of redaction.blocked_values) expect(() => new RegExp(pattern)).not.toThrow();
    expect(new RegExp(redaction.blocked_values[0] as string).test('ana@example.com')).toBe(true);
  });
});
