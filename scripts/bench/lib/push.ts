import { randomUUID } from 'node:crypto';
import { signBody } from '../../../src/webhooks/signature.ts';
import type { OutgoingRequest } from './load.ts';

/**
 * Pushes built by the benchmark itself and sent straight to the simulator,
 * the way parksync's worker sends a delivery: the same headers, signature and
 * body shape. They measure the channel side alone, as a baseline.
 */

export interface AvailabilityNightValue {
  unitTypeId: string;
  from: string;
  to: string;
  available: number;
}

/** Builds a signed availability push for `${simulatorUrl}/channels/<channel>/availability`. */
export function availabilityPush(channel: string, parkId: string, secret: string, version: number, updates: readonly AvailabilityNightValue[]): OutgoingRequest {
  const body = Buffer.from(
    JSON.stringify({
      parkId,
      updates: updates.map((update) => ({
        ...update,
        stopSell: false,
        minStay: null,
        minStayThrough: null,
        maxStay: null,
        closedToArrival: false,
        closedToDeparture: false,
      })),
    }),
  );
  return {
    path: `/channels/${channel}/availability`,
    headers: {
      'content-type': 'application/json',
      'idempotency-key': randomUUID(),
      'x-version': String(version),
      'user-agent': 'parksync-bench',
      ...signBody(secret, body, Math.floor(Date.now() / 1000)),
    },
    body,
  };
}
