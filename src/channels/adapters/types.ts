import type { ConnectionRow } from '../../db/schema.ts';

export type DeliveryKind = 'availability' | 'rates';

/** An HTTP request an adapter wants sent; parksync signs it and adds the delivery headers. */
export interface OutboundRequest {
  url: string;
  method: 'POST' | 'PUT';
  headers: Record<string, string>;
  body: string;
}

export interface HealthResult {
  ok: boolean;
  detail: string;
}

/**
 * Everything channel-specific about talking to a channel. Adding a channel
 * means adding an adapter; the outbox, retries and signing stay the same.
 */
export interface ChannelAdapter {
  readonly name: string;
  /** Most ranges one request may carry. */
  readonly maxRangesPerRequest: number;
  /** Largest request body the channel accepts, in bytes. */
  readonly maxBodyBytes: number;
  /** Builds the request for a delivery payload (the generic shapes: availability or rates). */
  buildRequest(connection: ConnectionRow, kind: DeliveryKind, payload: unknown): OutboundRequest;
  /** Checks that the channel is reachable and answering, before a paused connection resumes. */
  healthCheck(connection: ConnectionRow, timeoutMs: number): Promise<HealthResult>;
}
