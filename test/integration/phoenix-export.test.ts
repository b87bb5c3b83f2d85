// End-to-end contract of @spanchain/phoenix against the loopback OTLP receiver standing in for
// Phoenix's collector (CONTRACTS §5): OTLP protobuf over HTTP (/v1/traces) and gRPC, Bearer auth,
// the project as `x-project-name` header and `openinference.project.name` resource attribute, and
// OpenInference attributes whose every name is in Arize's published list
// (test/fixtures/openinference/semconv-constants.json): span kinds, flattened messages, documents,
// token counts, sessions, users, metadata and tags, with the hide switches honoured.
import { createTracer, REDACTED, redact, type Tracer } from '@spanchain/core';
import { type PhoenixPluginOptions, phoenix } from '@spanchain/phoenix';
import { describe, expect, it } from 'vitest';
import { enumValues, notOpenInference, OPENINFERENCE } from '../support/openinference.js';
import type { OtlpReceiver, OtlpSpan } from '../support/otlp-receiver.js';
import { useOtlpReceiver } from '../support/receiver-fixture.js';

const API_KEY = 'px-export-0a1b2c3d4e5f60718293';
const PROJECT = 'support-bot';
const TRACE_PATH = '/v1/traces';
const GRPC_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

const fixture = useOtlpReceiver();
const { tracers } = fixture;

type Transport = 'http' | 'grpc';
const endpointOf = (receiver: OtlpReceiver, transport: Transport): string =>
  transport === 'http' ? receiver.httpUrl : receiver.grpcUrl.replace(/^http:/, 'grpc:');

function startTracer(
  options: PhoenixPluginOptions = {},
  env: NodeJS.ProcessEnv = {},
  transport: Transport = 'http',
): Tracer {
  const tracer = createTracer({
    serviceName: 'support-service',
    flushOnExit: false,
    use: [redact()],
    plugins: [
      phoenix(
        {
          endpoint: endpointOf(fixture.receiver, transport),
          apiKey: API_KEY,
          project: PROJECT,
          batch: { scheduledDelayMillis: 10 },
          ...options,
        },
        env,
      ),
    ],
  });
  tracers.push(tracer);
  return tracer;
}

const TRACE = {
  name: 'support-request',
  userId: 'user-42',
  sessionId: 'session-7',
  tags: ['beta', 'eu'],
  metadata: { plan: 'pro', seats: 3 },
};

class ToolDown extends Error {}

/** One step of each kind under a root chain; the tool fails, the guardrail blocks. */
async function pipeline(tracer: Tracer): Promise<string> {
  return tracer.chain({ name: 'support', trace: TRACE, input: 'refund window?' }, async (root) => {
    await tracer.retrieval({ name: 'search', dataSource: 'kb', query: 'refund window' }, async (s) => {
      s.update({
        documents: [
          { id: 'doc-1', content: '30 days', score: 0.92, metadata: { source: 'faq' } },
          { id: 'doc-2', content: 'contact support', score: 0.41 },
        ],
      });
      return [];
    });
    await tracer.rerank(
      {
        name: 'rerank',
        model: 'rerank-v3',
        topN: 1,
        query: 'refund',
        documents: [
          { id: 'doc-1', content: '30 days' },
          { id: 'doc-2', content: 'contact support' },
        ],
      },
      async (s) => {
        s.update({ rerankedDocuments: [{ id: 'doc-1', content: '30 days', score: 0.99 }] });
      },
    );
    await tracer.embedding(
      { name: 'embed', model: 'text-embedding-3-small', provider: 'openai', texts: ['refund'] },
      async (s) => {
        s.update({ usage: { inputTokens: 3, totalTokens: 3 } });
        return [[0.5, -0.25]];
      },
    );
    await tracer.prompt(
      {
        name: 'build-prompt',
        templateName: 'answer',
        templateVersion: 4,
        template: 'Q: {q}',
        variables: { q: 'refund' },
      },
      async (s) => {
        s.update({ text: 'Q: refund' });
      },
    );
    await tracer.llm(
      {
        name: 'answer',
        model: 'gpt-4o',
        provider: 'openai',
        systemInstructions: 'Answer briefly.',
        inputMessages: [{ role: 'user', content: 'refund window?' }],
        params: { temperature: 0.1, maxTokens: 64 },
        tools: [{ name: 'create_ticket', description: 'Opens a ticket', parameters: { type: 'object' } }],
      },
      async (s) => {
        s.update({
          responseModel: 'gpt-4o-2024-08-06',
          outputMessages: [
            {
              role: 'assistant',
              content: '30 days',
              toolCalls: [{ id: 'call_1', name: 'create_ticket', arguments: { priority: 'low' } }],
            },
          ],
          usage: {
            inputTokens: 50,
            outputTokens: 10,
            totalTokens: 60,
            cachedInputTokens: 20,
            reasoningTokens: 4,
          },
          cost: { input: 0.0002, output: 0.0001, total: 0.0003, currency: 'USD' },
          finishReasons: ['stop'],
        });
        return '30 days';
      },
    );
    await tracer
      .tool(
        { name: 'ticket', toolName: 'create_ticket', toolCallId: 'call_1', arguments: { priority: 'low' } },
        async () => {
          throw new ToolDown('ticket service down');
        },
      )
      .catch(() => undefined);
    await tracer.guardrail({ name: 'pii', decision: 'block', reason: 'email in answer' }, async () => 'x');
    await tracer.agent({ name: 'helper', agentName: 'helper-agent' }, async () => 'ok');
    await tracer.custom('misc', async () => 1);
    root.update({ output: '30 days' });
    return '30 days';
  });
}
const PIPELINE_SPANS = 10;

const byName = (spans: OtlpSpan[], name: string): OtlpSpan => {
  const span = spans.find((s) => s.name === name);
  if (!span) throw new Error(`no span ${name} in ${spans.map((s) => s.name).join(', ')}`);
  return span;
};
const json = (value: unknown): unknown => JSON.parse(String(value));

async function runPipeline(
  options: PhoenixPluginOptions = {},
  env: NodeJS.ProcessEnv = {},
  transport: Transport = 'http',
): Promise<OtlpSpan[]> {
  const tracer = startTracer(options, env, transport);
  expect(await pipeline(tracer)).toBe('30 days');
  const report = await tracer.flush();
  expect(report.timedOut).toBe(false);
  await fixture.receiver.waitFor({ spans: PIPELINE_SPANS }, 5000);
  return fixture.receiver.spans();
}

describe.each(['http', 'grpc'] as const)('over %s', (transport) => {
  it('sends protobuf with Bearer auth, the project header and the project resource attribute', async () => {
    const spans = await runPipeline({}, {}, transport);
    const requests = fixture.receiver.requests;
    expect(requests.length).toBeGreaterThan(0);
    for (const request of requests) {
      expect(request.signal).toBe('traces');
      expect(request.transport).toBe(transport);
      if (transport === 'http') {
        expect(request.path).toBe(TRACE_PATH);
        expect(request.contentType).toBe('application/x-protobuf');
      } else {
        expect(request.path).toBe(GRPC_PATH);
      }
      expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
      expect(request.headers['x-project-name']).toBe(PROJECT);
      expect(request.outcome?.kind).toBe('accepted');
    }
    // No metrics or logs: Phoenix has no endpoint for them.
    expect(requests.filter((r) => r.signal !== 'traces')).toEqual([]);
    for (const span of spans) {
      expect(span.resource['openinference.project.name'], span.name).toBe(PROJECT);
      expect(span.resource['service.name']).toBe('support-service');
      expect(span.scope.name).toBe('@spanchain/phoenix');
    }
  });

  it('names every attribute from Arize’s list and gives every kind its OpenInference span kind', async () => {
    const spans = await runPipeline({}, {}, transport);
    expect(spans).toHaveLength(PIPELINE_SPANS);
    const problems: string[] = [];
    for (const span of spans) {
      for (const name of Object.keys(span.attributes)) {
        const problem = notOpenInference(name);
        if (problem) problems.push(`${span.name}: ${problem}`);
      }
      // Resource: Arize's project name plus the OpenTelemetry SDK's own resource keys.
      for (const name of Object.keys(span.resource)) {
        if (name === OPENINFERENCE.attributes.SEMRESATTRS_PROJECT_NAME) continue;
        expect(name, 'resource attribute').toMatch(
          /^(service\.name|telemetry\.sdk\.(name|language|version))$/,
        );
      }
      // Events: only OpenTelemetry's exception event and its attributes.
      for (const event of span.events) {
        expect(event.name).toBe('exception');
        for (const name of Object.keys(event.attributes))
          expect(name).toMatch(/^exception\.(type|message|stacktrace)$/);
      }
    }
    expect(problems).toEqual([]);

    const kinds = Object.fromEntries(spans.map((s) => [s.name, s.attributes['openinference.span.kind']]));
    expect(kinds).toEqual({
      support: 'CHAIN',
      search: 'RETRIEVER',
      rerank: 'RERANKER',
      CreateEmbeddings: 'EMBEDDING',
      'build-prompt': 'PROMPT',
      answer: 'LLM',
      ticket: 'TOOL',
      pii: 'GUARDRAIL',
      helper: 'AGENT',
      misc: 'CHAIN',
    });
    const allowedKinds = enumValues('OpenInferenceSpanKind');
    const mimeTypes = enumValues('MimeType');
    for (const span of spans) {
      expect(allowedKinds).toContain(span.attributes['openinference.span.kind']);
      for (const key of ['input.mime_type', 'output.mime_type']) {
        if (span.attributes[key] !== undefined) expect(mimeTypes).toContain(span.attributes[key]);
      }
      // Session, user, metadata and tags on every span, as OpenInference's context helpers do.
      expect(span.attributes['session.id'], span.name).toBe('session-7');
      expect(span.attributes['user.id']).toBe('user-42');
      expect(span.attributes['tag.tags']).toEqual(['beta', 'eu']);
      expect(json(span.attributes.metadata)).toEqual({ plan: 'pro', seats: 3 });
    }
    const answer = byName(spans, 'answer').attributes;
    expect(enumValues('LLMProvider')).toContain(answer['llm.provider']);
    expect(enumValues('LLMSystem')).toContain(answer['llm.system']);
  });

  it('flattens messages and writes model, parameters, tools, tokens, cost and finish reason', async () => {
    const spans = await runPipeline({}, {}, transport);
    const answer = byName(spans, 'answer');
    expect(answer.kind).toBe(3); // CLIENT on the wire
    const a = answer.attributes;
    expect(a).toMatchObject({
      'llm.model_name': 'gpt-4o-2024-08-06',
      'llm.request.model_name': 'gpt-4o',
      'llm.response.model_name': 'gpt-4o-2024-08-06',
      'llm.provider': 'openai',
      'llm.system': 'openai',
      'llm.input_messages.0.message.role': 'system',
      'llm.input_messages.0.message.content': 'Answer briefly.',
      'llm.input_messages.1.message.role': 'user',
      'llm.input_messages.1.message.content': 'refund window?',
      'llm.output_messages.0.message.role': 'assistant',
      'llm.output_messages.0.message.content': '30 days',
      'llm.output_messages.0.message.tool_calls.0.tool_call.id': 'call_1',
      'llm.output_messages.0.message.tool_calls.0.tool_call.function.name': 'create_ticket',
      'llm.token_count.prompt': 50,
      'llm.token_count.completion': 10,
      'llm.token_count.total': 60,
      'llm.token_count.prompt_details.cache_read': 20,
      'llm.token_count.completion_details.reasoning': 4,
      'llm.cost.prompt': 0.0002,
      'llm.cost.completion': 0.0001,
      'llm.cost.total': 0.0003,
      'llm.finish_reason': 'stop',
      'output.value': '30 days',
      'output.mime_type': 'text/plain',
    });
    expect(json(a['llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments'])).toEqual({
      priority: 'low',
    });
    expect(json(a['llm.invocation_parameters'])).toEqual({ temperature: 0.1, max_tokens: 64 });
    expect(json(a['llm.tools.0.tool.json_schema'])).toMatchObject({ function: { name: 'create_ticket' } });
    // Token counts are integers on the wire (Phoenix coerces them anyway).
    expect(Number.isInteger(a['llm.token_count.prompt'])).toBe(true);
  });

  it('writes documents, reranker, embedding, prompt, tool, agent and guardrail attributes', async () => {
    const spans = await runPipeline({}, {}, transport);
    const search = byName(spans, 'search').attributes;
    expect(search).toMatchObject({
      'input.value': 'refund window',
      'input.mime_type': 'text/plain',
      'retrieval.documents.0.document.id': 'doc-1',
      'retrieval.documents.0.document.content': '30 days',
      'retrieval.documents.0.document.score': 0.92,
      'retrieval.documents.1.document.id': 'doc-2',
      'retrieval.documents.1.document.score': 0.41,
    });
    expect(json(search['retrieval.documents.0.document.metadata'])).toEqual({ source: 'faq' });

    expect(byName(spans, 'rerank').attributes).toMatchObject({
      'reranker.query': 'refund',
      'reranker.model_name': 'rerank-v3',
      'reranker.top_k': 1,
      'reranker.input_documents.1.document.id': 'doc-2',
      'reranker.output_documents.0.document.id': 'doc-1',
      'reranker.output_documents.0.document.score': 0.99,
    });

    const embed = byName(spans, 'CreateEmbeddings').attributes;
    expect(embed).toMatchObject({
      'embedding.model_name': 'text-embedding-3-small',
      'embedding.embeddings.0.embedding.text': 'refund',
      'embedding.embeddings.0.embedding.vector': [0.5, -0.25],
      'llm.token_count.prompt': 3,
    });
    expect(embed['llm.provider']).toBeUndefined();

    const prompt = byName(spans, 'build-prompt').attributes;
    expect(prompt).toMatchObject({
      'llm.prompt_template.template': 'Q: {q}',
      'llm.prompt_template.version': '4',
      'prompt.id': 'answer',
      'output.value': 'Q: refund',
    });
    expect(json(prompt['llm.prompt_template.variables'])).toEqual({ q: 'refund' });

    const ticket = byName(spans, 'ticket');
    expect(ticket.status).toEqual({ code: 2, message: 'ticket service down' });
    expect(ticket.attributes).toMatchObject({ 'tool.name': 'create_ticket', 'tool.id': 'call_1' });
    expect(json(ticket.attributes['input.value'])).toEqual({ priority: 'low' });
    const exception = ticket.events.find((e) => e.name === 'exception');
    expect(exception?.attributes).toMatchObject({
      'exception.type': 'ToolDown',
      'exception.message': 'ticket service down',
    });

    expect(byName(spans, 'helper').attributes['agent.name']).toBe('helper-agent');
    expect(byName(spans, 'pii').attributes).toMatchObject({
      'annotations.0.annotation.name': 'pii',
      'annotations.0.annotation.label': 'block',
      'annotations.0.annotation.explanation': 'email in answer',
    });
    const root = byName(spans, 'support');
    expect(root.parentSpanId).toBe('');
    expect(root.attributes).toMatchObject({ 'input.value': 'refund window?', 'output.value': '30 days' });
    for (const span of spans) if (span !== root) expect(span.parentSpanId).toBe(root.spanId);
  });
});

it('the name check itself rejects names that are not OpenInference’s', () => {
  expect(
    notOpenInference('llm.output_messages.0.message.tool_calls.1.tool_call.function.name'),
  ).toBeUndefined();
  expect(
    notOpenInference('llm.input_messages.0.message.contents.0.message_content.image.image.url'),
  ).toBeUndefined();
  expect(notOpenInference('gen_ai.request.model')).toMatch(/not an OpenInference name/);
  expect(notOpenInference('llm.input_messages.0.message.colour')).toMatch(/message\.colour/);
  expect(notOpenInference('retrieval.documents.x.document.id')).toBeDefined();
});

describe('hiding content', () => {
  it('OPENINFERENCE_HIDE_* variables hide on top of spanchain’s redaction', async () => {
    const spans = await runPipeline(
      {},
      {
        OPENINFERENCE_HIDE_INPUTS: 'true',
        OPENINFERENCE_HIDE_OUTPUT_TEXT: 'true',
        OPENINFERENCE_HIDE_EMBEDDINGS_VECTORS: 'true',
        OPENINFERENCE_HIDE_LLM_INVOCATION_PARAMETERS: 'true',
      },
    );
    const answer = byName(spans, 'answer').attributes;
    expect(answer['input.value']).toBe('__REDACTED__');
    expect(answer['input.mime_type']).toBeUndefined();
    expect(
      Object.keys(answer).filter((k) => k.startsWith('llm.input_messages.') || k.startsWith('llm.tools.')),
    ).toEqual([]);
    expect(answer['llm.output_messages.0.message.content']).toBe('__REDACTED__');
    expect(answer['llm.output_messages.0.message.role']).toBe('assistant');
    expect(answer['llm.invocation_parameters']).toBeUndefined();
    expect(answer['llm.token_count.total']).toBe(60);
    expect(byName(spans, 'CreateEmbeddings').attributes['embedding.embeddings.0.embedding.vector']).toBe(
      '__REDACTED__',
    );
    expect(byName(spans, 'search').attributes['input.value']).toBe('__REDACTED__');
    for (const request of fixture.receiver.requests)
      expect(request.body.includes('Answer briefly.')).toBe(false);
  });

  it('the plugin’s own redact option masks for Phoenix only, before the hide switches', async () => {
    const spans = await runPipeline({ redact: { fields: { messages: false }, kinds: ['llm'] } });
    const answer = byName(spans, 'answer').attributes;
    expect(answer['llm.input_messages.1.message.content']).toBe(REDACTED);
    expect(answer['llm.output_messages.0.message.content']).toBe(REDACTED);
    // Other kinds keep their content.
    expect(byName(spans, 'support').attributes['input.value']).toBe('refund window?');
  });
});

describe('encoding', () => {
  it('refuses OTLP JSON when asked, and ignores an OTel protocol variable meant for another backend', async () => {
    expect(() => phoenix({ protocol: 'http/json' as never }, {})).toThrow(/JSON/);
    await runPipeline(
      {},
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' },
    );
    for (const request of fixture.receiver.requests)
      expect(request.contentType).toBe('application/x-protobuf');
  });

  it('gzip when asked (Phoenix accepts it)', async () => {
    await runPipeline({ compression: 'gzip' });
    for (const request of fixture.receiver.requests) expect(request.contentEncoding).toBe('gzip');
  });
});
