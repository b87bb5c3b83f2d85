/**
 * Run ids, run times and dotted orders (CONTRACTS §4.1).
 *
 * Run ids are derived from the core's W3C ids, so one trace id finds the trace in every backend:
 * the trace id becomes a UUID by inserting dashes, a span id by left-padding it with zeros. These
 * are not UUID v7 (what LangSmith's SDK generates); LangSmith's own OpenTelemetry ingestion maps
 * OTel ids to run ids exactly this way, so the server accepts them.
 */
import { createHash } from 'node:crypto';

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ALL_ZERO = /^0+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Any UUID in the 8-4-4-4-12 hex form, any case (LangSmith accepts every version). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && value.length === 36 && UUID.test(value.toLowerCase());
}

function dashed(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Hex of an id that is not what it should be: stable, so a bad id still maps to one run. */
function hashedHex(value: unknown, chars: number): string {
  return createHash('sha256')
    .update(`spanchain-id:${String(value)}`)
    .digest('hex')
    .slice(0, chars);
}

/**
 * The run UUID of a W3C trace id (32 hex): `5b8efff798038103d269b633813fc60c` →
 * `5b8efff7-9803-8103-d269-b633813fc60c`. Never throws; an invalid id maps to a hash of itself.
 */
export function traceUuid(traceId: string): string {
  const hex = typeof traceId === 'string' ? traceId.toLowerCase() : '';
  return dashed(HEX32.test(hex) ? hex : hashedHex(traceId, 32));
}

/**
 * The run UUID of a W3C span id (16 hex): `eee19b7ec3c1b174` → `00000000-0000-0000-eee1-9b7ec3c1b174`.
 * Never throws; an invalid id maps to a hash of itself.
 */
export function spanUuid(spanId: string): string {
  const hex = typeof spanId === 'string' ? spanId.toLowerCase() : '';
  return dashed(`0000000000000000${HEX16.test(hex) ? hex : hashedHex(spanId, 16)}`);
}

/** The W3C trace id of a UUID (dashes removed, lowercase), or undefined when it is not a valid one. */
export function traceIdFromUuid(uuid: string): string | undefined {
  if (!isUuid(uuid)) return undefined;
  const hex = uuid.toLowerCase().replace(/-/g, '');
  return ALL_ZERO.test(hex) ? undefined : hex;
}

/**
 * A W3C span id for a run UUID: its last 16 hex digits. The exact inverse of {@link spanUuid}; for
 * other UUIDs (v7 ids made by LangSmith's SDK) a stable derivation. Undefined when the UUID is
 * invalid or its last 16 digits are all zero (not a valid span id).
 */
export function spanIdFromUuid(uuid: string): string | undefined {
  if (!isUuid(uuid)) return undefined;
  const hex = uuid.toLowerCase().replace(/-/g, '').slice(16);
  return ALL_ZERO.test(hex) ? undefined : hex;
}

// ---------------------------------------------------------------------------------------------
// Times

/** The range `toISOString` writes as `YYYY-MM-DDTHH:mm:ss.sssZ` (a dotted order needs 4-digit years). */
const MAX_EPOCH_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export const MAX_EXECUTION_ORDER = 999;

function clampEpoch(epochMs: number): number {
  if (typeof epochMs !== 'number' || !Number.isFinite(epochMs) || epochMs < 0) return 0;
  return Math.min(epochMs, MAX_EPOCH_MS);
}

function clampOrder(order: number): number {
  if (typeof order !== 'number' || !Number.isFinite(order) || order < 1) return 1;
  return order > MAX_EXECUTION_ORDER ? MAX_EXECUTION_ORDER : Math.floor(order);
}

// Steps cluster in time: the `YYYY-MM-DDTHH:mm:ss` of the last second formatted is reused, so
// most times cost a few string operations instead of a Date and `toISOString`.
let cachedSecond = -1;
let cachedPrefix = '';
const MS_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** `2024-09-19T17:16:48.521` of an epoch (milliseconds dropped below 1). */
function isoMillis(epochMs: number): string {
  const ms = Math.floor(clampEpoch(epochMs));
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 19);
    cachedSecond = second;
  }
  return `${cachedPrefix}.${MS_DIGITS[ms - second * 1000]}`;
}

/**
 * A run's start time as LangSmith's SDK writes it: the millisecond ISO time followed by a
 * 3-digit execution order standing in for the microseconds, which breaks ties between runs
 * started in the same millisecond. `(Date.parse('2024-09-19T17:16:48.521Z'), 1)` →
 * `2024-09-19T17:16:48.521001Z`. Orders are clamped to 1…999; times to years 1970…9999.
 */
export function formatRunTime(epochMs: number, executionOrder = 1): string {
  return `${isoMillis(epochMs)}${MS_DIGITS[clampOrder(executionOrder)]}Z`;
}

/** An end time with real microseconds from the sub-millisecond epoch: `2024-09-19T17:16:48.521337Z`. */
export function formatEndTime(epochMs: number): string {
  const clamped = clampEpoch(epochMs);
  // Rounded in whole microseconds: the epoch's binary fraction is rarely exact (…521.337 is …521.33699…).
  const total = Math.round(clamped * 1000);
  if (!Number.isSafeInteger(total)) return `${isoMillis(clamped)}000Z`;
  const ms = Math.floor(total / 1000);
  return `${isoMillis(ms)}${MS_DIGITS[total - ms * 1000]}Z`;
}

/**
 * One dotted-order segment: the run time without separators, then the run id.
 * `(Date.parse('2024-09-19T17:16:48.521Z'), 1, '0e01bf50-…')` → `20240919T171648521001Z0e01bf50-…`.
 */
export function dottedSegment(epochMs: number, executionOrder: number, runId: string): string {
  const t = formatRunTime(epochMs, executionOrder);
  // `2024-09-19T17:16:48.521001Z` → `20240919T171648521001Z`, by position (faster than a regex).
  return `${t.slice(0, 4)}${t.slice(5, 7)}${t.slice(8, 13)}${t.slice(14, 16)}${t.slice(17, 19)}${t.slice(20)}${runId}`;
}

export interface DottedSegment {
  /** The segment's time stamp without the trailing `Z`: `20240919T171648521001`. */
  time: string;
  /** The run id, lowercase. */
  id: string;
}

/** Deeper trees than this are not real traces; longer headers are rejected unread. */
export const MAX_DOTTED_SEGMENTS = 1000;
/** A segment is 22 characters of time and 36 of UUID, joined by dots. */
const SEGMENT_LENGTH = 58;
export const MAX_DOTTED_ORDER_LENGTH = MAX_DOTTED_SEGMENTS * (SEGMENT_LENGTH + 1) - 1;
const SEGMENT =
  /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{6})Z([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;

function validStamp(m: RegExpExecArray): boolean {
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59)
    return false;
  // Day within its month (leap years included).
  return day <= new Date(Date.UTC(Number(m[1]), month, 0)).getUTCDate();
}

/**
 * The segments of a dotted order, root first, or undefined when anything is malformed: a segment
 * that is not `YYYYMMDDTHHMMSSffffffZ<uuid>`, an impossible date, an empty segment, more than
 * {@link MAX_DOTTED_SEGMENTS} segments or a longer string. Never throws.
 */
export function parseDottedOrder(value: unknown): DottedSegment[] | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_DOTTED_ORDER_LENGTH)
    return undefined;
  const parts = value.split('.');
  if (parts.length > MAX_DOTTED_SEGMENTS) return undefined;
  const segments: DottedSegment[] = [];
  for (const part of parts) {
    if (part.length !== SEGMENT_LENGTH) return undefined;
    const m = SEGMENT.exec(part);
    if (!m || !validStamp(m)) return undefined;
    segments.push({ time: part.slice(0, 21), id: m[8]!.toLowerCase() });
  }
  return segments;
}

/** The dotted order of parsed segments (ids lowercase, as {@link parseDottedOrder} returns them). */
export function formatDottedOrder(segments: readonly DottedSegment[]): string {
  return segments.map((s) => `${s.time}Z${s.id}`).join('.');
}
