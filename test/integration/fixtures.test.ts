// The contract fixtures under test/fixtures are unmodified upstream files (see test/fixtures/README.md).
// These tests keep them complete, unedited and loadable.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeOtlpProtobuf, otlpSchema } from '../support/otlp-receiver.js';
import {
  GEN_AI_BUCKET_BOUNDARIES,
  GEN_AI_JSON_KINDS,
  genAiMetrics,
  genAiRegistry,
  validateGenAiJson,
} from '../support/semconv.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const fixturesDir = path.join(repoRoot, 'test', 'fixtures');
const sharedSpecs = path.resolve(repoRoot, '..', 'shared', 'specs');
const sharedExists = existsSync(sharedSpecs);

const PROTO = 'opentelemetry/proto';
const SEMCONV = 'genai-semconv/v1.41.0';

// fixture path (under test/fixtures) → source path (under shared/specs) and the first 12 hex digits
// of its SHA-256 as listed in shared/specs/SOURCES.md, so an edit is caught even without /work/shared.
const FIXTURES: ReadonlyArray<{ fixture: string; source: string; sha256: string }> = [
  ['collector/logs/v1/logs_service.proto', '0252687fc8f5'],
  ['collector/metrics/v1/metrics_service.proto', '2bb3c6adee5f'],
  ['collector/trace/v1/trace_service.proto', '03c8cc4e3e10'],
  ['common/v1/common.proto', '620560f3ad4c'],
  ['logs/v1/logs.proto', '6b2e1eba0c01'],
  ['metrics/v1/metrics.proto', '68cf07fe34bc'],
  ['resource/v1/resource.proto', 'e0a7cdc0ffcf'],
  ['trace/v1/trace.proto', 'c3fb1385c90b'],
]
  .map(([p, sha256]) => ({
    fixture: `otlp/proto/${PROTO}/${p}`,
    source: `otlp/proto/${PROTO}/${p}`,
    sha256: sha256!,
  }))
  .concat(
    [
      ['registry.yaml', '55ec5102aaa0'],
      ['spans.yaml', 'ff7f1823dd0a'],
      ['metrics.yaml', '5a9eddb93000'],
      ['events.yaml', 'bcb52fa505ec'],
    ].map(([f, sha256]) => ({
      fixture: `${SEMCONV}/model/gen-ai/${f}`,
      source: `${SEMCONV}/model/gen-ai/${f}`,
      sha256: sha256!,
    })),
    [
      ['gen-ai-input-messages.json', 'c1fddd81ea2b'],
      ['gen-ai-output-messages.json', '1de96f538718'],
      ['gen-ai-system-instructions.json', '12b8d863bb3b'],
      ['gen-ai-tool-definitions.json', '023501e98351'],
      ['gen-ai-retrieval-documents.json', 'de88ab3266c6'],
    ].map(([f, sha256]) => ({
      fixture: `${SEMCONV}/schemas/${f}`,
      source: `${SEMCONV}/docs/gen-ai/${f}`,
      sha256: sha256!,
    })),
    [
      { fixture: 'langsmith/openapi.json', source: 'langsmith/openapi.json', sha256: 'c649177d4c54' },
      {
        fixture: 'openinference/semconv-constants.json',
        source: 'openinference/semconv-constants.json',
        sha256: 'cb3dc424ff30',
      },
    ],
  );

const sha12 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}

describe('contract fixtures (always)', () => {
  it('every listed fixture exists with the content recorded in SOURCES.md', () => {
    for (const f of FIXTURES) {
      const file = path.join(fixturesDir, f.fixture);
      expect(existsSync(file), f.fixture).toBe(true);
      expect(sha12(file), f.fixture).toBe(f.sha256);
    }
  });

  it('the proto tree loads and round-trips a request through the v1.11.0 messages', () => {
    const schema = otlpSchema();
    const t = schema.traces.request;
    // Span.flags exists only from OTLP 1.x on: this is not an older copy of the protos.
    expect(t.lookupType('opentelemetry.proto.trace.v1.Span').fields.flags?.type).toBe('fixed32');
    expect(
      schema.logs.request.lookupType('opentelemetry.proto.logs.v1.LogRecord').fields.eventName,
    ).toBeDefined();
    const bytes = t
      .encode(
        t.fromObject({
          resourceSpans: [
            {
              scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 0xab), name: 'x', kind: 3, flags: 257 }] }],
            },
          ],
        }),
      )
      .finish();
    const decoded = JSON.stringify(decodeOtlpProtobuf('traces', bytes));
    expect(decoded).toContain('"name":"x"');
    expect(decoded).toContain('"kind":3');
    expect(decoded).toContain('"flags":257');
    expect(schema.metrics.grpcPath).toBe('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export');
  });

  it('the GenAI registry and metrics parse with the expected structure', () => {
    const registry = genAiRegistry();
    expect(registry.size).toBeGreaterThan(40);
    expect(registry.get('gen_ai.request.model')).toMatchObject({ type: 'string', stability: 'development' });
    expect(registry.get('gen_ai.usage.input_tokens')?.type).toBe('int');
    expect(registry.get('gen_ai.request.temperature')?.type).toBe('double');
    expect(registry.get('gen_ai.request.stop_sequences')?.type).toBe('string[]');
    const op = registry.get('gen_ai.operation.name');
    expect(op?.type).toBe('enum');
    expect(op?.members).toEqual(
      expect.arrayContaining(['chat', 'embeddings', 'execute_tool', 'invoke_agent']),
    );

    const metrics = genAiMetrics();
    const usage = metrics.get('gen_ai.client.token.usage');
    expect(usage).toMatchObject({ instrument: 'histogram', unit: '{token}', valueType: 'int' });
    expect(usage?.attributes).toEqual(
      expect.arrayContaining([
        { name: 'gen_ai.token.type', requirementLevel: 'required' },
        { name: 'gen_ai.operation.name', requirementLevel: 'required' },
        { name: 'gen_ai.request.model', requirementLevel: 'conditionally_required' },
      ]),
    );
    expect(usage?.bucketBoundaries?.[0]).toBe(1);
    expect(metrics.get('gen_ai.client.operation.duration')).toMatchObject({
      instrument: 'histogram',
      unit: 's',
    });
    // Every metric in the model has recommended boundaries, and no boundary list names a missing metric.
    expect([...metrics.keys()].sort()).toEqual(Object.keys(GEN_AI_BUCKET_BOUNDARIES).sort());
  });

  it('the GenAI JSON schemas compile and tell valid from invalid messages', () => {
    for (const kind of GEN_AI_JSON_KINDS) expect(validateGenAiJson(kind, []).valid, kind).toBe(true);
    expect(
      validateGenAiJson('input-messages', [
        { role: 'user', parts: [{ type: 'text', content: 'What is the weather in Paris?' }] },
      ]),
    ).toEqual({ valid: true, errors: [] });
    // Parts fall back to a generic part that only needs `type`, so a broken message is the clear case.
    const bad = validateGenAiJson('input-messages', [{ parts: [{ content: 'no type' }] }]);
    expect(bad.valid).toBe(false);
    expect(bad.errors).toContain("/0 must have required property 'role'");
    expect(
      validateGenAiJson('output-messages', [
        { role: 'assistant', parts: [{ type: 'text', content: 'Sunny.' }], finish_reason: 'stop' },
      ]).valid,
    ).toBe(true);
    expect(validateGenAiJson('output-messages', [{ role: 'assistant', parts: [] }]).valid).toBe(false);
    expect(
      validateGenAiJson('tool-definitions', [
        { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} } },
      ]).valid,
    ).toBe(true);
    expect(validateGenAiJson('tool-definitions', [{ name: 'no_type' }]).valid).toBe(false);
    expect(validateGenAiJson('retrieval-documents', [{ id: 'doc-1', score: 0.9 }]).valid).toBe(true);
    expect(validateGenAiJson('retrieval-documents', [{ id: 'doc-1' }]).valid).toBe(false);
  });
});

describe('contract fixtures match /work/shared/specs', () => {
  // Skipped when the repository is used on its own (cloned without the sibling shared/specs folder);
  // the always-run checks above still pin the content via the SOURCES.md hashes.
  it.skipIf(!sharedExists)('every copied file is byte-identical to its source', () => {
    for (const f of FIXTURES) {
      const copy = readFileSync(path.join(fixturesDir, f.fixture));
      const source = readFileSync(path.join(sharedSpecs, f.source));
      expect(copy.equals(source), f.fixture).toBe(true);
    }
  });

  it.skipIf(!sharedExists)('no .proto file of the source tree was left out', () => {
    const sourceProtos = listFiles(path.join(sharedSpecs, 'otlp', 'proto'))
      .map((f) => path.relative(sharedSpecs, f))
      .sort();
    const listed = FIXTURES.filter((f) => f.source.startsWith('otlp/')).map((f) => f.source);
    expect(sourceProtos).toEqual(listed.sort());
    const copied = listFiles(path.join(fixturesDir, 'otlp', 'proto')).map((f) =>
      path.relative(fixturesDir, f),
    );
    expect(copied.sort()).toEqual(listed.sort());
  });

  it.skipIf(!sharedExists)('the bucket boundaries in test/support/semconv.ts match gen-ai-metrics.md', () => {
    const doc = readFileSync(path.join(sharedSpecs, SEMCONV, 'docs/gen-ai/gen-ai-metrics.md'), 'utf8');
    // Each metric section states its boundaries, then the autogenerated block names the metric.
    const re = /\[ExplicitBucketBoundaries\] of\s+\[([^\]]+)\][\s\S]*?<!-- semconv metric\.([\w.]+) -->/g;
    const fromDoc: Record<string, number[]> = {};
    for (const m of doc.matchAll(re)) fromDoc[m[2]!] = m[1]!.split(',').map(Number);
    expect(Object.keys(fromDoc).length).toBeGreaterThan(0);
    expect(fromDoc).toEqual(GEN_AI_BUCKET_BOUNDARIES);
  });
});
