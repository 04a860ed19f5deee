import type { ConnectionRow } from '../db/schema.ts';
import { decodeSigningSecret, SecretFormatError } from '../channels/secrets.ts';
import {
  anyDigestMatches,
  expectedParksyncDigest,
  expectedStandardDigest,
  parseParksyncSignatures,
  parseStandardSignatures,
} from './signature.ts';

/** Default clock-skew window, in seconds, either side of now. */
export const DEFAULT_SKEW_SECONDS = 300;

export type SignatureScheme = 'parksync' | 'standard';

export type VerifyResult =
  | { ok: true; scheme: SignatureScheme; key: 'current' | 'previous'; timestamp: number; messageId: string | undefined }
  | { ok: false; reason: VerifyFailure; keysTried: Array<'current' | 'previous'>; detail: string };

export type VerifyFailure =
  | 'missing_signature'
  | 'malformed_signature'
  | 'signature_mismatch'
  | 'invalid_timestamp'
  | 'timestamp_out_of_window'
  | 'secret_misconfigured';

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The secrets that verify right now: the current one, and the previous one until its grace ends. */
function verifyingKeys(connection: ConnectionRow, now: Date): Array<{ name: 'current' | 'previous'; secret: string }> {
  const keys: Array<{ name: 'current' | 'previous'; secret: string }> = [{ name: 'current', secret: connection.secret_current }];
  if (connection.secret_previous && connection.secret_previous_until && connection.secret_previous_until > now) {
    keys.push({ name: 'previous', secret: connection.secret_previous });
  }
  return keys;
}

export function skewWindowSeconds(connection: ConnectionRow, now: Date): number {
  return connection.skew_window_until && connection.skew_window_until > now ? connection.skew_window_seconds : DEFAULT_SKEW_SECONDS;
}

/**
 * Checks a webhook's signature over the raw body, then its timestamp against
 * the skew window. The Standard Webhooks headers are used when
 * `webhook-signature` is present, the parksync headers otherwise. Failures
 * say why and which keys were tried, never a secret.
 */
export function verifyWebhook(connection: ConnectionRow, headers: Headers, raw: Buffer, now: Date): VerifyResult {
  const standard = header(headers, 'webhook-signature');
  const scheme: SignatureScheme = standard !== undefined ? 'standard' : 'parksync';
  const signatureHeader = standard ?? header(headers, 'x-signature');
  const timestampText = scheme === 'standard' ? header(headers, 'webhook-timestamp') : header(headers, 'x-timestamp');
  const messageId = scheme === 'standard' ? header(headers, 'webhook-id') : undefined;

  if (signatureHeader === undefined || timestampText === undefined || (scheme === 'standard' && !messageId)) {
    const needed = scheme === 'standard' ? 'webhook-id, webhook-timestamp and webhook-signature' : 'X-Timestamp and X-Signature';
    return { ok: false, reason: 'missing_signature', keysTried: [], detail: `Send the ${needed} headers.` };
  }
  const candidates = scheme === 'standard' ? parseStandardSignatures(signatureHeader) : parseParksyncSignatures(signatureHeader);
  if (candidates.length === 0) {
    const form = scheme === 'standard' ? '"v1,<base64>"' : '"v1=<hex>"';
    return { ok: false, reason: 'malformed_signature', keysTried: [], detail: `The signature header holds no ${form} value.` };
  }

  const keysTried: Array<'current' | 'previous'> = [];
  let usableKeys = 0;
  let matchedKey: 'current' | 'previous' | undefined;
  for (const key of verifyingKeys(connection, now)) {
    let decoded: Buffer;
    try {
      decoded = decodeSigningSecret(key.secret);
    } catch (error) {
      if (error instanceof SecretFormatError) continue;
      throw error;
    }
    usableKeys += 1;
    keysTried.push(key.name);
    const expected =
      scheme === 'standard'
        ? expectedStandardDigest(decoded, messageId ?? '', timestampText, raw)
        : expectedParksyncDigest(decoded, timestampText, raw);
    if (anyDigestMatches(expected, candidates) && matchedKey === undefined) matchedKey = key.name;
  }
  if (usableKeys === 0) {
    return { ok: false, reason: 'secret_misconfigured', keysTried, detail: 'The connection has no usable signing secret.' };
  }
  if (!matchedKey) {
    return { ok: false, reason: 'signature_mismatch', keysTried, detail: 'No signature matches the raw body with the connection secret.' };
  }

  if (!/^\d{1,15}$/.test(timestampText)) {
    return { ok: false, reason: 'invalid_timestamp', keysTried, detail: 'The timestamp must be whole Unix seconds, such as 1767225600.' };
  }
  const timestamp = Number(timestampText);
  const window = skewWindowSeconds(connection, now);
  const skew = Math.abs(now.getTime() / 1000 - timestamp);
  if (skew > window) {
    const milliseconds = timestamp > 100_000_000_000;
    const detail = milliseconds
      ? `The timestamp ${timestampText} looks like milliseconds; send Unix seconds.`
      : `The timestamp is ${Math.round(skew)} s from parksync's clock; the window is ${window} s either way.`;
    return { ok: false, reason: 'timestamp_out_of_window', keysTried, detail };
  }
  return { ok: true, scheme, key: matchedKey, timestamp, messageId };
}
