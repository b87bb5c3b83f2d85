import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import { createTracer, type Step, type Tracer } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';

export function setup(): { tracer: Tracer; memory: MemoryPlugin } {
  const memory = new MemoryPlugin();
  const tracer = createTracer({ plugins: [memory], flushOnExit: false });
  return { tracer, memory };
}

/** The step of the given kind and name; fails when there is not exactly one. */
export function only(memory: MemoryPlugin, kind: string, name: string): Step {
  const found = memory.steps.filter((s) => s.kind === kind && s.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as Step;
}

/**
 * A deterministic chat model that plays a script: each call returns the next message. It can
 * call tools (FakeListChatModel cannot), and reports usage and response metadata like a provider.
 */
export class ScriptedChatModel extends BaseChatModel {
  calls = 0;
  constructor(private readonly script: AIMessage[]) {
    super({});
  }
  _llmType(): string {
    return 'scripted';
  }
  override get lc_id(): string[] {
    return ['tests', 'ScriptedChatModel'];
  }
  override getLsParams(options: this['ParsedCallOptions']) {
    return { ...super.getLsParams(options), ls_provider: 'openai', ls_model_name: 'scripted-1' };
  }
  override bindTools(): this {
    return this;
  }
  override invocationParams(): Record<string, unknown> {
    return { model: 'scripted-1', temperature: 0.2, max_tokens: 64, stop: ['END'] };
  }
  async _generate(_messages: BaseMessage[]): Promise<ChatResult> {
    const message = this.script[Math.min(this.calls, this.script.length - 1)] as AIMessage;
    this.calls++;
    return { generations: [{ text: typeof message.content === 'string' ? message.content : '', message }] };
  }
}

/** A chat model that reports usage only in `llmOutput.tokenUsage` (the older style). */
export class LegacyUsageModel extends BaseChatModel {
  _llmType(): string {
    return 'legacy';
  }
  async _generate(): Promise<ChatResult> {
    const message = new AIMessage('legacy answer');
    return {
      generations: [{ text: 'legacy answer', message, generationInfo: { finish_reason: 'length' } }],
      llmOutput: { tokenUsage: { promptTokens: 7, completionTokens: 5, totalTokens: 12 } },
    };
  }
}

export function toolCallMessage(name: string, args: Record<string, unknown>, id = 'call_1'): AIMessage {
  return new AIMessage({ content: '', tool_calls: [{ id, name, args, type: 'tool_call' }] });
}

export const ADD_SCHEMA = {
  type: 'object',
  properties: { a: { type: 'number' }, b: { type: 'number' } },
  required: ['a', 'b'],
} as const;
