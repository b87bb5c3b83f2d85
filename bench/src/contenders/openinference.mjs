// @ts-check
import {
  getLLMAttributes,
  traceChain,
  traceLLM,
  tracePrompt,
  traceRetriever,
  traceTool,
} from '@arizeai/openinference-core';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { sinkUrl } from '../sink.mjs';
import { INPUT, INPUT_TOKENS, MODEL, OUTPUT_TOKENS, work } from '../workload.mjs';

export const name = 'openinference';
/** Sends to the sink (also measured with it down). */
export const exporting = true;
export const description =
  "OpenInference's own tracing helpers (@arizeai/openinference-core traceChain/traceRetriever/tracePrompt/traceLLM/traceTool, OITracer) on the OpenTelemetry SDK: BatchSpanProcessor and the OTLP http/protobuf exporter to the loopback sink.";

/** `ExportResultCode.SUCCESS`. */
const EXPORT_SUCCESS = 0;

/** @returns {Promise<import('../contender.mjs').Running>} */
export async function setup() {
  // The helpers nest spans through the active OTel context, as in Phoenix's Node setup.
  if (!context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())) {
    throw new Error('another OpenTelemetry context manager is already registered');
  }
  const otlp = new OTLPTraceExporter({ url: `${sinkUrl()}/v1/traces` });
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
  // What @arizeai/phoenix-otel's register() builds: a batch processor and OTLP protobuf. (It also puts
  // the project on the resource; that is one attribute per request, left out here because building a
  // resource needs @opentelemetry/resources, which the bench does not depend on.)
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  // The helpers wrap this tracer in an OITracer (trace config, context attributes) themselves.
  const tracer = provider.getTracer('spanchain-bench');

  // Each step: the helper records input.value (text/plain for the 1 KiB string), the output and the
  // status; the LLM step adds the model and token counts, as getLLMAttributes writes them.
  const retrieve = traceRetriever((/** @type {string} */ input) => work(input), {
    name: 'retrieve',
    tracer,
    openTelemetrySpanKind: SpanKind.CLIENT,
  });
  const prompt = tracePrompt((/** @type {string} */ input) => work(input), { name: 'prompt', tracer });
  const llm = traceLLM(
    async (/** @type {string} */ input) => {
      const result = await work(input);
      trace.getActiveSpan()?.setAttributes(
        getLLMAttributes({
          tokenCount: {
            prompt: INPUT_TOKENS,
            completion: OUTPUT_TOKENS,
            total: INPUT_TOKENS + OUTPUT_TOKENS,
          },
        }),
      );
      return result;
    },
    {
      name: MODEL,
      tracer,
      openTelemetrySpanKind: SpanKind.CLIENT,
      attributes: getLLMAttributes({ modelName: MODEL }),
    },
  );
  const tool = traceTool((/** @type {string} */ input) => work(input), { name: 'search', tracer });
  const pipeline = traceChain(
    async (/** @type {string} */ input) => {
      await retrieve(input);
      await prompt(input);
      await llm(input);
      await tool(input);
    },
    { name: 'pipeline', tracer },
  );

  return {
    pipeline: () => pipeline(INPUT),
    flush: () => provider.forceFlush(),
    delivered: () => delivered,
  };
}
