// The OpenInference attribute names, read from test/fixtures/openinference/semconv-constants.json (a
// data extract of @arizeai/openinference-semantic-conventions 2.12.0, see test/fixtures/README.md), so
// the Phoenix plugin's output is checked against Arize's published list rather than names typed here.
import { readFileSync } from 'node:fs';

interface ConstantsFile {
  source: { package: string; version: string };
  attributes: Record<string, string>;
  enums: Record<string, Record<string, string>>;
}

export const OPENINFERENCE = JSON.parse(
  readFileSync(new URL('../fixtures/openinference/semconv-constants.json', import.meta.url), 'utf8'),
) as ConstantsFile;

/**
 * Every attribute name of the package: its exported constants (121, `openinference.project.name`
 * among them) and the values of its `SemanticConventions` object, which alone holds
 * `openinference.span.kind`.
 */
export const OPENINFERENCE_NAMES: ReadonlySet<string> = new Set([
  ...Object.values(OPENINFERENCE.attributes),
  ...Object.values(OPENINFERENCE.enums.SemanticConventions ?? {}),
]);

/** The values of one of the package's enums (`OpenInferenceSpanKind`, `MimeType`, `LLMProvider`, …). */
export function enumValues(name: string): string[] {
  const values = OPENINFERENCE.enums[name];
  if (!values) throw new Error(`no enum ${name} in semconv-constants.json`);
  return Object.values(values);
}

/**
 * Why a span attribute name is not OpenInference's, or undefined when it is. Lists are flattened as
 * `<prefix>.<index>.<suffix>` (spec/semantic_conventions.md): each part between indexes must be a
 * constant, or two constants joined by a dot (the nested `message_content.image` + `image.url`).
 */
export function notOpenInference(name: string): string | undefined {
  const parts = name.split(/\.\d+\./);
  if (parts.length > 1 && parts.slice(0, -1).some((p) => /\.\d+$/.test(p) || /^\d+\./.test(p))) {
    return `${name}: malformed index`;
  }
  for (const part of parts) {
    if (OPENINFERENCE_NAMES.has(part)) continue;
    const joined = [...OPENINFERENCE_NAMES].some(
      (head) => part.startsWith(`${head}.`) && OPENINFERENCE_NAMES.has(part.slice(head.length + 1)),
    );
    if (!joined) return `${name}: "${part}" is not an OpenInference name`;
  }
  return undefined;
}
