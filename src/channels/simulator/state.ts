import { DEFAULT_RATE_PLAN } from '../../inventory/rates.ts';
import { addDays, daysBetween } from '../../lib/dates.ts';
import type { ChannelMode } from './modes.ts';
import type { AvailabilityPushUpdate, PushKind, RatePushUpdate } from './schemas.ts';

/**
 * Everything the simulated channel remembers, in memory: connection secrets,
 * the stored view of availability and rates, stored responses by
 * Idempotency-Key, the highest version per (channel, park, kind), the log of
 * received pushes and the response mode per channel. It does no I/O, so the
 * routes decide the responses and this class only records.
 */

/** Outcome of one received push, as the log and the counters name it. */
export type ReceivedStatus =
  | 'applied'
  | 'duplicate'
  | 'stale'
  | 'invalid'
  | 'unauthorized'
  | 'unknown_connection'
  | 'failed'
  | 'rate_limited'
  | 'dropped';

export const RECEIVED_STATUSES: readonly ReceivedStatus[] = [
  'applied',
  'duplicate',
  'stale',
  'invalid',
  'unauthorized',
  'unknown_connection',
  'failed',
  'rate_limited',
  'dropped',
];

/** One entry of the received log. Headers, signatures and bodies are not kept. */
export interface ReceivedPush {
  /** Position in arrival order, starting at 1. It keeps counting when old entries are dropped. */
  sequence: number;
  receivedAt: string;
  channel: string;
  kind: PushKind;
  parkId: string | null;
  idempotencyKey: string | null;
  version: number | null;
  status: ReceivedStatus;
  /** HTTP status sent, or null when the socket was closed without a response. */
  httpStatus: number | null;
  reason?: string;
  /** Number of updates in the body, when it parsed. */
  updates?: number;
  /** Delay added by slow mode before the push was handled, in milliseconds. */
  delayedMs?: number;
  /** For a duplicate: true when its body differs from the first push with that Idempotency-Key. */
  bodyDiffers?: boolean;
  /** True when another push with the same Idempotency-Key was still being handled as this one arrived. */
  concurrentDuplicate?: boolean;
}

export type ReceivedPushInput = Omit<ReceivedPush, 'sequence' | 'receivedAt'>;

/** The stored state of one unit type on one night. Restrictions never received are absent. */
export interface AvailabilityNight {
  unitTypeId: string;
  date: string;
  available: number;
  stopSell?: boolean;
  minStay?: number | null;
  minStayArrival?: number | null;
  minStayThrough?: number | null;
  maxStay?: number | null;
  closedToArrival?: boolean;
  closedToDeparture?: boolean;
  /** X-Version of the push that last wrote this night. */
  version: number;
}

export interface RateNight {
  unitTypeId: string;
  ratePlanId: string;
  date: string;
  /** Decimal string as received, such as "129.00". */
  amount: string;
  currency: string;
  version: number;
}

export interface ParkView {
  channel: string;
  parkId: string;
  availability: AvailabilityNight[];
  rates: RateNight[];
}

/** The first response to an Idempotency-Key, sent unchanged for every repeat. */
export interface StoredResponse {
  httpStatus: number;
  body: unknown;
  /** SHA-256 of the raw body, in hex, to flag a repeat whose body differs. */
  bodyFingerprint: string;
}

interface ParkNights {
  availability: Map<string, AvailabilityNight>;
  rates: Map<string, RateNight>;
}

const RESTRICTION_FIELDS = [
  'stopSell',
  'minStay',
  'minStayArrival',
  'minStayThrough',
  'maxStay',
  'closedToArrival',
  'closedToDeparture',
] as const;

/**
 * Oldest log entries are dropped past this many, so a long benchmark run
 * keeps bounded memory. The counters still count every push.
 */
export const MAX_RECEIVED_ENTRIES = 10_000;

/** Joins map key parts with "/". Every part but the last is a slug, a date or a kind, so none contains "/" and the key is unambiguous. */
function joinKey(...parts: string[]): string {
  return parts.join('/');
}

function nightsOfRange(from: string, to: string): string[] {
  const count = daysBetween(from, to) + 1;
  return Array.from({ length: Math.max(0, count) }, (_, index) => addDays(from, index));
}

function emptyCounts(): Record<ReceivedStatus, number> {
  return Object.fromEntries(RECEIVED_STATUSES.map((status) => [status, 0])) as Record<ReceivedStatus, number>;
}

export class SimulatorState {
  private readonly secrets = new Map<string, string>();
  private readonly nights = new Map<string, ParkNights>();
  // NOTE: stored responses never expire, unlike parksync's 72-hour keys. Only reset clears them.
  private readonly responses = new Map<string, StoredResponse>();
  private readonly highestVersions = new Map<string, number>();
  private readonly modes = new Map<string, ChannelMode>();
  /** Pushes being handled now, counted by (channel, kind, Idempotency-Key). */
  private readonly inFlight = new Map<string, number>();
  private concurrentDuplicates = 0;
  private received: ReceivedPush[] = [];
  private nextSequence = 1;
  private droppedEntries = 0;
  private counts = emptyCounts();

  /** Stores the signing secret of a connection. Returns true when the connection is new. */
  registerConnection(channel: string, parkId: string, secret: string): boolean {
    const key = joinKey(channel, parkId);
    const created = !this.secrets.has(key);
    this.secrets.set(key, secret);
    return created;
  }

  secretOf(channel: string, parkId: string): string | undefined {
    return this.secrets.get(joinKey(channel, parkId));
  }

  setMode(channel: string, mode: ChannelMode | null): void {
    if (mode === null) this.modes.delete(channel);
    else this.modes.set(channel, { ...mode });
  }

  modeOf(channel: string): ChannelMode | null {
    const mode = this.modes.get(channel);
    return mode ? { ...mode } : null;
  }

  /**
   * Returns the mode that applies to the push arriving now and counts it
   * against `remaining`; the mode reverts to ok after its last push. Returns
   * null when the channel is in ok mode.
   */
  takeMode(channel: string): ChannelMode | null {
    const mode = this.modes.get(channel);
    if (!mode) return null;
    if (mode.remaining !== null) {
      mode.remaining -= 1;
      if (mode.remaining <= 0) this.modes.delete(channel);
    }
    return { ...mode };
  }

  storedResponse(channel: string, kind: PushKind, idempotencyKey: string): StoredResponse | undefined {
    return this.responses.get(joinKey(channel, kind, idempotencyKey));
  }

  storeResponse(channel: string, kind: PushKind, idempotencyKey: string, response: StoredResponse): void {
    this.responses.set(joinKey(channel, kind, idempotencyKey), response);
  }

  /**
   * Notes that a push with this Idempotency-Key started being handled. Returns
   * true, and counts a concurrent duplicate, when another push with the same
   * key is still being handled. A sender that leases each delivery to one
   * worker never causes that. Every call must be paired with endPush.
   */
  beginPush(channel: string, kind: PushKind, idempotencyKey: string): boolean {
    const key = joinKey(channel, kind, idempotencyKey);
    const running = this.inFlight.get(key) ?? 0;
    this.inFlight.set(key, running + 1);
    if (running > 0) this.concurrentDuplicates += 1;
    return running > 0;
  }

  endPush(channel: string, kind: PushKind, idempotencyKey: string): void {
    const key = joinKey(channel, kind, idempotencyKey);
    const running = (this.inFlight.get(key) ?? 0) - 1;
    if (running > 0) this.inFlight.set(key, running);
    else this.inFlight.delete(key);
  }

  highestVersion(channel: string, parkId: string, kind: PushKind): number | undefined {
    return this.highestVersions.get(joinKey(channel, parkId, kind));
  }

  private noteVersion(channel: string, parkId: string, kind: PushKind, version: number): void {
    const key = joinKey(channel, parkId, kind);
    this.highestVersions.set(key, Math.max(version, this.highestVersions.get(key) ?? 0));
  }

  private parkNights(channel: string, parkId: string): ParkNights {
    const key = joinKey(channel, parkId);
    let park = this.nights.get(key);
    if (!park) {
      park = { availability: new Map(), rates: new Map() };
      this.nights.set(key, park);
    }
    return park;
  }

  /**
   * Writes each update on every night of its inclusive range. Restrictions
   * left out keep their stored value and null clears one, the same rule
   * parksync applies to inbound availability.
   */
  applyAvailability(channel: string, parkId: string, updates: readonly AvailabilityPushUpdate[], version: number): number {
    const park = this.parkNights(channel, parkId);
    let written = 0;
    for (const update of updates) {
      for (const date of nightsOfRange(update.from, update.to)) {
        const key = joinKey(update.unitTypeId, date);
        const night: AvailabilityNight = { ...park.availability.get(key), unitTypeId: update.unitTypeId, date, available: update.available, version };
        for (const field of RESTRICTION_FIELDS) {
          if (update[field] !== undefined) Object.assign(night, { [field]: update[field] });
        }
        park.availability.set(key, night);
        written += 1;
      }
    }
    this.noteVersion(channel, parkId, 'availability', version);
    return written;
  }

  /** Writes each rate on every night of its inclusive range. A missing rate plan is "standard", as in parksync. */
  applyRates(channel: string, parkId: string, currency: string, updates: readonly RatePushUpdate[], version: number): number {
    const park = this.parkNights(channel, parkId);
    let written = 0;
    for (const update of updates) {
      const ratePlanId = update.ratePlanId ?? DEFAULT_RATE_PLAN;
      for (const date of nightsOfRange(update.from, update.to)) {
        const night: RateNight = { unitTypeId: update.unitTypeId, ratePlanId, date, amount: update.amount, currency, version };
        park.rates.set(joinKey(update.unitTypeId, ratePlanId, date), night);
        written += 1;
      }
    }
    this.noteVersion(channel, parkId, 'rates', version);
    return written;
  }

  /** Returns the stored view of one connection, sorted by unit type, rate plan and date. Its lists are empty when nothing arrived. */
  view(channel: string, parkId: string): ParkView {
    const park = this.nights.get(joinKey(channel, parkId));
    const availability = [...(park?.availability.values() ?? [])].sort(
      (a, b) => a.unitTypeId.localeCompare(b.unitTypeId) || a.date.localeCompare(b.date),
    );
    const rates = [...(park?.rates.values() ?? [])].sort(
      (a, b) =>
        a.unitTypeId.localeCompare(b.unitTypeId) || a.ratePlanId.localeCompare(b.ratePlanId) || a.date.localeCompare(b.date),
    );
    return { channel, parkId, availability: availability.map((night) => ({ ...night })), rates: rates.map((night) => ({ ...night })) };
  }

  recordReceived(entry: ReceivedPushInput, now: Date = new Date()): ReceivedPush {
    const recorded: ReceivedPush = { sequence: this.nextSequence, receivedAt: now.toISOString(), ...entry };
    this.nextSequence += 1;
    this.counts[entry.status] += 1;
    this.received.push(recorded);
    if (this.received.length > MAX_RECEIVED_ENTRIES) {
      const excess = this.received.length - MAX_RECEIVED_ENTRIES;
      this.received.splice(0, excess);
      this.droppedEntries += excess;
    }
    return recorded;
  }

  /**
   * The received log in arrival order, optionally filtered, with counters over
   * every push since the last reset. `inFlight` counts the pushes with an
   * Idempotency-Key being handled now, and is not filtered either.
   */
  receivedLog(filter: { channel?: string; parkId?: string; kind?: PushKind; status?: ReceivedStatus } = {}): {
    items: ReceivedPush[];
    counts: Record<ReceivedStatus, number>;
    droppedEntries: number;
    inFlight: number;
    concurrentDuplicates: number;
  } {
    const items = this.received.filter(
      (entry) =>
        (filter.channel === undefined || entry.channel === filter.channel) &&
        (filter.parkId === undefined || entry.parkId === filter.parkId) &&
        (filter.kind === undefined || entry.kind === filter.kind) &&
        (filter.status === undefined || entry.status === filter.status),
    );
    let inFlight = 0;
    for (const running of this.inFlight.values()) inFlight += running;
    return {
      items: items.map((entry) => ({ ...entry })),
      counts: { ...this.counts },
      droppedEntries: this.droppedEntries,
      inFlight,
      concurrentDuplicates: this.concurrentDuplicates,
    };
  }

  /**
   * Forgets everything, except the registered secrets when keepConnections is
   * set. Pushes still being handled stay in `inFlight` until they finish.
   */
  reset(options: { keepConnections?: boolean } = {}): void {
    if (!options.keepConnections) this.secrets.clear();
    this.nights.clear();
    this.responses.clear();
    this.highestVersions.clear();
    this.modes.clear();
    this.received = [];
    this.nextSequence = 1;
    this.droppedEntries = 0;
    this.concurrentDuplicates = 0;
    this.counts = emptyCounts();
  }
}
