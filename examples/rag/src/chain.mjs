// The RAG chain, plain LangChain: split the corpus, index it in an in-memory vector store, retrieve,
// build the prompt, call the chat model, parse the answer. Nothing in here knows about tracing.
import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory';
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableLambda, RunnablePassthrough, RunnableSequence } from '@langchain/core/runnables';
import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import { loadCorpus } from './corpus.mjs';
import { HashEmbeddings } from './embeddings.mjs';

const prompt = ChatPromptTemplate.fromMessages([
  ['system', 'Answer the question from the context only, in one or two sentences.'],
  ['human', 'Context:\n{context}\n\nQuestion: {question}'],
]);

/** Builds the chain over the bundled corpus; `model` is any LangChain chat model. */
export async function buildRag(model, { k = 3 } = {}) {
  const splitter = new RecursiveCharacterTextSplitter({ chunkSize: 600, chunkOverlap: 60 });
  const chunks = await splitter.splitDocuments(await loadCorpus());
  const store = await MemoryVectorStore.fromDocuments(chunks, new HashEmbeddings());
  const retriever = store.asRetriever({ k });
  const formatDocs = RunnableLambda.from((docs) => docs.map((d) => d.pageContent).join('\n\n')).withConfig({
    runName: 'format-docs',
  });
  return RunnableSequence.from([
    { context: retriever.pipe(formatDocs), question: new RunnablePassthrough() },
    prompt,
    model,
    new StringOutputParser(),
  ]).withConfig({ runName: 'rag' });
}

/** The chat model: any OpenAI-compatible endpoint when configured, else the local one. */
export async function chooseModel(env = process.env) {
  if (env.OPENAI_API_KEY) {
    const { ChatOpenAI } = await import('@langchain/openai');
    return new ChatOpenAI({
      model: env.OPENAI_MODEL ?? 'gpt-4o-mini',
      temperature: 0,
      streamUsage: true,
      configuration: env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : undefined,
    });
  }
  const { LocalExtractiveChat } = await import('./local-model.mjs');
  return new LocalExtractiveChat();
}
