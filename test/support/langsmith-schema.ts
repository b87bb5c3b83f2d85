// Validation of LangSmith runs against LangSmith's own API schema: `components.schemas['runs.Run']`
// of test/fixtures/langsmith/openapi.json (a verbatim copy, see test/fixtures/README.md). The whole
// document is loaded into Ajv under an id, so the run schema's `$ref`s resolve inside it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

export const LANGSMITH_OPENAPI_PATH = fileURLToPath(
  new URL('../fixtures/langsmith/openapi.json', import.meta.url),
);

const DOCUMENT_ID = 'https://api.smith.langchain.com/openapi.json';
export const RUN_SCHEMA_REF = `${DOCUMENT_ID}#/components/schemas/runs.Run`;

interface RunSchema {
  properties: Record<string, { type?: string; enum?: string[] }>;
}

let loaded: { document: { openapi: string; components: { schemas: Record<string, unknown> } } } | undefined;
let validate: ValidateFunction | undefined;

function load() {
  if (!loaded) {
    const document = JSON.parse(readFileSync(LANGSMITH_OPENAPI_PATH, 'utf8'));
    // OpenAPI 3.1 schemas are JSON Schema 2020-12; 3.0 would need a different dialect.
    if (!String(document.openapi).startsWith('3.1'))
      throw new Error(`unexpected OpenAPI version ${document.openapi}`);
    loaded = { document };
  }
  return loaded;
}

function validator(): ValidateFunction {
  if (!validate) {
    const { document } = load();
    // Not strict: the OpenAPI document around the schemas (paths, info, examples) is not a schema,
    // and formats such as `uuid` are annotations here.
    const ajv = new Ajv2020({
      allErrors: true,
      strict: false,
      validateFormats: false,
      validateSchema: false,
    });
    ajv.addSchema({ ...document, $id: DOCUMENT_ID });
    const compiled = ajv.getSchema(RUN_SCHEMA_REF);
    if (!compiled) throw new Error(`no schema at ${RUN_SCHEMA_REF}`);
    validate = compiled;
  }
  return validate;
}

/** The `runs.Run` schema as the document has it (properties and the `run_type` enum). */
export function runSchema(): RunSchema {
  return load().document.components.schemas['runs.Run'] as RunSchema;
}

/** The run types LangSmith's schema allows. */
export function runTypeEnum(): string[] {
  return runSchema().properties.run_type?.enum ?? [];
}

/**
 * The problems of one run as sent in a create or update (empty when it is valid): Ajv's errors
 * against `runs.Run`, and, since every property of that schema is optional and the object open,
 * top-level keys outside the schema's properties unless `allowUnknown`.
 */
export function validateRun(run: unknown, options: { allowUnknown?: boolean } = {}): string[] {
  const check = validator();
  const problems =
    check(run) === true
      ? []
      : ((check.errors ?? []) as ErrorObject[]).map(
          (e) => `${e.instancePath || '(run)'} ${e.message ?? e.keyword}`,
        );
  if (!options.allowUnknown && run !== null && typeof run === 'object' && !Array.isArray(run)) {
    const known = runSchema().properties;
    for (const key of Object.keys(run))
      if (!(key in known)) problems.push(`/${key} is not a property of runs.Run`);
  }
  return problems;
}

/** The contract's dotted-order invariants (CONTRACTS §4.1), checked without the plugin's own parser. */
export function dottedOrderProblems(run: {
  id?: unknown;
  trace_id?: unknown;
  parent_run_id?: unknown;
  dotted_order?: unknown;
}): string[] {
  const problems: string[] = [];
  if (typeof run.dotted_order !== 'string') return ['dotted_order is missing'];
  const segment = /^\d{8}T\d{12}Z([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
  const uuids: string[] = [];
  for (const part of run.dotted_order.split('.')) {
    const m = segment.exec(part);
    if (!m) problems.push(`malformed segment ${part}`);
    else uuids.push(m[1]!);
  }
  if (uuids.at(-1) !== run.id) problems.push('the last uuid is not the run id');
  if (uuids[0] !== run.trace_id) problems.push('the first uuid is not the trace id');
  if (run.parent_run_id === undefined) {
    if (uuids.length !== 1) problems.push('a run without parent has more than one segment');
  } else if (uuids.at(-2) !== run.parent_run_id) {
    problems.push('the penultimate uuid is not the parent run id');
  }
  return problems;
}
