// A small support pipeline: retrieve, build the prompt, answer, look up the order. Each part is a
// plain function wrapped in a step; nothing here knows which backends are listening.

const ARTICLES = [
  { id: 'kb-1', title: 'Refunds', text: 'Refunds are paid within 5 working days to the original card.' },
  { id: 'kb-2', title: 'Shipping', text: 'Orders ship within 24 hours; tracking links arrive by e-mail.' },
  { id: 'kb-3', title: 'Warranty', text: 'Every device has a two-year warranty covering defects.' },
];

const words = (text) => new Set(text.toLowerCase().match(/[a-z]{4,}/g) ?? []);

function search(query) {
  const asked = words(query);
  return ARTICLES.map((a) => ({
    id: a.id,
    content: a.text,
    score: [...words(a.text)].filter((w) => asked.has(w)).length / asked.size,
    metadata: { title: a.title },
  }))
    .sort((a, b) => b.score - a.score)
    .slice(0, 2);
}

/** One support question, traced as chain → retrieval → prompt → llm → tool. */
export function answer(tracer, question, { user, session }) {
  return tracer.chain(
    { name: 'support-answer', input: question, trace: { name: 'support', userId: user, sessionId: session } },
    async () => {
      const documents = await tracer.retrieval(
        { name: 'kb-search', query: question, dataSource: 'kb', topK: 2 },
        async (step) => {
          const hits = search(question);
          step.update({ documents: hits });
          return hits;
        },
      );
      const messages = tracer.prompt(
        { name: 'build-prompt', templateName: 'support', templateVersion: 1 },
        (step) => {
          const variables = { question, context: documents.map((d) => d.content).join('\n') };
          const rendered = [
            { role: 'system', content: 'Answer from the context.' },
            { role: 'user', content: `${variables.context}\n\n${question}` },
          ];
          step.update({ variables, messages: rendered });
          return rendered;
        },
      );
      const text = await tracer.llm(
        { name: 'answer', model: 'local-support-1', provider: 'local', inputMessages: messages },
        async (step) => {
          const reply = documents[0]?.content ?? 'Sorry, I do not know.';
          step.update({
            outputMessages: [{ role: 'assistant', content: reply }],
            usage: { inputTokens: 40 + question.length, outputTokens: reply.length / 4 },
            finishReasons: ['stop'],
          });
          return reply;
        },
      );
      const order = await tracer.tool(
        { name: 'order-status', toolName: 'order_status', arguments: { question } },
        () => ({
          status: 'shipped',
        }),
      );
      return `${text} (order: ${order.status})`;
    },
  );
}
