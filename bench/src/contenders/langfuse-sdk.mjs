// @ts-check
import { LangfuseSpanProcessor } from '@langfuse/otel';
import { startActiveObservation } from '@langfuse/tracing';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { sinkUrl } from '../sink.mjs';
import { INPUT, INPUT_TOKENS, MODEL, OUTPUT_TOKENS, work } from '../workload.mjs';

export const name = 'langfuse-sdk';
/** Sends to the sink (also measured with it down). */
export const exporting = true;
export const description =
  "Langfuse's JS SDK v5: startActiveObservation per step (chain, retriever, span, generation, tool) and LangfuseSpanProcessor (defaults: batched, OTLP http/JSON) on a global BasicTracerProvider, to the loopback sink; its exporter wrapped to count.";

/** `ExportResultCode.SUCCESS`. */
const EXPORT_SUCCESS = 0;
const PUBLIC_KEY = 'pk-lf-bench';
const SECRET_KEY = 'sk-lf-bench';

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  // @langfuse/tracing goes through the global OTel API, as in Langfuse's Node setup
  // (NodeTracerProvider.register()): a global context manager and tracer provider.
  if (!context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())) {
    throw new Error('another OpenTelemetry context manager is already registered');
  }
  // The exporter LangfuseSpanProcessor builds when given none (same URL, headers and timeout),
  // passed in so that what it reports delivered can be counted.
  const otlp = new OTLPTraceExporter({
    url: `${sinkUrl()}/api/public/otel/v1/traces`,
    headers: {
      Authorization: `Basic ${Buffer.from(`${PUBLIC_KEY}:${SECRET_KEY}`).toString('base64')}`,
      'x-langfuse-sdk-name': 'javascript',
      'x-langfuse-public-key': PUBLIC_KEY,
    },
    timeoutMillis: 5_000,
  });
  let delivered = 0;
  /** Counts what the OTLP exporter reports delivered. @type {import('@opentelemetry/sdk-trace-base').SpanExporter} */
  const exporter = {
    export: (spans, done) =>
      otlp.export(spans, (result) => {
        if (result.code === EXPORT_SUCCESS) delivered += spans.length;
        done(result);
      }),
    shutdown: () => otlp.shutdown(),
    forceFlush: () => otlp.forceFlush(),
  };
  // Everything else at Langfuse's defaults (flushAt, flushInterval, batched export, media scan).
  const processor = new LangfuseSpanProcessor({
    publicKey: PUBLIC_KEY,
    secretKey: SECRET_KEY,
    baseUrl: sinkUrl(),
    exporter,
  });
  const provider = new BasicTracerProvider({ spanProcessors: [processor] });
  if (!trace.setGlobalTracerProvider(provider)) {
    throw new Error('another OpenTelemetry tracer provider is already registered');
  }

  // The SDK ends each observation when the function's promise settles (an error sets the span's
  // status first), so the callbacks need no try/finally of their own.
  const root = async () => {
    await startActiveObservation(
      'retrieve',
      async (retriever) => {
        retriever.update({ input: INPUT });
        await work(INPUT);
      },
      { asType: 'retriever' },
    );
    await startActiveObservation('prompt', async (span) => {
      span.update({ input: INPUT });
      await work(INPUT);
    });
    await startActiveObservation(
      `chat ${MODEL}`,
      async (generation) => {
        generation.update({ model: MODEL, input: INPUT });
        await work(INPUT);
        generation.update({ usageDetails: { input: INPUT_TOKENS, output: OUTPUT_TOKENS } });
      },
      { asType: 'generation' },
    );
    await startActiveObservation(
      'search',
      async (tool) => {
        tool.update({ input: INPUT });
        await work(INPUT);
      },
      { asType: 'tool' },
    );
  };

  return {
    pipeline: () =>
      startActiveObservation(
        'pipeline',
        async (chain) => {
          chain.update({ input: INPUT });
          await root();
        },
        { asType: 'chain' },
      ),
    flush: () => provider.forceFlush(),
    delivered: () => delivered,
  };
}
