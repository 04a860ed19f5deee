import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeSigningSecret } from '../channels/secrets.ts';

/**
 * Webhook signatures, in the two forms parksync accepts and the one it sends:
 *
 * - parksync form: `X-Timestamp: <unix seconds>` and `X-Signature: v1=<hex>`,
 *   the hex HMAC-SHA256 of `<timestamp>.<raw body>`. Several `v1=` values may
 *   be separated by spaces or commas; one match is enough.
 * - Standard Webhooks form: `webhook-id`, `webhook-timestamp` and
 *   `webhook-signature: v1,<base64>` (space-separated list), the base64
 *   HMAC-SHA256 of `<id>.<timestamp>.<raw body>`.
 *
 * The key is the base64-decoded part of the `whsec_` secret in both forms.
 */

export interface SignedHeaders {
  'x-timestamp': string;
  'x-signature': string;
}

function hmac(key: Buffer, ...parts: Buffer[]): Buffer {
  const mac = createHmac('sha256', key);
  parts.forEach((part, index) => {
    if (index > 0) mac.update('.');
    mac.update(part);
  });
  return mac.digest();
}

/** Signs a body in the parksync form with one secret. */
export function signBody(secret: string, body: Buffer | string, timestampSeconds: number): SignedHeaders {
  const key = decodeSigningSecret(secret);
  const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const digest = hmac(key, Buffer.from(String(timestampSeconds)), raw).toString('hex');
  return { 'x-timestamp': String(timestampSeconds), 'x-signature': `v1=${digest}` };
}

/** Signs a body in the Standard Webhooks form. */
export function signStandardWebhook(
  secret: string,
  body: Buffer | string,
  messageId: string,
  timestampSeconds: number,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const key = decodeSigningSecret(secret);
  const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const digest = hmac(key, Buffer.from(messageId), Buffer.from(String(timestampSeconds)), raw).toString('base64');
  return { 'webhook-id': messageId, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': `v1,${digest}` };
}

/** Extracts the candidate digests from an `X-Signature` header; unknown schemes and junk are skipped. */
export function parseParksyncSignatures(header: string): Buffer[] {
  return header
    .split(/[\s,]+/)
    .filter((part) => part.startsWith('v1='))
    .map((part) => part.slice(3))
    .filter((hex) => /^[0-9a-f]{64}$/i.test(hex))
    .map((hex) => Buffer.from(hex, 'hex'));
}

/** Extracts the candidate digests from a `webhook-signature` header (`v1,<base64>` entries, space-separated). */
export function parseStandardSignatures(header: string): Buffer[] {
  return header
    .split(/\s+/)
    .filter((part) => part.startsWith('v1,'))
    .map((part) => part.slice(3))
    .filter((b64) => /^[A-Za-z0-9+/]{43}=$/.test(b64))
    .map((b64) => Buffer.from(b64, 'base64'));
}

/** Constant-time check of one expected digest against every candidate. */
export function anyDigestMatches(expected: Buffer, candidates: readonly Buffer[]): boolean {
  let matched = false;
  for (const candidate of candidates) {
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
  }
  return matched;
}

/** The digest a parksync-form signature must carry for this secret key. */
export function expectedParksyncDigest(key: Buffer, timestamp: string, raw: Buffer): Buffer {
  return hmac(key, Buffer.from(timestamp), raw);
}

/** The digest a Standard Webhooks signature must carry for this secret key. */
export function expectedStandardDigest(key: Buffer, messageId: string, timestamp: string, raw: Buffer): Buffer {
  return hmac(key, Buffer.from(messageId), Buffer.from(timestamp), raw);
}
