import { randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;

/** A new signing secret: "whsec_" and 32 random bytes in base64, the Standard Webhooks form. */
export function generateSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;
}

export class SecretFormatError extends Error {
  override readonly name = 'SecretFormatError';
}

/**
 * Decodes a "whsec_<base64>" secret to the HMAC key. A malformed secret is a
 * configuration fault: it raises rather than yielding an empty or partial key.
 * The message never contains the secret.
 */
export function decodeSigningSecret(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) {
    throw new SecretFormatError(`signing secret must start with "${SECRET_PREFIX}"`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    throw new SecretFormatError('signing secret is not valid base64 after the prefix');
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < 16) throw new SecretFormatError('signing secret key must be at least 16 bytes');
  return key;
}
