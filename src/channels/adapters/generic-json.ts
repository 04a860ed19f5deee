import { request } from 'undici';
import type { ConnectionRow } from '../../db/schema.ts';
import { signBody } from '../../webhooks/signature.ts';
import { classifyResponse } from './response.ts';
import type { ChannelAdapter, ChannelView, DeliveryKind, HealthResult, OutboundRequest } from './types.ts';

function endpointOf(connection: ConnectionRow): string {
  if (!connection.endpoint_url) {
    throw new Error(`connection ${connection.park_id}/${connection.channel} has no endpointUrl`);
  }
  return connection.endpoint_url.replace(/\/+$/, '');
}

/**
 * The generic JSON adapter: POSTs parksync's own body shapes to
 * `<endpointUrl>/availability` and `<endpointUrl>/rates`, checks health with
 * `GET <endpointUrl>/health`, and reads the channel's view for reconcile with
 * `GET <endpointUrl>/view?parkId&from&to`, signed over an empty body.
 */
export const genericJsonAdapter: ChannelAdapter = {
  name: 'generic-json',
  maxRangesPerRequest: 1000,
  maxBodyBytes: 256 * 1024,

  buildRequest(connection: ConnectionRow, kind: DeliveryKind, payload: unknown): OutboundRequest {
    return {
      url: `${endpointOf(connection)}/${kind}`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    };
  },

  readResponse(status, headers, bodyText, now) {
    return classifyResponse(status, headers['retry-after'], now, bodyText);
  },

  async healthCheck(connection: ConnectionRow, timeoutMs: number): Promise<HealthResult> {
    // An inbound-only connection has nothing to deliver, so there is no channel endpoint to check.
    if (!connection.endpoint_url) return { ok: true, detail: 'the connection has no endpointUrl; nothing to check' };
    try {
      const response = await request(`${endpointOf(connection)}/health`, {
        method: 'GET',
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      await response.body.dump();
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      return { ok, detail: `GET /health answered ${response.statusCode}` };
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).message;
      return { ok: false, detail: `GET /health failed: ${code}` };
    }
  },

  async readView(connection: ConnectionRow, window: { from: string; to: string }, timeoutMs: number): Promise<ChannelView> {
    const query = new URLSearchParams({ parkId: connection.park_id, from: window.from, to: window.to });
    const signed = signBody(connection.secret_current, '', Math.floor(Date.now() / 1000));
    const response = await request(`${endpointOf(connection)}/view?${query}`, {
      method: 'GET',
      headers: { ...signed, accept: 'application/json' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) {
      throw new Error(`GET /view returned ${response.statusCode}: ${text.slice(0, 200)}`);
    }
    const body = JSON.parse(text) as Partial<ChannelView>;
    return { availability: body.availability ?? [], rates: body.rates ?? [] };
  },
};
