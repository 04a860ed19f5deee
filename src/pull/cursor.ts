import { daysBetween, isCalendarDate } from '../lib/dates.ts';
import { MAX_RANGE_DAYS } from '../inventory/ranges.ts';

/**
 * Cursors of the channel pull endpoints. A cursor is base64url of a small JSON
 * document that names what it pages (kind, park, channel) and its position.
 * It is opaque to channels but not secret, because it contains no data the
 * caller could not read anyway. So it is not signed, only checked strictly.
 *
 * A change cursor points at a position (txid, seq) of the change feed: the
 * transaction id (xid8, as a decimal string because it can exceed 2^53) and the
 * sequence number of the last row the caller received. A range cursor pages a
 * from/to read by the sort key of the last item and carries the change-feed
 * horizon taken before the range's first page was read.
 */

export const PULL_KINDS = ['availability', 'rates', 'reservations'] as const;
export type PullKind = (typeof PULL_KINDS)[number];

export const CURSOR_VERSION = 1;
/** Maximum cursor length in characters. The longest cursor encodeCursor issues has 538. */
export const MAX_CURSOR_LENGTH = 2048;

/** The largest xid8 value, 2^64 - 1. */
const MAX_TXID = (1n << 64n) - 1n;
const TXID_PATTERN = /^(0|[1-9][0-9]{0,19})$/;
const SLUG = /^[a-z0-9-]{2,64}$/;
const RATE_PLAN = /^[a-z0-9-]{1,64}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A position in the change feed: rows strictly after it are still to come. */
export interface ChangePosition {
  txid: string;
  seq: number;
}

export interface AvailabilityKey {
  unitTypeId: string;
  date: string;
}

export interface RateKey {
  unitTypeId: string;
  ratePlanId: string;
  date: string;
}

export interface ReservationKey {
  arrival: string;
  reservationKey: number;
}

/** The sort key of the last item a range page returned, by kind. */
export interface RangeKeys {
  availability: AvailabilityKey;
  rates: RateKey;
  reservations: ReservationKey;
}

export type RangeKey = RangeKeys[PullKind];

interface CursorScope {
  kind: PullKind;
  parkId: string;
  channel: string;
}

export interface ChangeCursor extends CursorScope {
  mode: 'changes';
  position: ChangePosition;
}

export interface RangeCursor extends CursorScope {
  mode: 'range';
  from: string;
  to: string;
  /** Change-feed horizon (xid8 as a decimal string) taken before the range's first page. */
  horizon: string;
  /** Sort key of the last item returned so far; null before the first page. */
  after: RangeKey | null;
}

export type PullCursor = ChangeCursor | RangeCursor;

export type DecodeResult = { ok: true; cursor: PullCursor } | { ok: false; reason: string };

/**
 * Returns the change position at a horizon H. Feed rows are ordered by
 * (txid, seq) and seq starts at 1, so (H, 0) comes after every row written by a
 * transaction below H and before every row written by H or a later one.
 */
export function changesFrom(horizon: string): ChangePosition {
  return { txid: horizon, seq: 0 };
}

/** Orders two change positions: negative when a comes first. */
export function compareChangePositions(a: ChangePosition, b: ChangePosition): number {
  const byTxid = BigInt(a.txid) - BigInt(b.txid);
  if (byTxid !== 0n) return byTxid < 0n ? -1 : 1;
  return a.seq - b.seq;
}

function wireKey(kind: PullKind, key: RangeKey): unknown[] {
  switch (kind) {
    case 'availability': {
      const { unitTypeId, date } = key as AvailabilityKey;
      return [unitTypeId, date];
    }
    case 'rates': {
      const { unitTypeId, ratePlanId, date } = key as RateKey;
      return [unitTypeId, ratePlanId, date];
    }
    case 'reservations': {
      const { arrival, reservationKey } = key as ReservationKey;
      return [arrival, reservationKey];
    }
  }
}

/** Encodes a cursor as base64url JSON. Range keys go out as arrays to keep the cursor short. */
export function encodeCursor(cursor: PullCursor): string {
  const scope = { v: CURSOR_VERSION, kind: cursor.kind, parkId: cursor.parkId, channel: cursor.channel };
  const document =
    cursor.mode === 'changes'
      ? { ...scope, txid: cursor.position.txid, seq: cursor.position.seq }
      : {
          ...scope,
          from: cursor.from,
          to: cursor.to,
          horizon: cursor.horizon,
          after: cursor.after === null ? null : wireKey(cursor.kind, cursor.after),
        };
  return Buffer.from(JSON.stringify(document), 'utf8').toString('base64url');
}

function isTxid(value: unknown): value is string {
  return typeof value === 'string' && TXID_PATTERN.test(value) && BigInt(value) <= MAX_TXID;
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isDate(value: unknown): value is string {
  return typeof value === 'string' && isCalendarDate(value);
}

function hasExactly(document: Record<string, unknown>, keys: readonly string[]): boolean {
  const present = Object.keys(document);
  return present.length === keys.length && keys.every((key) => Object.hasOwn(document, key));
}

function readKey(kind: PullKind, value: unknown): RangeKey | undefined {
  if (!Array.isArray(value)) return undefined;
  switch (kind) {
    case 'availability': {
      const [unitTypeId, date] = value as unknown[];
      if (value.length !== 2 || typeof unitTypeId !== 'string' || !SLUG.test(unitTypeId) || !isDate(date)) return undefined;
      return { unitTypeId, date };
    }
    case 'rates': {
      const [unitTypeId, ratePlanId, date] = value as unknown[];
      if (value.length !== 3 || typeof unitTypeId !== 'string' || !SLUG.test(unitTypeId)) return undefined;
      if (typeof ratePlanId !== 'string' || !RATE_PLAN.test(ratePlanId) || !isDate(date)) return undefined;
      return { unitTypeId, ratePlanId, date };
    }
    case 'reservations': {
      const [arrival, reservationKey] = value as unknown[];
      if (value.length !== 2 || !isDate(arrival) || !isSeq(reservationKey)) return undefined;
      return { arrival, reservationKey };
    }
  }
}

function parseDocument(text: string): Record<string, unknown> | undefined {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH || !BASE64URL.test(text)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  return parsed as Record<string, unknown>;
}

const MALFORMED = 'is not a cursor this endpoint issued; start again with from and to';

/**
 * Decodes a cursor and checks that it belongs to this kind, park and channel.
 * Every way a cursor can be wrong is a `{ ok: false }` with the reason, never
 * an exception, and the reason names no other park or channel.
 */
export function decodeCursor(text: string, expected: CursorScope): DecodeResult {
  const document = parseDocument(text);
  if (!document || document.v !== CURSOR_VERSION) return { ok: false, reason: MALFORMED };
  const { kind, parkId, channel } = document;
  if (typeof kind !== 'string' || !(PULL_KINDS as readonly string[]).includes(kind)) return { ok: false, reason: MALFORMED };
  if (typeof parkId !== 'string' || !SLUG.test(parkId) || typeof channel !== 'string' || !SLUG.test(channel)) {
    return { ok: false, reason: MALFORMED };
  }
  if (kind !== expected.kind) {
    return { ok: false, reason: `was issued for the ${kind} endpoint, not ${expected.kind}` };
  }
  if (parkId !== expected.parkId) return { ok: false, reason: 'was issued for another park' };
  if (channel !== expected.channel) return { ok: false, reason: 'was issued for another channel' };
  const scope = { kind: kind as PullKind, parkId, channel };

  if (hasExactly(document, ['v', 'kind', 'parkId', 'channel', 'txid', 'seq'])) {
    if (!isTxid(document.txid) || !isSeq(document.seq)) return { ok: false, reason: MALFORMED };
    return { ok: true, cursor: { ...scope, mode: 'changes', position: { txid: document.txid, seq: document.seq } } };
  }

  if (hasExactly(document, ['v', 'kind', 'parkId', 'channel', 'from', 'to', 'horizon', 'after'])) {
    const { from, to, horizon } = document;
    if (!isDate(from) || !isDate(to) || !isTxid(horizon)) return { ok: false, reason: MALFORMED };
    const length = daysBetween(from, to) + 1;
    if (length < 1 || length > MAX_RANGE_DAYS) return { ok: false, reason: MALFORMED };
    const after = document.after === null ? null : readKey(scope.kind, document.after);
    if (after === undefined) return { ok: false, reason: MALFORMED };
    return { ok: true, cursor: { ...scope, mode: 'range', from, to, horizon, after } };
  }

  return { ok: false, reason: MALFORMED };
}
