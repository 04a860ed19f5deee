import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { signBody } from '../../src/webhooks/signature.ts';
import type { Harness } from './harness.ts';

export interface SendOptions {
  channel?: string;
  kind: 'availability' | 'rates' | 'reservations';
  body: unknown;
  secret: string;
  version?: number | null;
  key?: string | null;
  /** Unix seconds; defaults to the harness clock. */
  timestamp?: number | string;
  /** Raw bytes to send in place of JSON.stringify(body). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

/** Signs and sends a webhook through inject, the way a channel would over HTTP. */
export async function sendWebhook(harness: Harness, options: SendOptions): Promise<LightMyRequestResponse> {
  const raw = options.raw ?? JSON.stringify(options.body);
  const timestamp = options.timestamp ?? Math.floor(harness.clock.now().getTime() / 1000);
  const signed = signBody(options.secret, raw, Number.isFinite(Number(timestamp)) ? Number(timestamp) : 0);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-timestamp': String(timestamp),
    'x-signature': signed['x-signature'],
  };
  if (typeof timestamp === 'string') {
    headers['x-signature'] = signBody(options.secret, raw, 0)['x-signature'];
  }
  if (options.version !== null) headers['x-version'] = String(options.version ?? 1);
  if (options.key !== null) headers['idempotency-key'] = options.key ?? randomUUID();
  return harness.app.inject({
    method: 'POST',
    url: `/webhooks/channel/${options.channel ?? 'hipcamp'}/${options.kind}`,
    headers: { ...headers, ...options.headers },
    payload: raw,
  });
}

/** Creates a connection with writes on and returns its signing secret. */
export async function connectChannel(harness: Harness, parkId: string, channel: string, settings: Record<string, unknown> = {}): Promise<string> {
  const created = await harness.call('PUT', `/parks/${parkId}/channels/${channel}`, settings);
  if (created.statusCode !== 201) throw new Error(`connectChannel: ${created.statusCode} ${created.body}`);
  const flag = await harness.call('PUT', '/flags/channel_sync_webhooks', { value: 'on', channel, parkId });
  if (flag.statusCode !== 200) throw new Error(`connectChannel flag: ${flag.statusCode} ${flag.body}`);
  return created.json().secret as string;
}
