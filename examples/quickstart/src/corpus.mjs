// A small bundled corpus: what spanchain says about itself.
export const CORPUS = [
  {
    id: 'steps',
    title: 'Steps',
    text: 'A step is one unit of pipeline work: retrieval, prompt build, LLM call, tool call, embedding, rerank, guardrail, or the agent and chain around them. Each step records its input, output, timing, status and the fields of its kind.',
  },
  {
    id: 'context',
    title: 'Context',
    text: 'Steps nest through AsyncLocalStorage: a step started inside another becomes its child, across await, in generators and in streams, without passing anything by hand.',
  },
  {
    id: 'plugins',
    title: 'Plugins',
    text: 'Every backend is a plugin: OpenTelemetry collectors, Langfuse, LangSmith and Arize Phoenix. One run can feed several backends at once, and every backend sees the same trace id.',
  },
  {
    id: 'middleware',
    title: 'Middleware',
    text: 'A Koa-style middleware chain wraps every step: redact secrets, sample traces, retry and fall back, compute cost from token usage, check guardrails and cut oversized payloads.',
  },
  {
    id: 'safety',
    title: 'Safety',
    text: 'Tracing never breaks the app: a plugin that throws or hangs is isolated, errors are rethrown unchanged, queues are bounded and count what they drop.',
  },
  {
    id: 'streams',
    title: 'Streams',
    text: 'A streamed LLM answer keeps its step open until the consumer finishes, records the time to first token, and ends the step as cancelled when the consumer breaks early.',
  },
];
