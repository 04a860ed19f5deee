import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  changesFrom,
  compareChangePositions,
  decodeCursor,
  encodeCursor,
  MAX_CURSOR_LENGTH,
  PULL_KINDS,
  type PullCursor,
  type PullKind,
  type RangeKey,
} from '../src/pull/cursor.ts';

const MAX_TXID = (1n << 64n) - 1n;

const slug = fc.stringMatching(/^[a-z0-9-]{2,64}$/);
const ratePlan = fc.stringMatching(/^[a-z0-9-]{1,64}$/);
const kind = fc.constantFrom(...PULL_KINDS);
const txid = fc.bigInt({ min: 0n, max: MAX_TXID }).map((value) => value.toString());
const seq = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const date = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
  .map((value) => value.toISOString().slice(0, 10));

function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

function rangeKey(forKind: PullKind): fc.Arbitrary<RangeKey> {
  switch (forKind) {
    case 'availability':
      return fc.record({ unitTypeId: slug, date });
    case 'rates':
      return fc.record({ unitTypeId: slug, ratePlanId: ratePlan, date });
    case 'reservations':
      return fc.record({ arrival: date, reservationKey: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) });
  }
}

const changeCursor: fc.Arbitrary<PullCursor> = fc.record({
  kind,
  parkId: slug,
  channel: slug,
  mode: fc.constant('changes' as const),
  position: fc.record({ txid, seq }),
});

const rangeCursor: fc.Arbitrary<PullCursor> = kind.chain((forKind) =>
  fc.record({
    kind: fc.constant(forKind),
    parkId: slug,
    channel: slug,
    mode: fc.constant('range' as const),
    from: date,
    length: fc.integer({ min: 0, max: 749 }),
    horizon: txid,
    after: fc.option(rangeKey(forKind), { nil: null }),
  }).map(({ length, ...cursor }) => ({ ...cursor, to: addDays(cursor.from, length) })),
);

const anyCursor = fc.oneof(changeCursor, rangeCursor);

function scopeOf(cursor: PullCursor) {
  return { kind: cursor.kind, parkId: cursor.parkId, channel: cursor.channel };
}

/** Encodes a hand-made document the way encodeCursor does, to test what decodeCursor accepts. */
function encodeDocument(document: unknown): string {
  return Buffer.from(JSON.stringify(document), 'utf8').toString('base64url');
}

const SCOPE = { kind: 'availability' as const, parkId: 'dune-camp', channel: 'hipcamp' };
const VALID_CHANGES = { v: 1, ...SCOPE, txid: '1234', seq: 56 };
const VALID_RANGE = { v: 1, ...SCOPE, from: '2027-01-01', to: '2027-01-31', horizon: '1234', after: ['cabin', '2027-01-05'] };

describe('encodeCursor and decodeCursor', () => {
  it('round-trips every cursor', () => {
    fc.assert(
      fc.property(anyCursor, (cursor) => {
        const decoded = decodeCursor(encodeCursor(cursor), scopeOf(cursor));
        expect(decoded).toEqual({ ok: true, cursor });
      }),
    );
  });

  it('encodes as base64url within the length limit', () => {
    fc.assert(
      fc.property(anyCursor, (cursor) => {
        const text = encodeCursor(cursor);
        expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(text.length).toBeLessThanOrEqual(MAX_CURSOR_LENGTH);
      }),
    );
  });

  it('rejects a cursor of another kind, park or channel', () => {
    fc.assert(
      fc.property(anyCursor, kind, slug, slug, (cursor, otherKind, otherPark, otherChannel) => {
        const text = encodeCursor(cursor);
        const scope = scopeOf(cursor);
        fc.pre(otherKind !== cursor.kind && otherPark !== cursor.parkId && otherChannel !== cursor.channel);
        expect(decodeCursor(text, { ...scope, kind: otherKind }).ok).toBe(false);
        expect(decodeCursor(text, { ...scope, parkId: otherPark }).ok).toBe(false);
        expect(decodeCursor(text, { ...scope, channel: otherChannel }).ok).toBe(false);
      }),
    );
  });

  it('names the mismatch without naming the other park or channel', () => {
    const cursor = encodeCursor({ ...SCOPE, parkId: 'secret-park', channel: 'secret-channel', mode: 'changes', position: { txid: '9', seq: 1 } });
    const byPark = decodeCursor(cursor, { ...SCOPE, channel: 'secret-channel' });
    const byChannel = decodeCursor(cursor, { ...SCOPE, parkId: 'secret-park' });
    expect(byPark).toEqual({ ok: false, reason: 'was issued for another park' });
    expect(byChannel).toEqual({ ok: false, reason: 'was issued for another channel' });
    const byKind = decodeCursor(cursor, { kind: 'rates', parkId: 'secret-park', channel: 'secret-channel' });
    expect(byKind).toEqual({ ok: false, reason: 'was issued for the availability endpoint, not rates' });
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        const decoded = decodeCursor(text, SCOPE);
        expect(typeof decoded.ok).toBe('boolean');
      }),
    );
  });

  it('never throws on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const decoded = decodeCursor(encodeDocument(value), SCOPE);
        expect(decoded.ok).toBe(false);
      }),
    );
  });

  it('rejects or keeps the scope of a mutated cursor', () => {
    fc.assert(
      fc.property(anyCursor, fc.nat(), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), (cursor, at, replacement) => {
        const text = encodeCursor(cursor);
        const index = at % text.length;
        const mutated = `${text.slice(0, index)}${replacement}${text.slice(index + 1)}`;
        const decoded = decodeCursor(mutated, scopeOf(cursor));
        // A changed character either breaks the cursor or leaves a valid one of the same scope.
        if (decoded.ok) expect(scopeOf(decoded.cursor)).toEqual(scopeOf(cursor));
      }),
    );
  });

  it('accepts the documents it issues', () => {
    expect(decodeCursor(encodeDocument(VALID_CHANGES), SCOPE).ok).toBe(true);
    expect(decodeCursor(encodeDocument(VALID_RANGE), SCOPE).ok).toBe(true);
    expect(decodeCursor(encodeDocument({ ...VALID_RANGE, after: null }), SCOPE).ok).toBe(true);
  });

  const malformed: Array<[string, string]> = [
    ['empty text', ''],
    ['not base64url', 'abc+/='],
    ['not JSON', Buffer.from('{"v":1,', 'utf8').toString('base64url')],
    ['a JSON array', encodeDocument([1, 2])],
    ['too long', 'A'.repeat(MAX_CURSOR_LENGTH + 1)],
    ['another version', encodeDocument({ ...VALID_CHANGES, v: 2 })],
    ['unknown kind', encodeDocument({ ...VALID_CHANGES, kind: 'parks' })],
    ['park not a slug', encodeDocument({ ...VALID_CHANGES, parkId: 'Dune Camp' })],
    ['txid as a number', encodeDocument({ ...VALID_CHANGES, txid: 1234 })],
    ['txid with a sign', encodeDocument({ ...VALID_CHANGES, txid: '-1' })],
    ['txid with a leading zero', encodeDocument({ ...VALID_CHANGES, txid: '01' })],
    ['txid above 2^64 - 1', encodeDocument({ ...VALID_CHANGES, txid: (MAX_TXID + 1n).toString() })],
    ['negative seq', encodeDocument({ ...VALID_CHANGES, seq: -1 })],
    ['fractional seq', encodeDocument({ ...VALID_CHANGES, seq: 1.5 })],
    ['seq beyond 2^53', encodeDocument({ ...VALID_CHANGES, seq: 2 ** 53 })],
    ['an extra member', encodeDocument({ ...VALID_CHANGES, extra: true })],
    ['a missing member', encodeDocument({ v: 1, ...SCOPE, txid: '1' })],
    ['both modes at once', encodeDocument({ ...VALID_RANGE, txid: '1', seq: 1 })],
    ['impossible date', encodeDocument({ ...VALID_RANGE, from: '2027-02-29' })],
    ['to before from', encodeDocument({ ...VALID_RANGE, to: '2026-12-31' })],
    ['range of 751 nights', encodeDocument({ ...VALID_RANGE, to: '2029-01-20' })],
    ['key of another kind', encodeDocument({ ...VALID_RANGE, after: ['cabin', 'standard', '2027-01-05'] })],
    ['key with a bad date', encodeDocument({ ...VALID_RANGE, after: ['cabin', '2027-13-01'] })],
    ['key as an object', encodeDocument({ ...VALID_RANGE, after: { unitTypeId: 'cabin', date: '2027-01-05' } })],
    ['horizon not a txid', encodeDocument({ ...VALID_RANGE, horizon: 'now' })],
  ];

  it.each(malformed)('rejects %s', (_case, text) => {
    const decoded = decodeCursor(text, SCOPE);
    expect(decoded.ok).toBe(false);
  });

  it('accepts a range of exactly 750 nights', () => {
    expect(decodeCursor(encodeDocument({ ...VALID_RANGE, to: '2029-01-19' }), SCOPE).ok).toBe(true);
  });
});

describe('change positions', () => {
  it('order by txid as a number, then seq', () => {
    expect(compareChangePositions({ txid: '9', seq: 5 }, { txid: '10', seq: 1 })).toBeLessThan(0);
    expect(compareChangePositions({ txid: '10', seq: 2 }, { txid: '10', seq: 1 })).toBeGreaterThan(0);
    expect(compareChangePositions({ txid: '18446744073709551615', seq: 1 }, { txid: '18446744073709551614', seq: 9 })).toBeGreaterThan(0);
    expect(compareChangePositions({ txid: '7', seq: 3 }, { txid: '7', seq: 3 })).toBe(0);
  });

  it('start at a horizon between older and newer transactions', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: MAX_TXID - 1n }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (horizon, rowSeq) => {
        const start = changesFrom(horizon.toString());
        const older = { txid: (horizon - 1n).toString(), seq: rowSeq };
        const same = { txid: horizon.toString(), seq: rowSeq };
        expect(compareChangePositions(older, start)).toBeLessThan(0);
        expect(compareChangePositions(same, start)).toBeGreaterThan(0);
      }),
    );
  });
});
