// A local, deterministic chat model for the example: it answers with the sentences of the prompt's
// context that best match the question, and streams them word by word. Usage is counted in words.
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk } from '@langchain/core/messages';
import { ChatGenerationChunk } from '@langchain/core/outputs';

export const MODEL = 'local-extractive-1';

const words = (text) => text.toLowerCase().match(/[a-z]{4,}/g) ?? [];
const stem = (word) => word.replace(/s$/, '');

function textOf(message) {
  return typeof message.content === 'string'
    ? message.content
    : message.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

/** The answer: the two context sentences sharing most words with the question. */
function compose(messages) {
  const prompt = messages.map(textOf).join('\n');
  const [, context = '', question = prompt] =
    /Context:\n([\s\S]*?)\n\s*Question:\s*([\s\S]*)$/.exec(prompt) ?? [];
  const wanted = new Set(words(question).map(stem));
  // Prose only: table rows, code and headings make poor answers.
  const prose = context
    .split('\n')
    .filter((line) => !/^\s*(\||#|```|[-=]{3,}|[├└│])/.test(line))
    .join(' ');
  const sentences = prose
    .split(/(?<=[.!?])\s+/)
    .map((sentence) => ({ sentence, score: words(sentence).filter((w) => wanted.has(stem(w))).length }))
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score)
    .slice(0, 2)
    .map((s) => s.sentence.replace(/\s+/g, ' ').trim());
  const answer = sentences.length > 0 ? sentences.join(' ') : 'The documents do not say.';
  return { answer, inputTokens: prompt.split(/\s+/).length, outputTokens: answer.split(/\s+/).length };
}

export class LocalExtractiveChat extends BaseChatModel {
  constructor(fields = {}) {
    super(fields);
    this.delayMs = fields.delayMs ?? 2;
  }

  _llmType() {
    return 'local-extractive';
  }

  invocationParams() {
    return { model: MODEL, temperature: 0 };
  }

  async _generate(messages) {
    const { answer, inputTokens, outputTokens } = compose(messages);
    const message = new AIMessage({
      content: answer,
      usage_metadata: {
        input_tokens: inputTokens,
        output_tokens: outputTokens,
        total_tokens: inputTokens + outputTokens,
      },
      response_metadata: { model_name: MODEL, finish_reason: 'stop' },
    });
    return { generations: [{ text: answer, message }] };
  }

  async *_streamResponseChunks(messages, _options, runManager) {
    const { answer, inputTokens, outputTokens } = compose(messages);
    const pieces = answer.split(' ');
    for (let i = 0; i < pieces.length; i++) {
      await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      const last = i === pieces.length - 1;
      const text = last ? pieces[i] : `${pieces[i]} `;
      const chunk = new ChatGenerationChunk({
        text,
        message: new AIMessageChunk({
          content: text,
          ...(last
            ? {
                usage_metadata: {
                  input_tokens: inputTokens,
                  output_tokens: outputTokens,
                  total_tokens: inputTokens + outputTokens,
                },
                response_metadata: { model_name: MODEL, finish_reason: 'stop' },
              }
            : {}),
        }),
      });
      yield chunk;
      await runManager?.handleLLMNewToken(text);
    }
  }
}
