// Differential test: the same LangChain chains traced twice in-process, (a) by spanchain
// (SpanchainCallbackHandler + the langsmith() plugin) and (b) by LangSmith's own LangChain tracer
// (LangChainTracer from @langchain/core with a `Client` from the langsmith package), each sending to
// its own loopback LangSmith. What LangSmith would store from each is compared: the run tree,
// run types, names, token usage and model names, inputs/outputs where both use LangChain's shapes,
// errors, and the streaming events.
//
// (b) goes to a small lenient stand-in defined here, not to test/support/langsmith-receiver.ts:
// that receiver validates strictly against `runs.Run` of LangSmith's OpenAPI document, and the SDK
// sends what the real service accepts but that schema does not describe (a numeric `end_time`, a
// `child_runs` field), so every SDK request would be refused there.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory';
import { awaitAllCallbacks } from '@langchain/core/callbacks/promises';
import type { Document } from '@langchain/core/documents';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage } from '@langchain/core/messages';
import { StringOutputParser } from '@langchain/core/output_parsers';
import type { ChatResult } from '@langchain/core/outputs';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableLambda, RunnablePassthrough, RunnableSequence } from '@langchain/core/runnables';
import { DynamicTool } from '@langchain/core/tools';
import { LangChainTracer } from '@langchain/core/tracers/tracer_langchain';
import { FakeListChatModel, SyntheticEmbeddings } from '@langchain/core/utils/testing';
import { createTracer } from '@spanchain/core';
import { SpanchainCallbackHandler } from '@spanchain/langchain';
import { langsmith } from '@spanchain/langsmith';
import { Client } from 'langsmith';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type LangSmithReceiver,
  parseMediaType,
  parseMultipart,
  startLangSmithReceiver,
} from '../support/langsmith-receiver.js';
import { dottedOrderProblems, validateRun } from '../support/langsmith-schema.js';

const KEY = 'lsv2_pt_differential000000000000000000_0123456789';
const PROJECT = 'differential';
const QUESTION = 'How long is the refund window?';
const ANSWER = 'Refunds are accepted for 30 days.';

type Run = Record<string, unknown> & {
  id: string;
  name: string;
  run_type: string;
  trace_id: string;
  dotted_order: string;
  parent_run_id?: string;
  tags?: string[];
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  error?: string;
  events?: { name: string; time: string }[];
  extra?: { metadata?: Record<string, unknown>; invocation_params?: Record<string, unknown> };
};

// --- a lenient loopback LangSmith for the SDK ------------------------------------------------------

interface SdkSink {
  url: string;
  runs(): Run[];
  paths: string[];
  close(): Promise<void>;
}

/** Takes /info, /runs/multipart (gzip or not) and /runs/batch; merges creates and updates by id. */
async function startSdkSink(): Promise<SdkSink> {
  const merged = new Map<string, Run>();
  const paths: string[] = [];
  const merge = (id: string, fields: Record<string, unknown>) =>
    merged.set(id, { ...(merged.get(id) ?? {}), ...fields } as Run);
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = new URL(req.url ?? '/', 'http://sink').pathname;
    paths.push(`${req.method} ${path}`);
    if (req.method === 'GET' && path.endsWith('/info')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          version: '0.0.0-loopback',
          batch_ingest_config: {
            use_multipart_endpoint: true,
            size_limit: 100,
            size_limit_bytes: 20_971_520,
          },
          instance_flags: { gzip_body_enabled: true },
        }),
      );
      return;
    }
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    const media = parseMediaType(req.headers['content-type'] ?? '');
    if (path.endsWith('/runs/multipart') && media.params.boundary) {
      const { parts } = parseMultipart(body, media.params.boundary);
      // Creates first, then updates, as the server applies them.
      for (const method of ['post', 'patch']) {
        for (const part of parts) {
          const [kind, id, field] = part.name.split('.');
          if (kind !== method || id === undefined) continue;
          const value: unknown = JSON.parse(part.data.toString('utf8'));
          merge(id, field === undefined ? (value as Record<string, unknown>) : { [field]: value });
        }
      }
    } else if (path.endsWith('/runs/batch')) {
      const batch = JSON.parse(body.toString('utf8')) as { post?: Run[]; patch?: Run[] };
      for (const run of [...(batch.post ?? []), ...(batch.patch ?? [])]) merge(run.id, run);
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(202, { 'content-type': 'application/json' }).end('{"message":"accepted"}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    runs: () => [...merged.values()],
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// --- the chains ------------------------------------------------------------------------------------

/** A deterministic chat model that reports usage (cache and reasoning details) and a response model. */
class UsageChatModel extends BaseChatModel {
  _llmType(): string {
    return 'differential';
  }
  override getLsParams(options: this['ParsedCallOptions']) {
    return { ...super.getLsParams(options), ls_provider: 'openai', ls_model_name: 'diff-model' };
  }
  override invocationParams(): Record<string, unknown> {
    return { model: 'diff-model', temperature: 0.2, max_tokens: 64 };
  }
  async _generate(): Promise<ChatResult> {
    const message = new AIMessage({
      content: ANSWER,
      usage_metadata: {
        input_tokens: 40,
        output_tokens: 12,
        total_tokens: 52,
        input_token_details: { cache_read: 10 },
        output_token_details: { reasoning: 4 },
      },
      response_metadata: { model_name: 'diff-model-2025-01-01' },
    });
    return { generations: [{ text: ANSWER, message }] };
  }
}

interface Chains {
  rag: RunnableSequence<string, string>;
  streamed: RunnableSequence<{ topic: string }, string>;
  failing: RunnableSequence<{ topic: string }, string>;
}

async function buildChains(): Promise<Chains> {
  const store = await MemoryVectorStore.fromTexts(
    [ANSWER, 'Shipping takes 5 days.', 'Support is open on weekdays.'],
    [{ id: 'refunds' }, { id: 'shipping' }, { id: 'support' }],
    new SyntheticEmbeddings({ vectorSize: 16 }),
  );
  const formatDocs = RunnableLambda.from((docs: Document[]) => docs.map((d) => d.pageContent).join('\n'));
  const policy = new DynamicTool({
    name: 'policy_lookup',
    description: 'Looks up a policy by question.',
    func: async (q: string) => `policy for: ${q}`,
  });
  const prompt = ChatPromptTemplate.fromMessages([
    ['system', 'Answer from this context:\n{context}\nPolicy: {policy}'],
    ['human', '{question}'],
  ]);
  const rag = RunnableSequence.from<string, string>([
    {
      context: store.asRetriever(2).pipe(formatDocs),
      question: new RunnablePassthrough(),
      policy: RunnableLambda.from((q: string) => policy.invoke(q)),
    },
    prompt,
    new UsageChatModel({}),
    new StringOutputParser(),
  ]).withConfig({ runName: 'rag' }) as unknown as RunnableSequence<string, string>;
  const topicPrompt = ChatPromptTemplate.fromMessages([['human', 'Say something about {topic}']]);
  const streamed = RunnableSequence.from<{ topic: string }, string>([
    topicPrompt,
    new FakeListChatModel({ responses: ['Streaming works.'], sleep: 2 }),
    new StringOutputParser(),
  ]).withConfig({ runName: 'streamed' }) as unknown as RunnableSequence<{ topic: string }, string>;
  const failing = RunnableSequence.from<{ topic: string }, string>([
    topicPrompt,
    RunnableLambda.from((): string => {
      throw new TypeError('the lambda failed');
    }).withConfig({ runName: 'explode' }),
  ]).withConfig({ runName: 'failing' }) as unknown as RunnableSequence<{ topic: string }, string>;
  return { rag, streamed, failing };
}

async function runAll(
  chains: Chains,
  callbacks: NonNullable<Parameters<Chains['rag']['invoke']>[1]>['callbacks'],
) {
  expect(await chains.rag.invoke(QUESTION, { callbacks })).toBe(ANSWER);
  let streamedText = '';
  for await (const chunk of await chains.streamed.stream({ topic: 'streams' }, { callbacks }))
    streamedText += chunk;
  expect(streamedText).toBe('Streaming works.');
  await expect(chains.failing.invoke({ topic: 'errors' }, { callbacks })).rejects.toThrow(
    'the lambda failed',
  );
}

// --- the two runs ----------------------------------------------------------------------------------

let ours: LangSmithReceiver;
let theirs: SdkSink;
let runsA: Run[] = [];
let runsB: Run[] = [];

beforeAll(async () => {
  ours = await startLangSmithReceiver();
  theirs = await startSdkSink();
  const chains = await buildChains();

  // (a) spanchain.
  const tracer = createTracer({
    serviceName: 'differential',
    flushOnExit: false,
    plugins: [langsmith({ endpoint: ours.url, apiKey: KEY, project: PROJECT, flushIntervalMillis: 10 }, {})],
  });
  try {
    await runAll(chains, [new SpanchainCallbackHandler(tracer)]);
    expect((await tracer.flush({ timeoutMs: 5000 })).timedOut).toBe(false);
  } finally {
    await tracer.shutdown({ timeoutMs: 2000 });
  }
  runsA = ours.runs() as Run[];

  // (b) LangSmith's own tracer: LangChain runs callbacks in the background, so drain them, then the
  // client's batch queue.
  const client = new Client({ apiUrl: theirs.url, apiKey: KEY, timeout_ms: 5000 });
  await runAll(chains, [new LangChainTracer({ client, projectName: PROJECT })]);
  await awaitAllCallbacks();
  await client.awaitPendingTraceBatches();
  runsB = theirs.runs();
}, 20_000);

afterAll(async () => {
  await ours?.close();
  await theirs?.close();
});

// --- normalisation ---------------------------------------------------------------------------------

/**
 * Without an explicit run name, @spanchain/langchain names an LLM step after the requested model
 * (`diff-model`), LangChain's tracer after the model class (`UsageChatModel`): a naming choice of
 * the handler shared by every backend (asserted on its own below). LLM runs compare under one
 * placeholder name.
 */
const nameOf = (run: Run): string => (run.run_type === 'llm' ? '<llm>' : run.name);

/** The root run's name of the run's trace. */
function traceName(runs: Run[], run: Run): string {
  return runs.find((r) => r.id === run.trace_id)?.name ?? '<no root>';
}

/** One line per run: trace, type and name, and its parent's; sorted. */
function edges(runs: Run[]): string[] {
  const byId = new Map(runs.map((r) => [r.id, r]));
  return runs
    .map((r) => {
      const parent = r.parent_run_id === undefined ? undefined : byId.get(r.parent_run_id);
      const up =
        r.parent_run_id === undefined ? 'ROOT' : parent ? `${parent.run_type}:${nameOf(parent)}` : 'MISSING';
      return `${traceName(runs, r)} | ${r.run_type}:${nameOf(r)} <- ${up}`;
    })
    .sort();
}

/** A run's names from its trace's root down to itself: tells apart runs of the same name. */
function pathOf(runs: Run[], run: Run): string {
  const byId = new Map(runs.map((r) => [r.id, r]));
  const names: string[] = [];
  for (let r: Run | undefined = run; r !== undefined && names.length < 50; ) {
    names.unshift(nameOf(r));
    r = r.parent_run_id === undefined ? undefined : byId.get(r.parent_run_id);
  }
  return names.join(' / ');
}

/** Runs by path; a path that is not unique fails the comparison rather than guessing. */
function byPath(runs: Run[]): Map<string, Run> {
  const out = new Map<string, Run>();
  for (const run of runs) {
    const path = pathOf(runs, run);
    if (out.has(path)) throw new Error(`two runs at ${path}`);
    out.set(path, run);
  }
  return out;
}

const inTrace = (runs: Run[], root: string): Run[] => runs.filter((r) => traceName(runs, r) === root);
const one = (runs: Run[], root: string, name: string): Run => {
  const found = inTrace(runs, root).filter((r) => nameOf(r) === name);
  if (found.length !== 1) throw new Error(`expected one ${name} in ${root}, found ${found.length}`);
  return found[0]!;
};

/**
 * Token usage where each side puts it: spanchain in `outputs.usage_metadata`, LangChain's tracer in
 * `extra.metadata.usage_metadata` (LangSmith reads both places).
 */
const usageOf = (run: Run): unknown =>
  (run.outputs?.usage_metadata as unknown) ?? run.extra?.metadata?.usage_metadata;

/**
 * spanchain's safe serialisation marks class instances it serialises with `@type` (a LangChain
 * Document becomes `{ "@type": "Document", pageContent, metadata }`); LangChain's tracer writes the
 * plain fields. The marker is dropped before comparing.
 */
function withoutTypeMarkers(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTypeMarkers);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([k]) => k !== '@type')
      .map(([k, v]) => [k, withoutTypeMarkers(v)]),
  );
}

/**
 * LangChain objects given as a run's input (a prompt value, a message): LangChain's tracer sends
 * their serialised form (`{ lc: 1, type: 'constructor', id: [..., 'AIMessageChunk'], kwargs }`);
 * spanchain sends what they mean (`{ role, content }`, a chat prompt's `{ messages }`, a string
 * prompt's text). The serialised form is turned into spanchain's before comparing.
 */
const ROLE_OF: Record<string, string> = {
  HumanMessage: 'user',
  HumanMessageChunk: 'user',
  SystemMessage: 'system',
  AIMessage: 'assistant',
  AIMessageChunk: 'assistant',
  ToolMessage: 'tool',
};
function lcGist(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(lcGist);
  if (value === null || typeof value !== 'object') return value;
  const v = value as Record<string, unknown>;
  if (v.lc === 1 && v.type === 'constructor' && Array.isArray(v.id)) {
    const cls = String(v.id.at(-1));
    const kwargs = v.kwargs as Record<string, unknown>;
    if (cls === 'ChatPromptValue') return { messages: lcGist(kwargs.messages) };
    if (cls === 'StringPromptValue') return kwargs.value;
    if (ROLE_OF[cls]) return { role: ROLE_OF[cls], content: kwargs.content };
    return { [cls]: lcGist(kwargs.content ?? kwargs.messages) };
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, lcGist(x)]));
}

// --- the comparison --------------------------------------------------------------------------------

describe('the same chains traced by spanchain and by LangSmith’s own LangChain tracer', () => {
  it('both send valid trees; ours passes LangSmith’s run schema', () => {
    expect(ours.problems()).toEqual([]);
    expect(theirs.paths).toContain('POST /runs/multipart');
    for (const runs of [runsA, runsB]) {
      expect(new Set(runs.map((r) => r.trace_id)).size).toBe(3);
      expect(
        runs
          .filter((r) => r.parent_run_id === undefined)
          .map((r) => r.name)
          .sort(),
      ).toEqual(['failing', 'rag', 'streamed']);
      for (const run of runs) expect(dottedOrderProblems(run), run.name).toEqual([]);
    }
    for (const run of runsA) expect(validateRun(run), run.name).toEqual([]);
  });

  it('gives the same tree of run types and names', () => {
    const a = edges(runsA);
    expect(a).toEqual(edges(runsB));
    expect(runsA).toHaveLength(runsB.length);
    // Guards against both sides being wrong the same way (everything flattened under the root).
    expect(a).toContain('rag | retriever:VectorStoreRetriever <- chain:RunnableSequence');
    expect(a).toContain('rag | tool:policy_lookup <- chain:RunnableLambda');
    expect(a).toContain('rag | llm:<llm> <- chain:rag');
    expect(a).toContain('rag | parser:StrOutputParser <- chain:rag');
    expect(a).toContain('rag | prompt:ChatPromptTemplate <- chain:rag');
    expect(a).toContain('failing | chain:explode <- chain:failing');
  });

  it('names LLM runs after the model (spanchain) or the model class (LangChain’s tracer)', () => {
    expect(one(runsA, 'rag', '<llm>').name).toBe('diff-model');
    expect(one(runsB, 'rag', '<llm>').name).toBe('UsageChatModel');
    // A model without a model name: both fall back to the class.
    expect(one(runsA, 'streamed', '<llm>').name).toBe(one(runsB, 'streamed', '<llm>').name);
  });

  it('sends the same token usage and model names', () => {
    const a = one(runsA, 'rag', '<llm>');
    const b = one(runsB, 'rag', '<llm>');
    expect(usageOf(a)).toEqual({
      input_tokens: 40,
      output_tokens: 12,
      total_tokens: 52,
      input_token_details: { cache_read: 10 },
      output_token_details: { reasoning: 4 },
    });
    expect(usageOf(a)).toEqual(usageOf(b));
    for (const key of ['ls_provider', 'ls_model_name', 'ls_model_type'])
      expect(a.extra?.metadata?.[key], key).toBe(b.extra?.metadata?.[key]);
    expect(a.extra?.metadata?.ls_model_name).toBe('diff-model');
    expect(a.extra?.invocation_params).toEqual(b.extra?.invocation_params);
  });

  it('sends the same conversation and answer on the LLM run (in each side’s message shape)', () => {
    const a = one(runsA, 'rag', '<llm>');
    const b = one(runsB, 'rag', '<llm>');
    // LangChain's tracer: serialised LangChain messages; spanchain: OpenAI chat messages.
    const roles: Record<string, string> = { SystemMessage: 'system', HumanMessage: 'user' };
    const sdkMessages = (b.inputs!.messages as { id: string[]; kwargs: { content: string } }[][])[0]!.map(
      (m) => ({
        role: roles[m.id.at(-1)!],
        content: m.kwargs.content,
      }),
    );
    expect(a.inputs?.messages).toEqual(sdkMessages);
    const sdkText = (b.outputs!.generations as { text: string }[][])[0]![0]!.text;
    expect((a.outputs!.choices as { message: { content: string } }[])[0]!.message.content).toBe(sdkText);
  });

  it('sends the same inputs everywhere but the LLM, and the same outputs of chains, tools and parsers', () => {
    // The normalisation keeps what matters (it is not vacuous):
    for (const runs of [runsA, runsB])
      expect(lcGist(one(runs, 'failing', 'explode').inputs)).toEqual({
        messages: [{ role: 'user', content: 'Say something about errors' }],
      });
    const pathsA = byPath(runsA);
    const pathsB = byPath(runsB);
    expect([...pathsA.keys()].sort()).toEqual([...pathsB.keys()].sort());
    for (const [path, b] of pathsB) {
      if (b.run_type === 'llm') continue;
      const a = pathsA.get(path)!;
      expect(withoutTypeMarkers(lcGist(a.inputs)), `${b.name} inputs`).toEqual(
        withoutTypeMarkers(lcGist(b.inputs)),
      );
      if (['chain', 'tool', 'parser'].includes(b.run_type))
        expect(a.outputs, `${b.name} outputs`).toEqual(b.outputs);
      expect(a.tags ?? [], `${b.name} tags`).toEqual(b.tags ?? []);
    }
  });

  it('returns the same retrieved documents (page_content in LangSmith’s shape, pageContent in LangChain’s)', () => {
    const a = one(runsA, 'rag', 'VectorStoreRetriever').outputs?.documents as { page_content: string }[];
    const b = one(runsB, 'rag', 'VectorStoreRetriever').outputs?.documents as { pageContent: string }[];
    expect(a).toHaveLength(2);
    expect(a.map((d) => d.page_content)).toEqual(b.map((d) => d.pageContent));
  });

  it('puts the error on the same runs', () => {
    const failed = (runs: Run[]) =>
      inTrace(runs, 'failing')
        .filter((r) => typeof r.error === 'string' && r.error !== '')
        .map((r) => r.name)
        .sort();
    expect(failed(runsA)).toEqual(['explode', 'failing']);
    expect(failed(runsA)).toEqual(failed(runsB));
    expect(one(runsA, 'failing', 'explode').error).toMatch(/^TypeError: the lambda failed/);
    expect(one(runsB, 'failing', 'explode').error).toContain('the lambda failed');
  });

  it('marks the streamed LLM run with new_token events; ours has one, at the first token', () => {
    const a = one(runsA, 'streamed', '<llm>');
    const b = one(runsB, 'streamed', '<llm>');
    const tokens = (run: Run) =>
      (run.events ?? []).filter((e) => e.name === 'new_token').map((e) => Date.parse(e.time));
    // LangChain's tracer records one event per token; spanchain only the first (the time to first
    // token is what LangSmith derives from them).
    expect(tokens(b).length).toBeGreaterThan(1);
    expect(tokens(a)).toHaveLength(1);
    expect(a.outputs?.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: 'Streaming works.' } },
    ]);
  });
});
