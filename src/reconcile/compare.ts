import type { ChannelAvailabilityNight, ChannelRateNight } from '../channels/adapters/types.ts';
import type { AvailabilityItem } from '../inventory/availability.ts';
import type { RateItem } from '../inventory/rates.ts';

/** One night where the channel's view differs from parksync's. */
export interface Drift {
  kind: 'availability' | 'rates';
  unitTypeId: string;
  date: string;
  ratePlanId?: string;
  /** Field name → { parksync, channel }; a missing night shows the channel side as null. */
  fields: Record<string, { parksync: unknown; channel: unknown }>;
}

const RESTRICTIONS = ['stopSell', 'minStay', 'minStayThrough', 'maxStay', 'closedToArrival', 'closedToDeparture'] as const;

/**
 * Compares availability night by night. `available` must match; a restriction
 * is compared only when the channel reports it, because not every channel
 * stores every restriction. A night the channel lacks is a drift unless
 * parksync has nothing on sale and no restriction set.
 */
export function compareAvailability(ours: readonly AvailabilityItem[], theirs: readonly ChannelAvailabilityNight[]): Drift[] {
  const channelNights = new Map(theirs.map((night) => [`${night.unitTypeId}|${night.date}`, night]));
  const drifts: Drift[] = [];
  for (const night of ours) {
    const channel = channelNights.get(`${night.unitTypeId}|${night.date}`);
    const fields: Drift['fields'] = {};
    if (!channel) {
      const empty = night.available === 0 && !night.stopSell && night.minStay === null && night.minStayThrough === null && night.maxStay === null;
      if (!empty && !(night.available === 0 && night.stopSell)) fields.available = { parksync: night.available, channel: null };
    } else {
      if (channel.available !== night.available) fields.available = { parksync: night.available, channel: channel.available };
      for (const field of RESTRICTIONS) {
        const reported = channel[field];
        if (reported !== undefined && reported !== night[field]) fields[field] = { parksync: night[field], channel: reported };
      }
    }
    if (Object.keys(fields).length > 0) drifts.push({ kind: 'availability', unitTypeId: night.unitTypeId, date: night.date, fields });
  }
  return drifts;
}

/** Compares rates per unit type, rate plan and night; a rate the channel lacks is a drift. */
export function compareRates(ours: readonly RateItem[], theirs: readonly ChannelRateNight[]): Drift[] {
  const channelRates = new Map(theirs.map((rate) => [`${rate.unitTypeId}|${rate.ratePlanId}|${rate.date}`, rate.amount]));
  const drifts: Drift[] = [];
  for (const rate of ours) {
    const amount = channelRates.get(`${rate.unitTypeId}|${rate.ratePlanId}|${rate.date}`);
    if (amount === undefined || Number(amount) !== Number(rate.amount)) {
      drifts.push({
        kind: 'rates',
        unitTypeId: rate.unitTypeId,
        ratePlanId: rate.ratePlanId,
        date: rate.date,
        fields: { amount: { parksync: rate.amount, channel: amount ?? null } },
      });
    }
  }
  return drifts;
}
