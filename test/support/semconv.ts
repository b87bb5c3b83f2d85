// Read-only access to the OpenTelemetry GenAI semantic conventions v1.41.0 copied under
// test/fixtures/genai-semconv (see test/fixtures/README.md), so tests check emitted names, types and
// message JSON against the published model instead of against constants typed by hand.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { parse } from 'yaml';

export const GENAI_SEMCONV_DIR = fileURLToPath(
  new URL('../fixtures/genai-semconv/v1.41.0/', import.meta.url),
);

const require = createRequire(import.meta.url);

const readModel = (name: string): unknown =>
  parse(readFileSync(`${GENAI_SEMCONV_DIR}model/gen-ai/${name}`, 'utf8'));

interface ModelGroup {
  id: string;
  type: string;
  extends?: string;
  metric_name?: string;
  instrument?: string;
  unit?: string;
  stability?: string;
  brief?: string;
  annotations?: { code_generation?: { metric_value_type?: string } };
  attributes?: Array<{
    id?: string;
    ref?: string;
    type?: string | { members: Array<{ id: string; value: string | number }> };
    stability?: string;
    brief?: string;
    requirement_level?: string | Record<string, unknown>;
  }>;
}

const groupsOf = (doc: unknown): ModelGroup[] => (doc as { groups: ModelGroup[] }).groups;

export interface GenAiAttribute {
  id: string;
  /** 'string' | 'int' | 'double' | 'boolean' | 'string[]' | 'any' | 'enum' (then see `members`). */
  type: string;
  stability: string;
  brief?: string;
  /** For enums: the allowed values (the registry also allows custom values for most of them). */
  members?: Array<string | number>;
}

/** Every attribute of registry.yaml (group registry.gen_ai), by name. */
export function genAiRegistry(): Map<string, GenAiAttribute> {
  const out = new Map<string, GenAiAttribute>();
  for (const group of groupsOf(readModel('registry.yaml'))) {
    for (const a of group.attributes ?? []) {
      if (!a.id || a.type === undefined) continue;
      const attr: GenAiAttribute = {
        id: a.id,
        type: typeof a.type === 'string' ? a.type : 'enum',
        stability: a.stability ?? '',
      };
      if (a.brief) attr.brief = a.brief.trim();
      if (typeof a.type === 'object') attr.members = a.type.members.map((m) => m.value);
      out.set(a.id, attr);
    }
  }
  return out;
}

/**
 * Explicit bucket boundaries the conventions recommend. metrics.yaml does not carry them; they are in
 * docs/gen-ai/gen-ai-metrics.md of the same tag ("SHOULD be specified with [ExplicitBucketBoundaries]
 * of …"); test/integration/fixtures.test.ts compares these numbers with that file when it is available.
 */
const DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
export const GEN_AI_BUCKET_BOUNDARIES: Readonly<Record<string, readonly number[]>> = {
  'gen_ai.client.token.usage': [
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
  ],
  'gen_ai.client.operation.duration': DURATION_BUCKETS,
  'gen_ai.client.operation.time_to_first_chunk': DURATION_BUCKETS,
  'gen_ai.client.operation.time_per_output_chunk': DURATION_BUCKETS,
  'gen_ai.server.request.duration': DURATION_BUCKETS,
  'gen_ai.server.time_per_output_token': [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
  ],
  'gen_ai.server.time_to_first_token': [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
  ],
};

export interface GenAiMetricAttribute {
  name: string;
  /** 'required' | 'recommended' | 'conditionally_required' | 'opt_in' … */
  requirementLevel: string;
}

export interface GenAiMetric {
  name: string;
  instrument: string;
  unit: string;
  stability: string;
  brief?: string;
  /** 'int' | 'double' from the model's code-generation annotation, when present. */
  valueType?: string;
  /** Own attributes plus those of the groups it extends. */
  attributes: GenAiMetricAttribute[];
  /** From the docs (see GEN_AI_BUCKET_BOUNDARIES), not from metrics.yaml. */
  bucketBoundaries?: readonly number[];
}

/** Every metric of metrics.yaml, by metric name. */
export function genAiMetrics(): Map<string, GenAiMetric> {
  const groups = groupsOf(readModel('metrics.yaml'));
  const byId = new Map(groups.map((g) => [g.id, g]));
  const attributesOf = (group: ModelGroup, seen = new Set<string>()): GenAiMetricAttribute[] => {
    if (seen.has(group.id)) return [];
    seen.add(group.id);
    const parent = group.extends ? byId.get(group.extends) : undefined;
    const inherited = parent ? attributesOf(parent, seen) : [];
    const own = (group.attributes ?? []).flatMap((a) => {
      const name = a.ref ?? a.id;
      if (!name) return [];
      const level = a.requirement_level;
      const requirementLevel =
        typeof level === 'string' ? level : level ? (Object.keys(level)[0] ?? 'recommended') : 'recommended';
      return [{ name, requirementLevel }];
    });
    // An own entry overrides an inherited one with the same name.
    const ownNames = new Set(own.map((a) => a.name));
    return [...inherited.filter((a) => !ownNames.has(a.name)), ...own];
  };
  const out = new Map<string, GenAiMetric>();
  for (const g of groups) {
    if (g.type !== 'metric' || !g.metric_name) continue;
    const metric: GenAiMetric = {
      name: g.metric_name,
      instrument: g.instrument ?? '',
      unit: g.unit ?? '',
      stability: g.stability ?? '',
      attributes: attributesOf(g),
    };
    if (g.brief) metric.brief = g.brief.trim();
    const valueType = g.annotations?.code_generation?.metric_value_type;
    if (valueType) metric.valueType = valueType;
    const buckets = GEN_AI_BUCKET_BOUNDARIES[g.metric_name];
    if (buckets) metric.bucketBoundaries = buckets;
    out.set(g.metric_name, metric);
  }
  return out;
}

export type GenAiJsonKind =
  | 'input-messages'
  | 'output-messages'
  | 'system-instructions'
  | 'tool-definitions'
  | 'retrieval-documents';

export const GEN_AI_JSON_KINDS: readonly GenAiJsonKind[] = [
  'input-messages',
  'output-messages',
  'system-instructions',
  'tool-definitions',
  'retrieval-documents',
];

// The schemas declare no $schema but use `$defs` (Pydantic output, JSON Schema 2020-12), hence Ajv2020.
// tool-definitions points `parameters` at the draft-07 meta-schema, which Ajv2020 does not preload.
// `format: binary` (blob content) is only an annotation, so it is registered as accept-anything.
let ajv: Ajv2020 | undefined;
const validators = new Map<GenAiJsonKind, ValidateFunction>();

function validatorFor(kind: GenAiJsonKind): ValidateFunction {
  let validate = validators.get(kind);
  if (!validate) {
    if (!ajv) {
      ajv = new Ajv2020({ allErrors: true, strict: true }).addFormat('binary', true);
      ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-07.json'));
    }
    const schema = JSON.parse(readFileSync(`${GENAI_SEMCONV_DIR}schemas/gen-ai-${kind}.json`, 'utf8'));
    validate = ajv.compile(schema);
    validators.set(kind, validate);
  }
  return validate;
}

const describeError = (e: ErrorObject): string => {
  const where = e.instancePath === '' ? '(root)' : e.instancePath;
  const extra =
    e.keyword === 'const' || e.keyword === 'enum'
      ? ` ${JSON.stringify(e.params)}`
      : e.keyword === 'additionalProperties'
        ? ` '${String((e.params as { additionalProperty?: string }).additionalProperty)}'`
        : '';
  return `${where} ${e.message ?? e.keyword}${extra}`;
};

/**
 * Validates the parsed value of e.g. `gen_ai.input.messages` against the convention's JSON schema.
 * `errors` is one readable line per problem ("/0/parts/0 must have required property 'content'").
 */
export function validateGenAiJson(kind: GenAiJsonKind, value: unknown): { valid: boolean; errors: string[] } {
  const validate = validatorFor(kind);
  const valid = validate(value) === true;
  return { valid, errors: valid ? [] : (validate.errors ?? []).map(describeError) };
}
