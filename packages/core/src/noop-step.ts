import { context } from '@opentelemetry/api';
import type { ActiveStep } from './step-record.js';

/**
 * The handle given to traced functions when tracing is off: every control does nothing, so the
 * function behaves exactly as without spanchain.
 */
export const NOOP_STEP: ActiveStep = Object.freeze({
  kind: 'custom',
  name: '',
  traceId: '00000000000000000000000000000000',
  spanId: '0000000000000000',
  parentIsRemote: false,
  traceFlags: 0,
  sampled: false,
  startTime: 0,
  status: 'unset',
  trace: {},
  traceKeys: [],
  events: [],
  attributes: {},
  serviceName: '',
  ended: true,
  get step() {
    return NOOP_STEP as never;
  },
  update() {
    return NOOP_STEP;
  },
  setAttributes() {
    return NOOP_STEP;
  },
  addEvent() {
    return NOOP_STEP;
  },
  updateTrace() {
    return NOOP_STEP;
  },
  end() {},
  fail() {},
  context: () => context.active(),
  traceparent: () => '',
}) as unknown as ActiveStep;
