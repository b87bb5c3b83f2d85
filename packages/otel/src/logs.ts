/**
 * Optional OpenTelemetry log records for ended steps: one summary record per step, plus the
 * GenAI events (CONTRACTS 2.4) `gen_ai.client.inference.operation.details` (opt-in content) and
 * `gen_ai.client.operation.exception` (failed model calls). Every record carries the step's trace
 * and span ids, so a log backend links it to the trace.
 */
import { type Context, type HrTime, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import {
  type LogAttributes,
  type Logger,
  type LoggerProvider as LoggerProviderApi,
  SeverityNumber,
} from '@opentelemetry/api-logs';
import type { Resource } from '@opentelemetry/resources';
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  type LogRecordExporter,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import {
  EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS,
  EVENT_GEN_AI_CLIENT_OPERATION_EXCEPTION,
} from '@opentelemetry/semantic-conventions/incubating';
import { type Step, scrubSecrets } from '@spanchain/core';
import { errorTypeOf } from './map.js';
import { METRIC_OPERATION_BY_KIND, SCOPE_NAME } from './metrics.js';
import { SEMCONV, SPANCHAIN } from './names.js';
import { SignalSink } from './signal.js';

/** Event names of the GenAI conventions this module emits. */
export const LOG_EVENT_NAMES = {
  inferenceDetails: EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS,
  operationException: EVENT_GEN_AI_CLIENT_OPERATION_EXCEPTION,
} as const;

/** Attributes of the per-step record that the conventions do not define. */
export const LOG_ATTRIBUTES = {
  stepKind: SPANCHAIN.stepKind,
  stepName: SPANCHAIN.stepName,
  /** Milliseconds, with sub-millisecond precision. */
  durationMs: 'spanchain.step.duration_ms',
  /** `ok`, `error` or `unset`. */
  status: 'spanchain.step.status',
} as const;

/** Error messages in bodies and exception events are cut to this many characters. */
const MAX_MESSAGE_LENGTH = 2048;

interface CommonOptions {
  /** `gen_ai.operation.name` of a step, as the span mapping names it; default by kind. */
  operationName?: (step: Step) => string | undefined;
  /** Told about each failure inside `emit()` (which itself never throws). */
  onError?: (error: unknown) => void;
  /** Version of the instrumentation scope. */
  scopeVersion?: string;
}

/** Own a LoggerProvider that sends to `exporter`. */
export interface StepLogsExporterOptions extends CommonOptions {
  resource: Resource;
  exporter: LogRecordExporter;
  /** Batch records (default) or export each one at once (tests, short scripts). */
  batch?: boolean;
}

/** Emit into the app's LoggerProvider (never shut down from here). */
export interface StepLogsProviderOptions extends CommonOptions {
  loggerProvider: LoggerProviderApi;
}

export type StepLogsOptions = StepLogsExporterOptions | StepLogsProviderOptions;

export interface StepLogsEmitOptions {
  /**
   * The inference attribute set of an llm step (the span's attributes, content included). When
   * given, an llm step also emits a `gen_ai.client.inference.operation.details` event carrying
   * it. Values may be structured (arrays, objects), as the conventions want on events.
   */
  contentAttributes?: LogAttributes;
}

export interface StepLogsStats {
  /** Steps whose records were emitted. */
  emitted: number;
  /** Steps whose emission failed (and was swallowed). */
  failures: number;
}

/**
 * Log records per ended step, correlated with the trace.
 *
 * - every step: severity INFO (ERROR when it failed), body `llm gpt-4o ok in 12.3 ms` or
 *   `llm gpt-4o failed: <message>`, attributes `spanchain.step.kind`, `spanchain.step.name`,
 *   `gen_ai.operation.name` (GenAI kinds), `spanchain.step.duration_ms`, `spanchain.step.status`,
 *   `error.type` (failed steps);
 * - llm steps with `contentAttributes`: a `gen_ai.client.inference.operation.details` event;
 * - failed llm and embedding steps (both are GenAI client operations): a
 *   `gen_ai.client.operation.exception` event at WARN with `exception.type/message/stacktrace`.
 *
 * A step run with retries or fallbacks (`step.attempts`) gets its summary record only: its
 * attempts are the calls, and they emit the two events.
 *
 * Error messages and stacks are passed through `scrubSecrets` before they leave the process.
 *
 * @example
 * const logs = new StepLogs({ resource, exporter: new OTLPLogExporter() });
 * const plugin = { name: 'logs', onEnd: (step) => logs.emit(step), shutdown: () => logs.shutdown() };
 */
export class StepLogs extends SignalSink {
  private readonly logger: Logger;
  private readonly operationName: ((step: Step) => string | undefined) | undefined;
  private emittedCount = 0;

  constructor(options: StepLogsOptions) {
    let owned: LoggerProvider | undefined;
    if (!('loggerProvider' in options)) {
      const exporter = options.exporter;
      const processor =
        options.batch === false
          ? new SimpleLogRecordProcessor({ exporter })
          : new BatchLogRecordProcessor({ exporter });
      owned = new LoggerProvider({ resource: options.resource, processors: [processor] });
    }
    const provider: LoggerProviderApi = owned ?? (options as StepLogsProviderOptions).loggerProvider;
    super(provider, owned, options.onError);
    this.operationName = options.operationName;
    this.logger = provider.getLogger(SCOPE_NAME, options.scopeVersion);
  }

  /** Emits the records of one ended step. Cheap; never throws. */
  emit(step: Step, options?: StepLogsEmitOptions): void {
    if (this.guard(() => this.emitStep(step, options))) this.emittedCount++;
  }

  stats(): StepLogsStats {
    return { emitted: this.emittedCount, failures: this.failures };
  }

  private emitStep(step: Step, options: StepLogsEmitOptions | undefined): void {
    const end = step.endTime;
    const timestamp = toHrTime(typeof end === 'number' ? end : step.startTime);
    const context: Context = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: step.traceId,
      spanId: step.spanId,
      traceFlags: step.traceFlags,
      isRemote: false,
    });
    const kind = step.kind;
    const operation = this.operationName?.(step) ?? METRIC_OPERATION_BY_KIND[kind];
    const failed = step.status === 'error';
    const durationMs = typeof end === 'number' ? end - step.startTime : undefined;

    const attributes: LogAttributes = {
      [LOG_ATTRIBUTES.stepKind]: kind,
      [LOG_ATTRIBUTES.stepName]: step.name,
      [LOG_ATTRIBUTES.status]: step.status,
    };
    if (operation !== undefined) attributes[SEMCONV.operationName] = operation;
    if (durationMs !== undefined && Number.isFinite(durationMs))
      attributes[LOG_ATTRIBUTES.durationMs] = durationMs;
    let message: string | undefined;
    let body: string;
    if (failed) {
      const errorType = errorTypeOf(step);
      attributes[SEMCONV.errorType] = errorType;
      message = clean(step.error?.message);
      body = `${kind} ${step.name} failed: ${message || errorType}`;
    } else {
      body =
        durationMs !== undefined && Number.isFinite(durationMs)
          ? `${kind} ${step.name} ok in ${durationMs.toFixed(1)} ms`
          : `${kind} ${step.name} ok`;
    }
    this.logger.emit({
      timestamp,
      severityNumber: failed ? SeverityNumber.ERROR : SeverityNumber.INFO,
      severityText: failed ? 'ERROR' : 'INFO',
      body,
      attributes,
      context,
    });

    // A retry/fallback container is no call of its own: its attempts carry the events.
    const container = step.attempts !== undefined;
    if (kind === 'llm' && !container && options?.contentAttributes) {
      this.logger.emit({
        eventName: LOG_EVENT_NAMES.inferenceDetails,
        timestamp,
        severityNumber: SeverityNumber.INFO,
        severityText: 'INFO',
        attributes: options.contentAttributes,
        context,
      });
    }

    if (failed && !container && (kind === 'llm' || kind === 'embedding')) {
      const exception: LogAttributes = { [SEMCONV.exceptionType]: step.error?.type || errorTypeOf(step) };
      if (message) exception[SEMCONV.exceptionMessage] = message;
      const stack = step.error?.stack;
      if (typeof stack === 'string' && stack.length > 0)
        exception[SEMCONV.exceptionStacktrace] = scrubSecrets(stack);
      if (operation !== undefined) exception[SEMCONV.operationName] = operation;
      exception[SEMCONV.errorType] = errorTypeOf(step);
      this.logger.emit({
        eventName: LOG_EVENT_NAMES.operationException,
        timestamp,
        severityNumber: SeverityNumber.WARN,
        severityText: 'WARN',
        attributes: exception,
        context,
      });
    }
  }
}

/** A factory for those who prefer one. */
export function createStepLogs(options: StepLogsOptions): StepLogs {
  return new StepLogs(options);
}

/**
 * Epoch ms to HrTime, without the SDK's guess between epoch and uptime. Kept to whole
 * microseconds: an epoch in ms as a double carries no finer precision (its ulp is ~0.24 µs).
 */
function toHrTime(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1000);
  const micros = Math.round((epochMs - seconds * 1000) * 1000);
  if (micros >= 1_000_000) return [seconds + 1, (micros - 1_000_000) * 1000];
  return [seconds, Math.max(0, micros) * 1000];
}

function clean(message: unknown): string {
  if (typeof message !== 'string' || message.length === 0) return '';
  const cut = message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH)}…` : message;
  return scrubSecrets(cut);
}
