// The loopback sinks of the fault suite: the shared OTLP receiver (OTel, Langfuse and Phoenix
// plugins, told apart by their instrumentation scope) and the LangSmith stand-in, both from
// test/support, in `retain: false` mode so that long runs keep nothing but a ledger of which steps
// arrived how often (by the `metadata.seq` number the workload gives every step).
import { once } from 'node:events';
import { createServer } from 'node:net';
import {
  type LangSmithReceiver,
  type RunRecord,
  startLangSmithReceiver,
} from '../../support/langsmith-receiver.js';
import { type OtlpReceiver, type OtlpSpan, startOtlpReceiver } from '../../support/otlp-receiver.js';
import type { AppPluginTargets } from './app-process.js';

export const PLUGINS = ['otel', 'langfuse', 'phoenix', 'langsmith'] as const;
export type PluginName = (typeof PLUGINS)[number];

/** The instrumentation scope each OTLP-based plugin names on its spans. */
export const SCOPE_OF: Record<Exclude<PluginName, 'langsmith'>, string> = {
  otel: '@spanchain/otel',
  langfuse: '@spanchain/langfuse',
  phoenix: '@spanchain/phoenix',
};

export function pluginOfSpan(span: OtlpSpan): PluginName | undefined {
  for (const [plugin, scope] of Object.entries(SCOPE_OF))
    if (span.scope.name === scope) return plugin as PluginName;
  return undefined;
}

const asNumber = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : Number.NaN;
  return Number.isInteger(n) && n >= 0 ? n : undefined;
};

/** The step number (`metadata.seq`) of a span, as each plugin writes metadata. */
export function seqOfSpan(span: OtlpSpan, plugin: PluginName): number | undefined {
  const a = span.attributes;
  if (plugin === 'otel') return asNumber(a['spanchain.metadata.seq']);
  if (plugin === 'langfuse') return asNumber(a['langfuse.observation.metadata.seq']);
  if (plugin === 'phoenix') {
    if (typeof a.metadata !== 'string') return undefined;
    try {
      return asNumber((JSON.parse(a.metadata) as { seq?: unknown }).seq);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function seqOfRun(run: RunRecord): number | undefined {
  const extra = run.extra as { metadata?: { seq?: unknown } } | undefined;
  return asNumber(extra?.metadata?.seq);
}

/** How often each step number arrived, per plugin (counts saturate at 255). */
export class DeliveryLedger {
  private readonly counts = new Map<PluginName, Uint8Array>();
  /** Spans or runs without a step number (warm-up steps have one too; this should stay 0). */
  readonly unnumbered: Record<string, number> = {};
  readonly total: Record<string, number> = {};

  record(plugin: PluginName, seq: number | undefined): void {
    this.total[plugin] = (this.total[plugin] ?? 0) + 1;
    if (seq === undefined) {
      this.unnumbered[plugin] = (this.unnumbered[plugin] ?? 0) + 1;
      return;
    }
    let counts = this.counts.get(plugin) ?? new Uint8Array(1024);
    if (seq >= counts.length) {
      const grown = new Uint8Array(Math.max(seq + 1, counts.length * 2));
      grown.set(counts);
      counts = grown;
    }
    this.counts.set(plugin, counts);
    if (counts[seq]! < 255) counts[seq]!++;
  }

  /** Over step numbers [from, to): how many arrived once, never, more than once. */
  range(plugin: PluginName, from: number, to: number): { once: number; missing: number; duplicated: number } {
    const counts = this.counts.get(plugin) ?? new Uint8Array(0);
    let once = 0;
    let missing = 0;
    let duplicated = 0;
    for (let seq = from; seq < to; seq++) {
      const n = seq < counts.length ? counts[seq]! : 0;
      if (n === 0) missing++;
      else if (n === 1) once++;
      else duplicated++;
    }
    return { once, missing, duplicated };
  }

  /** First step numbers in [from, to) that did not arrive exactly once (for messages). */
  problems(plugin: PluginName, from: number, to: number, max = 5): string[] {
    const counts = this.counts.get(plugin) ?? new Uint8Array(0);
    const out: string[] = [];
    for (let seq = from; seq < to && out.length < max; seq++) {
      const n = seq < counts.length ? counts[seq]! : 0;
      if (n !== 1) out.push(`#${seq}×${n}`);
    }
    return out;
  }
}

export interface Sinks {
  otlp: OtlpReceiver;
  langsmith: LangSmithReceiver;
  ledger: DeliveryLedger;
  /** Where the app sends each plugin's data. */
  targets(options?: Partial<Record<PluginName, Record<string, unknown>>>): AppPluginTargets;
  /** Both sinks down (closed ports) or back up. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** Both sinks on 127.0.0.1, keeping only the delivery ledger. */
export async function startSinks(): Promise<Sinks> {
  const ledger = new DeliveryLedger();
  const otlp = await startOtlpReceiver({
    grpc: false,
    retain: false,
    onData: ({ spans }) => {
      for (const span of spans) {
        const plugin = pluginOfSpan(span);
        if (plugin) ledger.record(plugin, seqOfSpan(span, plugin));
      }
    },
  });
  const langsmith = await startLangSmithReceiver({
    retain: false,
    onRuns: (posts, patches) => {
      for (const run of [...posts, ...patches]) ledger.record('langsmith', seqOfRun(run));
    },
  });
  return {
    otlp,
    langsmith,
    ledger,
    targets: (options = {}) => ({
      otel: { endpoint: otlp.httpUrl, options: options.otel },
      langfuse: { baseUrl: otlp.httpUrl, options: options.langfuse },
      phoenix: { endpoint: otlp.httpUrl, options: options.phoenix },
      langsmith: { endpoint: langsmith.url, options: options.langsmith },
    }),
    down: async () => {
      await Promise.all([otlp.refuseConnections(), langsmith.refuseConnections()]);
    },
    up: async () => {
      await Promise.all([otlp.acceptConnections(), langsmith.acceptConnections()]);
    },
    close: async () => {
      await Promise.allSettled([otlp.close(), langsmith.close()]);
    },
  };
}

/** A 127.0.0.1 port nothing listens on (it was free a moment ago): connecting is refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected address');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}
