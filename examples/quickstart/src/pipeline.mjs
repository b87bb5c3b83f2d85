// The pipeline itself: plain functions, each wrapped in a spanchain step.
import { CORPUS } from './corpus.mjs';

const DIMENSIONS = 64;
const MODEL = 'local-extractive-1';

/** A deterministic bag-of-words embedding: good enough to rank a small corpus, no model needed. */
export function embed(text) {
  const vector = new Float64Array(DIMENSIONS);
  for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    if (word.length < 3) continue;
    let hash = 2166136261;
    for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 16777619);
    vector[(hash >>> 0) % DIMENSIONS] += 1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((v) => v / norm);
}

const cosine = (a, b) => a.reduce((sum, v, i) => sum + v * b[i], 0);
const INDEX = CORPUS.map((doc) => ({ ...doc, vector: embed(doc.text) }));

/** A local stand-in for a chat model: streams the sentences that best match the question, word by word. */
async function* localModel(question, documents) {
  const stem = (word) => word.replace(/s$/, '');
  const words = new Set((question.toLowerCase().match(/[a-z]{4,}/g) ?? []).map(stem));
  const sentences = documents
    .flatMap((d) => d.content.split(/(?<=\.)\s+/))
    .map((s) => ({
      s,
      score: (s.toLowerCase().match(/[a-z]{4,}/g) ?? []).filter((w) => words.has(w)).length,
    }))
    .sort((a, b) => b.score - a.score)
    .slice(0, 2)
    .map((x) => x.s);
  for (const word of sentences.join(' ').split(' ')) {
    await new Promise((resolve) => setTimeout(resolve, 2));
    yield `${word} `;
  }
}

/** Answers a question about spanchain, traced as agent → retrieval → prompt → llm → tool. */
export async function answer(tracer, question, { user = 'demo-user' } = {}) {
  return tracer.agent(
    {
      name: 'docs-assistant',
      input: question,
      trace: { name: 'rag-demo', userId: user, sessionId: 'session-1', tags: ['demo'] },
    },
    async (agent) => {
      const documents = await tracer.retrieval(
        { name: 'search-docs', query: question, dataSource: 'spanchain-docs', topK: 3 },
        async (step) => {
          await tracer.embedding(
            { name: 'embed-query', model: 'hash-embedding-64', dimensions: DIMENSIONS, count: 1 },
            () => embed(question),
          );
          const query = embed(question);
          const hits = INDEX.map((doc) => ({
            id: doc.id,
            content: doc.text,
            score: cosine(query, doc.vector),
            metadata: { title: doc.title },
          }))
            .sort((a, b) => b.score - a.score)
            .slice(0, 3);
          step.update({ documents: hits });
          return hits;
        },
      );

      const messages = tracer.prompt(
        { name: 'build-prompt', templateName: 'rag-answer', templateVersion: 2 },
        (step) => {
          const variables = { question, context: documents.map((d) => `[${d.id}] ${d.content}`).join('\n') };
          const rendered = [
            { role: 'system', content: 'Answer from the context only. Cite sources by id.' },
            { role: 'user', content: `Context:\n${variables.context}\n\nQuestion: ${variables.question}` },
          ];
          step.update({ variables, messages: rendered });
          return rendered;
        },
      );

      const inputTokens = Math.ceil(JSON.stringify(messages).length / 4);
      const stream = tracer.llm(
        {
          name: 'answer',
          provider: 'local',
          model: MODEL,
          inputMessages: messages,
          params: { temperature: 0, maxTokens: 256 },
        },
        // The generator runs inside the step: usage is recorded when the last word is out.
        (step) =>
          (async function* () {
            let outputTokens = 0;
            let text = '';
            for await (const word of localModel(question, documents)) {
              outputTokens++;
              text += word;
              yield word;
            }
            step.update({
              responseModel: MODEL,
              usage: { inputTokens, outputTokens },
              finishReasons: ['stop'],
              outputMessages: [{ role: 'assistant', content: text.trim() }],
            });
          })(),
      );
      let text = '';
      let tokens = 0;
      for await (const chunk of stream) {
        text += chunk;
        tokens++;
      }

      const cited = await tracer.tool(
        { name: 'cite-sources', toolName: 'cite_sources', arguments: { ids: documents.map((d) => d.id) } },
        async () => documents.map((d) => `[${d.id}] ${d.metadata.title}`).join(', '),
      );
      const final = `${text.trim()}\n\nSources: ${cited}`;
      agent.updateTrace({ output: final });
      return { text: final, tokens };
    },
  );
}
