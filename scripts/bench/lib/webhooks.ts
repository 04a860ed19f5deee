import { randomBytes } from 'node:crypto';
import { signBody } from '../../../src/webhooks/signature.ts';

/**
 * Signed availability webhooks for load: each request sets the allotment of
 * one unit type on one night. Request i touches entity i mod N (N = unit
 * types × nights) with X-Version floor(i / N) + 1, so a later write to the same
 * night always carries a higher version, and requests that run at the same
 * time never share a night unless N is smaller than the concurrency.
 */

export interface PreparedRequest {
  index: number;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  idempotencyKey: string;
  unitTypeId: string;
  date: string;
  allotment: number;
  version: number;
}

export interface WebhookTarget {
  channel: string;
  parkId: string;
  secret: string;
  unitTypeIds: readonly string[];
  nights: readonly string[];
}

export class AvailabilityWebhooks {
  private nextIndex = 0;
  /** Keys from two runs, or two generators, never collide. */
  private readonly keyPrefix = randomBytes(6).toString('hex');

  constructor(readonly target: WebhookTarget) {
    if (target.unitTypeIds.length === 0 || target.nights.length === 0) throw new Error('a webhook target needs unit types and nights');
  }

  get entities(): number {
    return this.target.unitTypeIds.length * this.target.nights.length;
  }

  get issued(): number {
    return this.nextIndex;
  }

  /** Builds the next request, signed now. */
  next(): PreparedRequest {
    const index = this.nextIndex;
    this.nextIndex += 1;
    return this.build(index);
  }

  /** Builds request `index`; the allotment is a function of the index, so a check can recompute it. */
  build(index: number): PreparedRequest {
    const { unitTypeIds, nights } = this.target;
    const entity = index % this.entities;
    const unitTypeId = unitTypeIds[entity % unitTypeIds.length] ?? '';
    const date = nights[Math.floor(entity / unitTypeIds.length)] ?? '';
    const version = Math.floor(index / this.entities) + 1;
    const allotment = 1 + (index % 47);
    const body = Buffer.from(JSON.stringify({ parkId: this.target.parkId, updates: [{ unitTypeId, from: date, to: date, allotment }] }));
    const idempotencyKey = `${this.keyPrefix}-${index}`;
    return {
      index,
      path: `/webhooks/channel/${this.target.channel}/availability`,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': idempotencyKey,
        'x-version': String(version),
        ...signBody(this.target.secret, body, Math.floor(Date.now() / 1000)),
      },
      body,
      idempotencyKey,
      unitTypeId,
      date,
      allotment,
      version,
    };
  }

  /** Signs a request again with a fresh timestamp, for a retry with the same key and body. */
  resign(request: PreparedRequest): PreparedRequest {
    return { ...request, headers: { ...request.headers, ...signBody(this.target.secret, request.body, Math.floor(Date.now() / 1000)) } };
  }
}
