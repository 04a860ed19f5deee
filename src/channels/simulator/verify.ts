import type { IncomingHttpHeaders } from 'node:http';
import { decodeSigningSecret } from '../secrets.ts';
import { anyDigestMatches, expectedParksyncDigest, parseParksyncSignatures } from '../../webhooks/signature.ts';

export type SignatureFailure = 'missing_timestamp' | 'invalid_timestamp' | 'missing_signature' | 'malformed_signature' | 'signature_mismatch';

export type SignatureCheck = { ok: true } | { ok: false; reason: SignatureFailure };

const TIMESTAMP_PATTERN = /^\d{1,12}$/;

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Verifies a push signed in the parksync form (`X-Timestamp`, `X-Signature:
 * v1=<hex>`), the form parksync signs its deliveries in.
 *
 * NOTE: the timestamp is not checked against the clock, because parksync's
 * tests sign with a frozen test clock that can be far from real time. A skew
 * check belongs here, as an option, once a test needs one.
 */
export function verifyPushSignature(secret: string, headers: IncomingHttpHeaders, raw: Buffer): SignatureCheck {
  const timestamp = singleHeader(headers['x-timestamp']);
  const signature = singleHeader(headers['x-signature']);
  if (timestamp === undefined || timestamp === '') return { ok: false, reason: 'missing_timestamp' };
  if (!TIMESTAMP_PATTERN.test(timestamp)) return { ok: false, reason: 'invalid_timestamp' };
  if (signature === undefined || signature === '') return { ok: false, reason: 'missing_signature' };

  const candidates = parseParksyncSignatures(signature);
  if (candidates.length === 0) return { ok: false, reason: 'malformed_signature' };

  const expected = expectedParksyncDigest(decodeSigningSecret(secret), timestamp, raw);
  return anyDigestMatches(expected, candidates) ? { ok: true } : { ok: false, reason: 'signature_mismatch' };
}
