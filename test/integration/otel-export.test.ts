// End-to-end contract of @spanchain/otel against the loopback OTLP receiver: a small RAG pipeline run
// through the real tracer and the real plugin, decoded from the wire for each OTLP protocol, and
// checked against CONTRACTS §1 (OTLP) and §2 (GenAI conventions v1.41.0, from test/fixtures).
import { createHash } from 'node:crypto';
import * as semconvStable from '@opentelemetry/semantic-conventions';
import * as semconvIncubating from '@opentelemetry/semantic-conventions/incubating';
import { createTracer, type StepOptions, type Tracer } from '@spanchain/core';
import { type OtelPluginOptions, type OtlpProtocol, otel } from '@spanchain/otel';
import { describe, expect, it } from 'vitest';
import type { OtlpSpan, ReceivedRequest } from '../support/otlp-receiver.js';
import { useOtlpReceiver } from '../support/receiver-fixture.js';
import { type GenAiJsonKind, genAiRegistry, validateGenAiJson } from '../support/semconv.js';

const PROTOCOLS: OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];
const TRACE_GRPC_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const SERVICE = 'rag-service';

const fixture = useOtlpReceiver();
const { tracers } = fixture;

function startTracer(options: OtelPluginOptions = {}): Tracer {
  const protocol = options.protocol ?? 'http/protobuf';
  const tracer = createTracer({
    serviceName: SERVICE,
    flushOnExit: false,
    plugins: [
      otel({
        endpoint: protocol === 'grpc' ? fixture.receiver.grpcUrl : fixture.receiver.httpUrl,
        batch: { scheduledDelayMillis: 10 },
        metrics: false,
        ...options,
      }),
    ],
  });
  tracers.push(tracer);
  return tracer;
}

// ---------------------------------------------------------------------------------------------
// The pipeline: chain → retrieval → prompt → llm → tool that fails once (retried)

class ToolUnavailableError extends Error {}

const QUESTION = 'What is the refund window for annual plans?';
const ANSWER = 'Annual plans can be refunded within 30 days.';
const SYSTEM = 'Answer from the retrieved documents only.';
const TOOL_RESULT_TEXT = 'Refunds for annual plans: 30 days after purchase.';

interface RagIds {
  traceId: string;
  root: string;
  retrieval: string;
  prompt: string;
  llm: string;
  /** The tool's attempts in order: the first fails, the second succeeds. */
  toolAttempts: string[];
}

async function runRag(
  tracer: Tracer,
  root: Partial<StepOptions<'chain'>> = {},
): Promise<{ ids: RagIds; answer: string }> {
  const ids: RagIds = { traceId: '', root: '', retrieval: '', prompt: '', llm: '', toolAttempts: [] };
  let toolCalls = 0;
  const answer = await tracer.chain({ name: 'rag', input: { question: QUESTION }, ...root }, async (step) => {
    ids.traceId = step.traceId;
    ids.root = step.spanId;
    await tracer.retrieval({ query: QUESTION, dataSource: 'kb', topK: 2 }, async (s) => {
      ids.retrieval = s.spanId;
      const documents = [
        { id: 'doc-1', content: 'Annual plans: 30 days.', score: 0.92 },
        { id: 'doc-2', content: 'Monthly plans: 14 days.', score: 0.41, metadata: { source: 'faq' } },
      ];
      s.update({ documents });
      return documents;
    });
    await tracer.prompt(
      {
        name: 'build-prompt',
        templateName: 'rag-answer',
        templateVersion: 3,
        variables: { question: QUESTION },
      },
      (s) => {
        ids.prompt = s.spanId;
        const messages = [{ role: 'user', content: QUESTION }];
        s.update({ messages });
        return messages;
      },
    );
    const reply = await tracer.llm(
      {
        model: 'gpt-4o',
        provider: 'openai',
        serverAddress: 'api.openai.com',
        serverPort: 443,
        params: { temperature: 0.2, maxTokens: 256, topP: 0.9 },
        systemInstructions: SYSTEM,
        tools: [
          {
            name: 'lookup_policy',
            description: 'Looks up a refund policy',
            parameters: { type: 'object', properties: { plan: { type: 'string' } }, required: ['plan'] },
          },
        ],
        inputMessages: [
          { role: 'user', content: QUESTION },
          {
            role: 'assistant',
            toolCalls: [{ id: 'call_1', name: 'lookup_policy', arguments: { plan: 'annual' } }],
          },
          { role: 'tool', toolCallId: 'call_1', content: TOOL_RESULT_TEXT },
        ],
      },
      async (s) => {
        ids.llm = s.spanId;
        s.update({
          responseModel: 'gpt-4o-2024-08-06',
          responseId: 'chatcmpl-123',
          usage: { inputTokens: 120, outputTokens: 24, totalTokens: 144 },
          finishReasons: ['stop'],
          outputMessages: [{ role: 'assistant', content: ANSWER }],
        });
        return ANSWER;
      },
    );
    await tracer.tool(
      {
        toolName: 'send_email',
        toolCallId: 'call_2',
        toolType: 'function',
        arguments: { to: 'customer' },
        retry: { maxRetries: 1, initialDelayMs: 0 },
      },
      async (s) => {
        ids.toolAttempts.push(s.spanId);
        toolCalls++;
        if (toolCalls === 1) throw new ToolUnavailableError('mail server unavailable');
        return { sent: true };
      },
    );
    return reply;
  });
  return { ids, answer };
}

/** root, retrieval, prompt, llm, the tool (a retry container) and its two attempts. */
const RAG_SPANS = 7;

function byId(spans: OtlpSpan[], id: string): OtlpSpan {
  const span = spans.find((s) => s.spanId === id);
  if (!span) throw new Error(`no span ${id} among ${spans.map((s) => `${s.name}/${s.spanId}`).join(', ')}`);
  return span;
}

async function exportRag(protocol: OtlpProtocol, options: OtelPluginOptions = {}) {
  const tracer = startTracer({ protocol, ...options });
  const { ids, answer } = await runRag(tracer);
  await tracer.flush();
  await fixture.receiver.waitFor({ spans: RAG_SPANS }, 3000);
  return { tracer, ids, answer, spans: fixture.receiver.spans() };
}

// ---------------------------------------------------------------------------------------------
// Raw request access: attributes as sent, with their AnyValue wrappers (stringValue, intValue, …)

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function rawSpans(request: ReceivedRequest): Obj[] {
  return arr(obj(request.decoded).resourceSpans).flatMap((rs) =>
    arr(obj(rs).scopeSpans).flatMap((ss) => arr(obj(ss).spans).map(obj)),
  );
}

const VALUE_KINDS = [
  'stringValue',
  'boolValue',
  'intValue',
  'doubleValue',
  'arrayValue',
  'kvlistValue',
  'bytesValue',
] as const;
type ValueKind = (typeof VALUE_KINDS)[number] | 'empty';

function kindOf(value: unknown): ValueKind {
  const v = obj(value);
  return VALUE_KINDS.find((k) => k in v) ?? 'empty';
}

interface WireAttribute {
  key: string;
  kind: ValueKind;
  /** For arrays: the kind of each element. */
  elements: ValueKind[];
}

function wireAttributes(list: unknown): WireAttribute[] {
  return arr(list).map((kv) => {
    const { key, value } = obj(kv);
    const kind = kindOf(value);
    const elements = kind === 'arrayValue' ? arr(obj(obj(value).arrayValue).values).map(kindOf) : [];
    return { key: String(key), kind, elements };
  });
}

/** Every span attribute (and exception event attribute) of every trace request, as sent. */
function allWireAttributes(): Array<{ span: string; attribute: WireAttribute }> {
  const out: Array<{ span: string; attribute: WireAttribute }> = [];
  for (const request of fixture.receiver.requests.filter((r) => r.signal === 'traces')) {
    for (const span of rawSpans(request)) {
      const name = String(span.name);
      for (const attribute of wireAttributes(span.attributes)) out.push({ span: name, attribute });
      for (const event of arr(span.events).map(obj)) {
        if (event.name !== 'exception') continue;
        for (const attribute of wireAttributes(event.attributes)) out.push({ span: name, attribute });
      }
    }
  }
  return out;
}

// Every attribute name published by @opentelemetry/semantic-conventions (stable and incubating entry).
const PUBLISHED_NAMES = new Set(
  [semconvStable, semconvIncubating].flatMap((module) =>
    Object.entries(module)
      .filter(([name, value]) => name.startsWith('ATTR_') && typeof value === 'string')
      .map(([, value]) => value as string),
  ),
);

/**
 * The wire value kinds a registry type allows. A JS number has no int/double distinction: the SDK
 * sends a whole number as intValue, so a `double` attribute (temperature 1, top_k 2) may arrive as
 * either; an `int` must arrive as intValue.
 */
function allowedKinds(type: string, members: Array<string | number> | undefined): ValueKind[] | 'any' {
  switch (type) {
    case 'string':
      return ['stringValue'];
    case 'int':
      return ['intValue'];
    case 'double':
      return ['doubleValue', 'intValue'];
    case 'boolean':
      return ['boolValue'];
    case 'enum':
      return members?.every((m) => typeof m === 'number') ? ['intValue'] : ['stringValue'];
    case 'any':
      return 'any';
    default:
      throw new Error(`registry type ${type} has no mapping in this test`);
  }
}

function checkRegistryType(attribute: WireAttribute, problems: string[], where: string): void {
  const entry = genAiRegistry().get(attribute.key);
  if (!entry) {
    problems.push(`${where}: ${attribute.key} is not in the GenAI registry`);
    return;
  }
  if (entry.type.endsWith('[]')) {
    const element = allowedKinds(entry.type.slice(0, -2), undefined);
    const ok =
      attribute.kind === 'arrayValue' &&
      attribute.elements.length > 0 &&
      (element === 'any' || attribute.elements.every((k) => element.includes(k)));
    if (!ok) problems.push(`${where}: ${attribute.key} is ${attribute.kind}, registry says ${entry.type}`);
    return;
  }
  const allowed = allowedKinds(entry.type, entry.members);
  if (allowed !== 'any' && !allowed.includes(attribute.kind)) {
    problems.push(`${where}: ${attribute.key} is ${attribute.kind}, registry says ${entry.type}`);
  }
}

const CONTENT_SCHEMAS: Record<string, GenAiJsonKind> = {
  'gen_ai.input.messages': 'input-messages',
  'gen_ai.output.messages': 'output-messages',
  'gen_ai.system_instructions': 'system-instructions',
  'gen_ai.tool.definitions': 'tool-definitions',
  'gen_ai.retrieval.documents': 'retrieval-documents',
};

/** Everything that is content (opt-in), on any kind of span. */
const CONTENT_ATTRIBUTES = [
  ...Object.keys(CONTENT_SCHEMAS),
  'gen_ai.tool.call.arguments',
  'gen_ai.tool.call.result',
  'gen_ai.retrieval.query.text',
  'spanchain.input',
  'spanchain.output',
  'spanchain.prompt.template',
  'spanchain.prompt.variables',
  'spanchain.prompt.messages',
];

const parseJsonAttribute = (span: OtlpSpan, key: string): unknown => {
  const value = span.attributes[key];
  expect(typeof value, `${span.name}: ${key} should be a JSON string`).toBe('string');
  return JSON.parse(value as string);
};

// ---------------------------------------------------------------------------------------------

describe.each(PROTOCOLS)('the RAG pipeline over %s', (protocol) => {
  it('arrives as one trace with the steps’ own ids, parent links, names, kinds, flags and statuses', async () => {
    const { ids, answer, spans } = await exportRag(protocol, { captureContent: true });
    expect(answer).toBe(ANSWER);
    expect(spans).toHaveLength(RAG_SPANS);

    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([ids.traceId]));
    const root = byId(spans, ids.root);
    const retrieval = byId(spans, ids.retrieval);
    const prompt = byId(spans, ids.prompt);
    const llm = byId(spans, ids.llm);
    expect(ids.toolAttempts).toHaveLength(2);
    const failedAttempt = byId(spans, ids.toolAttempts[0]!);
    const okAttempt = byId(spans, ids.toolAttempts[1]!);
    const container = byId(spans, failedAttempt.parentSpanId);

    expect(root.parentSpanId).toBe('');
    for (const child of [retrieval, prompt, llm, container]) expect(child.parentSpanId).toBe(ids.root);
    expect(okAttempt.parentSpanId).toBe(container.spanId);

    expect(root.name).toBe('rag');
    expect(retrieval.name).toBe('retrieval kb');
    expect(prompt.name).toBe('build-prompt');
    expect(llm.name).toBe('chat gpt-4o');
    for (const tool of [container, failedAttempt, okAttempt])
      expect(tool.name).toBe('execute_tool send_email');

    // Wire span kinds are the JS SpanKind + 1: CLIENT = 3, INTERNAL = 1.
    expect(llm.kind).toBe(3);
    expect(retrieval.kind).toBe(3);
    for (const internal of [root, prompt, container, failedAttempt, okAttempt]) expect(internal.kind).toBe(1);

    // 0x100 "is-remote known" + sampled; nothing here has a remote parent.
    for (const span of spans) expect(span.flags, span.name).toBe(0x101);

    expect(failedAttempt.status).toEqual({ code: 2, message: 'mail server unavailable' });
    for (const span of [root, retrieval, prompt, llm, container, okAttempt]) {
      expect(span.status.code, span.name).toBe(1);
      expect(span.attributes['error.type'], span.name).toBeUndefined();
      expect(
        span.events.filter((e) => e.name === 'exception'),
        span.name,
      ).toEqual([]);
    }
    expect(failedAttempt.attributes['error.type']).toBe('ToolUnavailableError');
    const exceptions = failedAttempt.events.filter((e) => e.name === 'exception');
    expect(exceptions).toHaveLength(1);
    expect(exceptions[0]!.attributes).toMatchObject({
      'exception.type': 'ToolUnavailableError',
      'exception.message': 'mail server unavailable',
    });
    expect(exceptions[0]!.attributes['exception.stacktrace']).toEqual(
      expect.stringContaining('mail server unavailable'),
    );

    expect(llm.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.response.id': 'chatcmpl-123',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 120,
      'gen_ai.usage.output_tokens': 24,
      'gen_ai.request.max_tokens': 256,
      'server.address': 'api.openai.com',
      'server.port': 443,
    });
    expect(retrieval.attributes).toMatchObject({
      'gen_ai.operation.name': 'retrieval',
      'gen_ai.data_source.id': 'kb',
    });
    expect(okAttempt.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'send_email',
      'gen_ai.tool.call.id': 'call_2',
    });

    for (const span of spans) {
      expect(span.resource['service.name']).toBe(SERVICE);
      expect(span.scope.name).toBe('@spanchain/otel');
    }

    const traceRequests = fixture.receiver.requests.filter((r) => r.signal === 'traces');
    expect(traceRequests.length).toBeGreaterThan(0);
    for (const request of traceRequests) {
      if (protocol === 'grpc') {
        expect(request.transport).toBe('grpc');
        expect(request.path).toBe(TRACE_GRPC_PATH);
      } else {
        expect(request.transport).toBe('http');
        expect(request.path).toBe('/v1/traces');
        expect(request.contentType).toBe(
          protocol === 'http/json' ? 'application/json' : 'application/x-protobuf',
        );
      }
    }
    // Only traces were asked for (metrics off, logs off by default).
    expect(fixture.receiver.requests.filter((r) => r.signal !== 'traces')).toEqual([]);
  });

  it('marks a child of a remote traceparent 0x301 and keeps the remote trace id', async () => {
    const remoteTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const remoteSpan = '00f067aa0ba902b7';
    const tracer = startTracer({ protocol });
    let rootId = '';
    let llmId = '';
    await tracer.chain(
      { name: 'handle-request', parent: `00-${remoteTrace}-${remoteSpan}-01` },
      async (s) => {
        rootId = s.spanId;
        await tracer.llm({ model: 'gpt-4o', provider: 'openai' }, async (l) => {
          llmId = l.spanId;
          return 'ok';
        });
      },
    );
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: 2 }, 3000);
    const spans = fixture.receiver.spans();
    const root = byId(spans, rootId);
    const llm = byId(spans, llmId);
    expect(root.traceId).toBe(remoteTrace);
    expect(llm.traceId).toBe(remoteTrace);
    expect(root.parentSpanId).toBe(remoteSpan);
    expect(root.flags).toBe(0x301);
    expect(llm.parentSpanId).toBe(rootId);
    expect(llm.flags).toBe(0x101);
  });

  it('sends only GenAI registry names with the registry’s types, published semconv names or spanchain.*', async () => {
    const { spans } = await exportRag(protocol, { captureContent: true });
    const problems: string[] = [];
    const attributes = allWireAttributes();
    expect(attributes.length).toBeGreaterThan(50);
    for (const { span, attribute } of attributes) {
      const where = `${span} (${protocol})`;
      if (attribute.key.startsWith('gen_ai.')) checkRegistryType(attribute, problems, where);
      else if (!attribute.key.startsWith('spanchain.') && !PUBLISHED_NAMES.has(attribute.key)) {
        problems.push(`${where}: ${attribute.key} is neither spanchain.* nor a published semconv name`);
      }
    }
    for (const key of new Set(spans.flatMap((s) => Object.keys(s.resource)))) {
      if (!PUBLISHED_NAMES.has(key)) problems.push(`resource: ${key} is not a published semconv name`);
    }
    expect(problems).toEqual([]);
    // The names the brief singles out are the published ones (the set is built from the package).
    for (const name of [
      'user.id',
      'session.id',
      'server.address',
      'error.type',
      'deployment.environment.name',
    ]) {
      expect(PUBLISHED_NAMES.has(name), name).toBe(true);
    }
    // A deprecated GenAI name is not in the v1.41.0 registry, so the check above would catch it.
    expect(genAiRegistry().has('gen_ai.system')).toBe(false);
  });

  it('writes content as JSON strings that validate against the GenAI schemas', async () => {
    const { ids, spans } = await exportRag(protocol, { captureContent: true });
    const llm = byId(spans, ids.llm);
    const retrieval = byId(spans, ids.retrieval);

    const checked: string[] = [];
    for (const span of [llm, retrieval]) {
      for (const [key, kind] of Object.entries(CONTENT_SCHEMAS)) {
        if (!(key in span.attributes)) continue;
        const result = validateGenAiJson(kind, parseJsonAttribute(span, key));
        expect(result.errors, `${span.name} ${key}`).toEqual([]);
        checked.push(key);
      }
    }
    expect(checked.sort()).toEqual(Object.keys(CONTENT_SCHEMAS).sort());

    const input = parseJsonAttribute(llm, 'gen_ai.input.messages');
    expect(input).toEqual([
      { role: 'user', parts: [{ type: 'text', content: QUESTION }] },
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'call_1', name: 'lookup_policy', arguments: { plan: 'annual' } }],
      },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'call_1', response: TOOL_RESULT_TEXT }] },
    ]);
    expect(parseJsonAttribute(llm, 'gen_ai.output.messages')).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: ANSWER }], finish_reason: 'stop' },
    ]);
    expect(parseJsonAttribute(llm, 'gen_ai.system_instructions')).toEqual([
      { type: 'text', content: SYSTEM },
    ]);
    expect(parseJsonAttribute(llm, 'gen_ai.tool.definitions')).toEqual([
      {
        type: 'function',
        name: 'lookup_policy',
        description: 'Looks up a refund policy',
        parameters: { type: 'object', properties: { plan: { type: 'string' } }, required: ['plan'] },
      },
    ]);
    const documents = parseJsonAttribute(retrieval, 'gen_ai.retrieval.documents') as Array<Obj>;
    expect(documents.map((d) => [d.id, d.score])).toEqual([
      ['doc-1', 0.92],
      ['doc-2', 0.41],
    ]);
    expect(retrieval.attributes['gen_ai.retrieval.query.text']).toBe(QUESTION);

    const okTool = byId(spans, ids.toolAttempts[1]!);
    expect(JSON.parse(okTool.attributes['gen_ai.tool.call.arguments'] as string)).toEqual({ to: 'customer' });
    expect(JSON.parse(okTool.attributes['gen_ai.tool.call.result'] as string)).toEqual({ sent: true });
  });

  if (protocol === 'http/json') {
    it('sends lowercase hex ids and integer enums in OTLP/JSON', async () => {
      const { ids } = await exportRag(protocol);
      const raw = fixture.receiver.requests.filter((r) => r.signal === 'traces').flatMap(rawSpans);
      expect(raw).toHaveLength(RAG_SPANS);
      for (const span of raw) {
        expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
        expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
        if (span.parentSpanId !== undefined && span.parentSpanId !== '') {
          expect(span.parentSpanId).toMatch(/^[0-9a-f]{16}$/);
        }
        expect(typeof span.kind).toBe('number');
        expect(typeof obj(span.status).code === 'number' || obj(span.status).code === undefined).toBe(true);
      }
      expect(raw.map((s) => s.traceId)).toContain(ids.traceId);
    });
  }
});

describe('content capture off (the default)', () => {
  it('sends no content attribute and none of the content’s text', async () => {
    // The plugin reads this variable only when the option is absent: make sure the default applies.
    const saved = process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT;
    delete process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT;
    let tracer: Tracer;
    try {
      tracer = startTracer({ metrics: true, logs: true });
    } finally {
      if (saved !== undefined) process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT = saved;
    }
    const { ids } = await runRag(tracer);
    await tracer.flush();
    await fixture.receiver.waitFor({ spans: RAG_SPANS }, 3000);
    const spans = fixture.receiver.spans();
    for (const span of spans) {
      for (const key of CONTENT_ATTRIBUTES)
        expect(span.attributes[key], `${span.name} ${key}`).toBeUndefined();
    }
    // The rest is still there.
    expect(byId(spans, ids.llm).attributes['gen_ai.usage.input_tokens']).toBe(120);
    expect(byId(spans, ids.prompt).attributes['spanchain.prompt.template.name']).toBe('rag-answer');
    // No signal carries the text of the question, answer, instructions or tool result.
    expect(fixture.receiver.requests.map((r) => r.signal)).toEqual(
      expect.arrayContaining(['traces', 'metrics', 'logs']),
    );
    for (const request of fixture.receiver.requests) {
      for (const text of [QUESTION, ANSWER, SYSTEM, TOOL_RESULT_TEXT, 'doc-1']) {
        expect(request.body.includes(text), `${request.signal} body contains "${text}"`).toBe(false);
      }
    }
  });

  it('(control) the same text is on the wire when capture is on', async () => {
    await exportRag('http/protobuf', { captureContent: true });
    const bodies = Buffer.concat(fixture.receiver.requests.map((r) => r.body));
    for (const text of [QUESTION, ANSWER, SYSTEM, TOOL_RESULT_TEXT, 'doc-1']) {
      expect(bodies.includes(text), text).toBe(true);
    }
  });
});

describe('trace-level metadata and identity', () => {
  const API_KEY = 'sk-live-7f3a9c2e1b5d4f6a8c0e11aa';
  const trace = {
    userId: 'user-42',
    sessionId: 'sess-7',
    tags: ['beta', 'eu'],
    metadata: { plan: 'pro', region: 'eu-west-1' },
  };
  const identity = { team: 'search', keyAlias: 'search-prod', apiKey: API_KEY };
  const keyHash = `sha256:${createHash('sha256').update(API_KEY).digest('hex')}`;

  it.each(PROTOCOLS)(
    'are on every span, failed or not, and the API key is never sent (%s)',
    async (protocol) => {
      const tracer = startTracer({ protocol, metrics: true, logs: true, captureContent: true });
      const { ids } = await runRag(tracer, { trace, identity });
      // A second trace whose root fails as a whole.
      let failedRoot = '';
      const failure = tracer.chain({ name: 'doomed', trace, identity }, async (s) => {
        failedRoot = s.spanId;
        await tracer.llm({ model: 'gpt-4o', provider: 'openai' }, async () => {
          throw new Error('upstream 500');
        });
      });
      await expect(failure).rejects.toThrow('upstream 500');
      await tracer.flush();
      await fixture.receiver.waitFor({ spans: RAG_SPANS + 2 }, 3000);

      const spans = fixture.receiver.spans();
      expect(spans).toHaveLength(RAG_SPANS + 2);
      const failed = spans.filter((s) => s.status.code === 2);
      expect(failed.map((s) => s.spanId)).toEqual(expect.arrayContaining([ids.toolAttempts[0], failedRoot]));
      for (const span of spans) {
        expect(span.attributes, span.name).toMatchObject({
          'user.id': 'user-42',
          'session.id': 'sess-7',
          'spanchain.trace.tags': ['beta', 'eu'],
          'spanchain.trace.metadata.plan': 'pro',
          'spanchain.trace.metadata.region': 'eu-west-1',
          'spanchain.identity.team': 'search',
          'spanchain.identity.key_alias': 'search-prod',
          'spanchain.identity.key_hash': keyHash,
        });
        for (const value of Object.values(span.attributes)) expect(String(value)).not.toContain(API_KEY);
      }

      const signals = new Set(fixture.receiver.requests.map((r) => r.signal));
      expect(signals).toEqual(new Set(['traces', 'metrics', 'logs']));
      for (const request of fixture.receiver.requests) {
        expect(request.bytes.includes(API_KEY), `${request.signal} raw bytes`).toBe(false);
        expect(request.body.includes(API_KEY), `${request.signal} body`).toBe(false);
        for (const value of Object.values(request.headers)) expect(value).not.toContain(API_KEY);
      }
      // The search above does find what is there: the hash of the key is in the trace bodies.
      const traceBodies = Buffer.concat(
        fixture.receiver.requests.filter((r) => r.signal === 'traces').map((r) => r.body),
      );
      expect(traceBodies.includes(keyHash)).toBe(true);
    },
  );
});

describe('compression and static headers', () => {
  const headers = { 'x-tenant': 'acme', authorization: 'Bearer static-token-123' };

  it.each(['http/protobuf', 'http/json'] as const)(
    'gzips %s requests of every signal and sends the static headers',
    async (protocol) => {
      const { ids, spans } = await exportRag(protocol, {
        compression: 'gzip',
        headers,
        metrics: true,
        logs: true,
      });
      expect(spans).toHaveLength(RAG_SPANS);
      expect(byId(spans, ids.llm).name).toBe('chat gpt-4o');
      expect(fixture.receiver.metrics().length).toBeGreaterThan(0);
      expect(fixture.receiver.logs().length).toBeGreaterThan(0);
      expect(new Set(fixture.receiver.requests.map((r) => r.signal))).toEqual(
        new Set(['traces', 'metrics', 'logs']),
      );
      for (const request of fixture.receiver.requests) {
        expect(request.contentEncoding, request.signal).toBe('gzip');
        // The gzip magic number, and a body that differs from the bytes on the wire.
        expect([request.bytes[0], request.bytes[1]]).toEqual([0x1f, 0x8b]);
        expect(request.body.equals(request.bytes)).toBe(false);
        expect(request.outcome?.kind, request.signal).toBe('accepted');
        expect(request.headers['x-tenant'], request.signal).toBe('acme');
        expect(request.headers.authorization, request.signal).toBe('Bearer static-token-123');
      }
    },
  );

  it('sends the static headers as gRPC metadata, with gzip compression configured', async () => {
    // grpc-js does not show the server the grpc-encoding metadata, so only delivery and metadata
    // are observable here: the data must still decode with compression switched on.
    const { ids, spans } = await exportRag('grpc', {
      compression: 'gzip',
      headers,
      metrics: true,
      logs: true,
    });
    expect(byId(spans, ids.llm).attributes['gen_ai.request.model']).toBe('gpt-4o');
    expect(new Set(fixture.receiver.requests.map((r) => r.signal))).toEqual(
      new Set(['traces', 'metrics', 'logs']),
    );
    for (const request of fixture.receiver.requests) {
      expect(request.transport).toBe('grpc');
      expect(request.outcome?.kind, request.signal).toBe('accepted');
      expect(request.headers['x-tenant'], request.signal).toBe('acme');
      expect(request.headers.authorization, request.signal).toBe('Bearer static-token-123');
    }
  });

  it('(control) without compression the bytes are the body', async () => {
    await exportRag('http/protobuf');
    for (const request of fixture.receiver.requests) {
      expect(request.contentEncoding).toBe('');
      expect(request.body.equals(request.bytes)).toBe(true);
      expect(request.headers['x-tenant']).toBeUndefined();
    }
  });
});
