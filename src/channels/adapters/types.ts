import type { ConnectionRow } from '../../db/schema.ts';
import type { DeliveryOutcome } from './response.ts';

export type DeliveryKind = 'availability' | 'rates';

/** An HTTP request an adapter wants sent; parksync signs it and adds the delivery headers. */
export interface OutboundRequest {
  url: string;
  method: 'POST' | 'PUT';
  headers: Record<string, string>;
  body: string;
}

/** One night as the channel stores it. Restrictions the channel does not report are left out. */
export interface ChannelAvailabilityNight {
  unitTypeId: string;
  date: string;
  available: number;
  stopSell?: boolean;
  minStay?: number | null;
  minStayThrough?: number | null;
  maxStay?: number | null;
  closedToArrival?: boolean;
  closedToDeparture?: boolean;
}

export interface ChannelRateNight {
  unitTypeId: string;
  ratePlanId: string;
  date: string;
  /** Decimal string in the park's currency, such as "129.00". */
  amount: string;
}

/** The channel's stored state for one park over a date window, as read for reconcile. */
export interface ChannelView {
  availability: ChannelAvailabilityNight[];
  rates: ChannelRateNight[];
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
  /** Classifies the channel's response to a delivery: delivered, retry later, or permanent failure. */
  readResponse(status: number, headers: Record<string, string | string[] | undefined>, bodyText: string, now: Date): DeliveryOutcome;
  /** Checks that the channel is reachable and responding, before a paused connection resumes. */
  healthCheck(connection: ConnectionRow, timeoutMs: number): Promise<HealthResult>;
  /** Reads what the channel holds for the connection's park over an inclusive date window. */
  readView(connection: ConnectionRow, window: { from: string; to: string }, timeoutMs: number): Promise<ChannelView>;
}
