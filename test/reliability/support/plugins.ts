// Every plugin of the project, made for in-process reliability tests: the four exporting ones
// pointed at the loopback sinks (with short flush intervals, so tests do not wait on batching
// timers), the console plugin writing into a buffer, and the MemoryPlugin.
import { createConsolePlugin, type Plugin } from '@spanchain/core';
import { MemoryPlugin } from '@spanchain/core/testing';
import { type LangfusePluginOptions, langfuse } from '@spanchain/langfuse';
import { type LangSmithPluginOptions, langsmith } from '@spanchain/langsmith';
import { type OtelPluginOptions, otel } from '@spanchain/otel';
import { type PhoenixPluginOptions, phoenix } from '@spanchain/phoenix';

export interface Endpoints {
  /** Base URL of the OTLP receiver (OTel, Langfuse and Phoenix plugins). */
  otlp: string;
  /** Base URL of the LangSmith receiver. */
  langsmith: string;
}

export interface PluginOverrides {
  otel?: OtelPluginOptions;
  langfuse?: LangfusePluginOptions;
  phoenix?: PhoenixPluginOptions;
  langsmith?: LangSmithPluginOptions;
}

export const KEYS = {
  langfusePublic: 'pk-lf-reliability-0000',
  langfuseSecret: 'sk-lf-reliability-0000',
  langsmith: 'lsv2_pt_reliability00000000000000000000_0000000000',
};

/** The OTel, Langfuse, Phoenix and LangSmith plugins, sending to `endpoints`. */
export function exportingPlugins(endpoints: Endpoints, overrides: PluginOverrides = {}): Plugin[] {
  return [
    otel({
      endpoint: endpoints.otlp,
      metrics: false,
      batch: { scheduledDelayMillis: 20 },
      ...overrides.otel,
    }),
    langfuse({
      baseUrl: endpoints.otlp,
      publicKey: KEYS.langfusePublic,
      secretKey: KEYS.langfuseSecret,
      flushIntervalMillis: 20,
      ...overrides.langfuse,
    }),
    phoenix({ endpoint: endpoints.otlp, batch: { scheduledDelayMillis: 20 }, ...overrides.phoenix }),
    langsmith({
      endpoint: endpoints.langsmith,
      apiKey: KEYS.langsmith,
      flushIntervalMillis: 20,
      ...overrides.langsmith,
    }),
  ];
}

/** The console plugin (JSON lines into `lines`) and a MemoryPlugin. */
export function localPlugins(lines: string[]): { console: Plugin; memory: MemoryPlugin } {
  return {
    console: createConsolePlugin({
      format: 'jsonl',
      stream: {
        write: (s: string) => {
          lines.push(s);
          return true;
        },
      },
    }),
    memory: new MemoryPlugin(),
  };
}

/** Settles after `ms`; for bounded waits between phases. */
export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
