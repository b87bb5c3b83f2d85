import { randomBytes } from 'node:crypto';
import { convertToDottedOrderFormat } from 'langsmith/run_trees';
import { describe, expect, it } from 'vitest';
import {
  dottedSegment,
  formatDottedOrder,
  formatEndTime,
  formatRunTime,
  isUuid,
  MAX_DOTTED_SEGMENTS,
  parseDottedOrder,
  spanIdFromUuid,
  spanUuid,
  traceIdFromUuid,
  traceUuid,
} from './ids.js';

// CONTRACTS.md §7 vectors.
const TRACE_HEX = '5b8efff798038103d269b633813fc60c';
const TRACE_UUID = '5b8efff7-9803-8103-d269-b633813fc60c';
const SPAN_HEX = 'eee19b7ec3c1b174';
const SPAN_UUID = '00000000-0000-0000-eee1-9b7ec3c1b174';
const START = Date.parse('2024-09-19T17:16:48.521Z');
const RUN_ID = '0e01bf50-474d-4536-810f-67d3ee7ea3e7';
const SEGMENT = '20240919T171648521001Z0e01bf50-474d-4536-810f-67d3ee7ea3e7';

describe('run ids from W3C ids', () => {
  it('maps trace and span ids as LangSmith maps OTel ids', () => {
    expect(traceUuid(TRACE_HEX)).toBe(TRACE_UUID);
    expect(spanUuid(SPAN_HEX)).toBe(SPAN_UUID);
    expect(traceUuid(TRACE_HEX.toUpperCase())).toBe(TRACE_UUID);
  });

  it('inverts both mappings', () => {
    expect(traceIdFromUuid(TRACE_UUID)).toBe(TRACE_HEX);
    expect(traceIdFromUuid(TRACE_UUID.toUpperCase())).toBe(TRACE_HEX);
    expect(spanIdFromUuid(SPAN_UUID)).toBe(SPAN_HEX);
    for (let i = 0; i < 50; i++) {
      const trace = randomBytes(16).toString('hex');
      const span = randomBytes(8).toString('hex');
      expect(traceIdFromUuid(traceUuid(trace))).toBe(trace);
      expect(spanIdFromUuid(spanUuid(span))).toBe(span);
    }
  });

  it('derives a stable span id from any other UUID (v7 run ids of LangSmith SDKs)', () => {
    const v7 = '01923f1e-7c3b-7d2a-9f4e-0a1b2c3d4e5f';
    expect(spanIdFromUuid(v7)).toBe('9f4e0a1b2c3d4e5f');
    expect(spanIdFromUuid(v7)).toBe(spanIdFromUuid(v7.toUpperCase()));
  });

  it('rejects what is not a valid id instead of throwing', () => {
    for (const bad of ['', 'x', TRACE_HEX, `${TRACE_UUID}0`, '00000000-0000-0000-0000-000000000000'])
      expect(traceIdFromUuid(bad)).toBeUndefined();
    expect(spanIdFromUuid('12345678-1234-1234-0000-000000000000')).toBeUndefined();
    expect(traceIdFromUuid(42 as unknown as string)).toBeUndefined();
    expect(isUuid(RUN_ID)).toBe(true);
    expect(isUuid(`${RUN_ID} `)).toBe(false);
  });

  it('still gives a stable UUID for a malformed W3C id', () => {
    const a = traceUuid('not-a-trace-id');
    expect(isUuid(a)).toBe(true);
    expect(traceUuid('not-a-trace-id')).toBe(a);
    expect(isUuid(spanUuid(undefined as unknown as string))).toBe(true);
  });
});

describe('run times and dotted-order segments', () => {
  it('matches the contract vectors', () => {
    expect(formatRunTime(START, 1)).toBe('2024-09-19T17:16:48.521001Z');
    expect(dottedSegment(START, 1, RUN_ID)).toBe(SEGMENT);
  });

  it("agrees with LangSmith's SDK for any time and execution order", () => {
    for (let i = 0; i < 200; i++) {
      const epoch = Math.floor(Math.random() * 4e12);
      const order = 1 + Math.floor(Math.random() * 999);
      const id = traceUuid(randomBytes(16).toString('hex'));
      const sdk = convertToDottedOrderFormat(epoch, id, order);
      expect(dottedSegment(epoch, order, id)).toBe(sdk.dottedOrder);
      expect(formatRunTime(epoch, order)).toBe(sdk.microsecondPrecisionDatestring);
    }
  });

  it('clamps execution orders to 1…999 and times to a 4-digit year', () => {
    expect(formatRunTime(START, 0)).toBe('2024-09-19T17:16:48.521001Z');
    expect(formatRunTime(START, 5000)).toBe('2024-09-19T17:16:48.521999Z');
    expect(formatRunTime(START, Number.NaN)).toBe('2024-09-19T17:16:48.521001Z');
    expect(formatRunTime(Number.NaN, 1)).toBe('1970-01-01T00:00:00.000001Z');
    expect(formatRunTime(1e20, 1)).toBe('9999-12-31T23:59:59.999001Z');
    expect(formatRunTime(-5, 1)).toBe('1970-01-01T00:00:00.000001Z');
  });

  it('writes end times with the real microseconds', () => {
    expect(formatEndTime(START + 0.337)).toBe('2024-09-19T17:16:48.521337Z');
    expect(formatEndTime(START)).toBe('2024-09-19T17:16:48.521000Z');
    expect(formatEndTime(Number.POSITIVE_INFINITY)).toBe('1970-01-01T00:00:00.000000Z');
  });
});

describe('parseDottedOrder', () => {
  const child = `${SEGMENT}.20240919T171648523407Za8024e23-5b82-47fd-970e-f6a5ba3f5097`;

  it('splits a dotted order into times and ids', () => {
    expect(parseDottedOrder(child)).toEqual([
      { time: '20240919T171648521001', id: RUN_ID },
      { time: '20240919T171648523407', id: 'a8024e23-5b82-47fd-970e-f6a5ba3f5097' },
    ]);
    expect(formatDottedOrder(parseDottedOrder(child)!)).toBe(child);
  });

  it('lowercases ids', () => {
    const upper = `20240919T171648521001Z${RUN_ID.toUpperCase()}`;
    expect(parseDottedOrder(upper)?.[0]?.id).toBe(RUN_ID);
  });

  it('rejects malformed input', () => {
    for (const bad of [
      '',
      '.',
      `${SEGMENT}.`,
      `.${SEGMENT}`,
      `${SEGMENT}..${SEGMENT}`,
      SEGMENT.slice(1),
      `${SEGMENT}x`,
      '20241319T171648521001Z0e01bf50-474d-4536-810f-67d3ee7ea3e7', // month 13
      '20240230T171648521001Z0e01bf50-474d-4536-810f-67d3ee7ea3e7', // 30 February
      '20240919T251648521001Z0e01bf50-474d-4536-810f-67d3ee7ea3e7', // hour 25
      '20240919T171648521001Z0e01bf50-474d-4536-810f-67d3ee7ea3eg',
      '20240919T171648521001Z0e01bf50474d4536810f67d3ee7ea3e7xxxx',
      ' 20240919T171648521001Z0e01bf50-474d-4536-810f-67d3ee7ea3e7',
    ]) {
      expect(parseDottedOrder(bad), bad).toBeUndefined();
    }
    expect(parseDottedOrder(42)).toBeUndefined();
    expect(parseDottedOrder(null)).toBeUndefined();
  });

  it('accepts 29 February of a leap year only', () => {
    expect(parseDottedOrder(`20240229T000000000001Z${RUN_ID}`)).toBeDefined();
    expect(parseDottedOrder(`20230229T000000000001Z${RUN_ID}`)).toBeUndefined();
  });

  it('bounds the depth and length', () => {
    const deep = Array.from({ length: MAX_DOTTED_SEGMENTS }, () => SEGMENT).join('.');
    expect(parseDottedOrder(deep)).toHaveLength(MAX_DOTTED_SEGMENTS);
    expect(parseDottedOrder(`${deep}.${SEGMENT}`)).toBeUndefined();
    expect(parseDottedOrder('1'.repeat(10_000_000))).toBeUndefined();
  });
});
