// The bundled corpus: the project's own documentation, read from the repository.
import { readFile } from 'node:fs/promises';
import { Document } from '@langchain/core/documents';

const FILES = [
  'README.md',
  'CONTRIBUTING.md',
  'packages/core/README.md',
  'packages/otel/README.md',
  'examples/collector/README.md',
];

/** Prose only: code blocks and tables answer questions badly. */
function prose(markdown) {
  return markdown
    .replace(/```[\s\S]*?```/g, '')
    .split('\n')
    .filter((line) => !/^\s*\|/.test(line))
    .join('\n');
}

export async function loadCorpus() {
  const root = new URL('../../../', import.meta.url);
  return Promise.all(
    FILES.map(
      async (file) =>
        new Document({
          pageContent: prose(await readFile(new URL(file, root), 'utf8')),
          metadata: { source: file },
        }),
    ),
  );
}
