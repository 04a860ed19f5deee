import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'undici';
import { signBody, signStandardWebhook } from '../../webhooks/signature.ts';

/** Webhook kinds parksync accepts at `POST /webhooks/channel/{channel}/{kind}`. */
export type WebhookKind = 'availability' | 'rates' | 'reservations';

export interface SendWebhookOptions {
  /** parksync's base URL, such as http://127.0.0.1:8080. */
  parksyncUrl: string;
  channel: string;
  kind: WebhookKind;
  /** Serialised once with JSON.stringify. The signature covers exactly those bytes. */
  body: unknown;
  /** The connection's signing secret, "whsec_<base64>". */
  secret: string;
  /** X-Version: a positive integer, higher for each newer state of the entity. */
  version: number;
  /** Defaults to a random UUID. With Standard Webhooks signing it is also the webhook-id. */
  idempotencyKey?: string;
  /** Signature headers: the parksync form (X-Timestamp, X-Signature, the default) or Standard Webhooks. */
  signing?: 'parksync' | 'standard';
  /** Unix seconds to sign with, now by default. Tests set it to match a frozen clock or to send a skewed one. */
  timestampSeconds?: number;
  signal?: AbortSignal;
}

export interface WebhookResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Parsed JSON for a JSON response, the text for any other, or null when the body is empty. */
  body: unknown;
}

function webhookUrl(parksyncUrl: string, channel: string, kind: WebhookKind): string {
  const base = new URL(parksyncUrl);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new TypeError(`parksyncUrl must be an http or https URL, got "${parksyncUrl}"`);
  }
  const prefix = base.pathname.replace(/\/+$/, '');
  return new URL(`${prefix}/webhooks/channel/${encodeURIComponent(channel)}/${kind}`, base).toString();
}

function parseResponseBody(text: string, contentType: string | string[] | undefined): unknown {
  if (text === '') return null;
  const type = Array.isArray(contentType) ? contentType[0] : contentType;
  if (type === undefined || !/\bjson\b/i.test(type)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Sends one signed webhook to parksync, as a channel would. Nothing is
 * retried, because each call is one request and tests need to see every response.
 */
export async function sendWebhook(options: SendWebhookOptions): Promise<WebhookResponse> {
  if (!Number.isSafeInteger(options.version) || options.version < 1) {
    throw new TypeError(`version must be a positive integer, got ${options.version}`);
  }
  const json: string | undefined = JSON.stringify(options.body);
  if (json === undefined) throw new TypeError('body must be a JSON value, not undefined or a function');
  const raw = Buffer.from(json, 'utf8');
  const idempotencyKey = options.idempotencyKey ?? randomUUID();
  const timestampSeconds = options.timestampSeconds ?? Math.floor(Date.now() / 1000);
  const signatureHeaders =
    options.signing === 'standard'
      ? signStandardWebhook(options.secret, raw, idempotencyKey, timestampSeconds)
      : signBody(options.secret, raw, timestampSeconds);

  const response = await request(webhookUrl(options.parksyncUrl, options.channel, options.kind), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'idempotency-key': idempotencyKey,
      'x-version': String(options.version),
      ...signatureHeaders,
    },
    body: raw,
    signal: options.signal,
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, body: parseResponseBody(text, response.headers['content-type']) };
}
