// The agent itself, written by hand: plan → call tools → reflect → stream the answer. Every call
// is wrapped in a spanchain step; nesting comes from the async context, nothing is passed around.
import { TOOLS } from './model.mjs';

const PLANNER = 'local-planner-1';
const PRIMARY = 'local-large';
const FALLBACK = 'local-small';
const WRITER = 'local-writer-1';

const SYSTEM = 'You are a travel assistant. Use the tools for facts; answer in two sentences.';

/**
 * Runs the agent on one question. `apiKey` is the currency service's credential: it goes into that
 * tool's arguments (the service wants it there) and the `redact` middleware masks it before any
 * plugin sees the step. `onToken` receives each streamed word of the answer.
 */
export async function runAgent(tracer, { question, model, weather, currency, apiKey, onToken }) {
  return tracer.agent(
    {
      name: 'trip-assistant',
      agentName: 'trip-assistant',
      agentDescription: 'Answers travel questions with a weather and a currency tool.',
      input: question,
      trace: { name: 'agent-demo', userId: 'demo-user', sessionId: 'session-1', tags: ['example'] },
    },
    async (agent) => {
      const messages = [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: question },
      ];

      // 1. Planning: the model answers with tool calls.
      const plan = await tracer.llm(
        {
          name: 'plan',
          provider: 'local',
          model: PLANNER,
          inputMessages: [...messages],
          tools: TOOLS,
          params: { temperature: 0, maxTokens: 256 },
        },
        async (step) => {
          const reply = await model.complete(PLANNER, messages);
          step.update({
            responseModel: reply.model,
            usage: reply.usage,
            outputMessages: [reply.message],
            toolCalls: reply.message.toolCalls ?? [],
            finishReasons: [reply.message.finishReason],
          });
          return reply.message;
        },
      );
      messages.push(plan);

      // 2. Tools, in the order the model asked for them.
      for (const call of plan.toolCalls ?? []) {
        const result = await callTool(tracer, call, { weather, currency, apiKey });
        messages.push({
          role: 'tool',
          name: call.name,
          toolCallId: call.id,
          content: JSON.stringify(result),
        });
      }

      // 3. Reflection with a fallback: the big model is down, the small one takes over. Each try is a
      //    child step of `reflect`; the handle passed in is the attempt's, so `step.model` is the one tried.
      const think = async (step) => {
        const reply = await model.complete(step.model, messages);
        step.update({
          responseModel: reply.model,
          usage: reply.usage,
          outputMessages: [reply.message],
          finishReasons: [reply.message.finishReason],
        });
        return reply.message;
      };
      const reflection = await tracer.llm(
        {
          name: 'reflect',
          provider: 'local',
          model: PRIMARY,
          inputMessages: [...messages],
          tools: TOOLS,
          params: { temperature: 0 },
          fallbacks: [{ model: FALLBACK, fn: think }],
        },
        think,
      );
      messages.push(reflection);

      // 4. The answer, streamed: the step stays open until the last word and records the time to
      //    the first one. The guardrail middleware checks the whole text once the stream is done.
      const inputMessages = [...messages, { role: 'user', content: 'Write the final answer.' }];
      const stream = tracer.llm(
        { name: 'answer', provider: 'local', model: WRITER, inputMessages, params: { temperature: 0 } },
        (step) =>
          (async function* () {
            let text = '';
            let words = 0;
            for await (const word of model.stream(WRITER, inputMessages)) {
              text += word;
              words++;
              yield word;
            }
            step.update({
              responseModel: WRITER,
              usage: { inputTokens: model.countTokens(inputMessages), outputTokens: words },
              finishReasons: ['stop'],
              outputMessages: [{ role: 'assistant', content: text.trim() }],
            });
          })(),
      );
      let answer = '';
      for await (const word of stream) {
        answer += word;
        onToken?.(word);
      }
      answer = answer.trim();
      agent.updateTrace({ output: answer });
      return answer;
    },
  );
}

/** One tool call as a `tool` step. */
function callTool(tracer, call, { weather, currency, apiKey }) {
  const common = { name: call.name, toolName: call.name, toolCallId: call.id, toolType: 'function' };
  if (call.name === 'get_weather') {
    // A timeout is worth retrying; the attempts become child steps of this one.
    return tracer.tool(
      {
        ...common,
        arguments: call.arguments,
        retry: { maxRetries: 2, initialDelayMs: 10, maxDelayMs: 40, retryOn: (e) => e?.code === 'ETIMEDOUT' },
      },
      async () => weather.forecast(call.arguments),
    );
  }
  if (call.name === 'convert_currency') {
    // The key travels in the arguments; read it from our own variable, not from the (redacted) step.
    const args = { ...call.arguments, apiKey };
    return tracer.tool({ ...common, arguments: args }, async () => currency.convert(args));
  }
  return tracer.tool({ ...common, arguments: call.arguments }, async () => {
    throw new Error(`unknown tool ${call.name}`);
  });
}
