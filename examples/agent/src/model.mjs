// A scripted stand-in for a chat model: offline and deterministic, but shaped like a real one
// (messages in; an assistant message with tool calls or text, token usage and a finish reason out).

/** The tools the model may call, as a chat API would receive them. */
export const TOOLS = [
  {
    name: 'get_weather',
    description: 'Forecast for a city on a given day.',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, day: { type: 'string' } },
      required: ['city'],
    },
  },
  {
    name: 'convert_currency',
    description: 'Converts an amount between currencies at the current rate.',
    parameters: {
      type: 'object',
      properties: { amount: { type: 'number' }, from: { type: 'string' }, to: { type: 'string' } },
      required: ['amount', 'from', 'to'],
    },
  },
];

/** A model that is down: the first choice of the `reflect` call throws this. */
export class ModelUnavailableError extends Error {
  constructor(model) {
    super(`${model} is overloaded, try again later`);
    this.name = 'ModelUnavailableError';
    this.code = 'model_overloaded';
    this.status = 503;
  }
}

// About four characters per token, like the usual tokenizers on English text.
const tokens = (value) => Math.max(1, Math.ceil(JSON.stringify(value).length / 4));
const lastUser = (messages) => messages.findLast((m) => m.role === 'user')?.content ?? '';
const toolResults = (messages) =>
  Object.fromEntries(
    messages.filter((m) => m.role === 'tool').map((m) => [m.name, JSON.parse(String(m.content))]),
  );

/**
 * `unavailable`: models that throw {@link ModelUnavailableError}, to exercise a fallback.
 * `delayMs`: the pause before each streamed word, so the stream has a visible time to first token.
 */
export function createLocalModel({ unavailable = [], delayMs = 3 } = {}) {
  const check = (model) => {
    if (unavailable.includes(model)) throw new ModelUnavailableError(model);
  };

  /** One non-streamed turn: tool calls while results are missing, then `stop`. */
  async function complete(model, messages) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    check(model);
    const results = toolResults(messages);
    const question = lastUser(messages);
    const toolCalls = [];
    if (!results.get_weather) {
      const city = /\b(?:to|in) ([A-Z][a-z]+)/.exec(question)?.[1] ?? 'Lisbon';
      const day = /\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b/.exec(question)?.[1];
      toolCalls.push({ id: 'call_weather_1', name: 'get_weather', arguments: { city, day: day ?? 'today' } });
    }
    if (!results.convert_currency) {
      const money = /(\d+(?:\.\d+)?)\s*(EUR|USD|GBP)\b/.exec(question);
      if (money) {
        const to = money[2] === 'USD' ? 'EUR' : 'USD';
        toolCalls.push({
          id: 'call_fx_1',
          name: 'convert_currency',
          arguments: { amount: Number(money[1]), from: money[2], to },
        });
      }
    }
    const message =
      toolCalls.length > 0
        ? { role: 'assistant', content: '', toolCalls, finishReason: 'tool_calls' }
        : { role: 'assistant', content: 'I have everything I need.', finishReason: 'stop' };
    return {
      model: `${model}-2025-01`,
      message,
      usage: { inputTokens: tokens(messages), outputTokens: tokens(message) },
    };
  }

  /** The final answer, written from the tool results and streamed word by word. */
  async function* stream(model, messages) {
    check(model);
    const { get_weather: weather, convert_currency: fx } = toolResults(messages);
    const parts = [];
    if (weather) {
      parts.push(
        `${weather.city} ${weather.day === 'today' ? 'today' : `on ${weather.day}`}: ${weather.forecast}, ${weather.highC} °C, wind ${weather.wind}.`,
      );
    }
    if (fx) parts.push(`${fx.amount} ${fx.from} is about ${fx.converted} ${fx.to} (rate ${fx.rate}).`);
    const text = parts.join(' ') || 'I could not find anything useful.';
    for (const [i, word] of text.split(' ').entries()) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      yield i === 0 ? word : ` ${word}`;
    }
  }

  return { complete, stream, countTokens: tokens };
}
