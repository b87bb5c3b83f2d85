// A deterministic local embedding: hashed bag of words, so the example needs no model and no network.
import { Embeddings } from '@langchain/core/embeddings';

export const DIMENSIONS = 64;

function embed(text) {
  const vector = new Array(DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    if (word.length < 3) continue;
    let hash = 2166136261;
    for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 16777619);
    vector[(hash >>> 0) % DIMENSIONS] += 1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((v) => v / norm);
}

/** LangChain `Embeddings` over the hash above. */
export class HashEmbeddings extends Embeddings {
  constructor() {
    super({});
  }

  async embedDocuments(texts) {
    return texts.map(embed);
  }

  async embedQuery(text) {
    return embed(text);
  }
}
