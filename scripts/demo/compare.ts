import type { ParkView } from '../../src/channels/simulator/index.ts';
import { CHANNELS, type DemoChannel, type DemoPark } from './park.ts';
import type { DemoStack } from './stack.ts';

/** Rate plan shown in the table. Every rate plan is compared. */
const SHOWN_RATE_PLAN = 'standard';

interface AvailabilityItem {
  unitTypeId: string;
  date: string;
  allotment: number;
  booked: number;
  available: number;
}

interface RateItem {
  unitTypeId: string;
  ratePlanId: string;
  date: string;
  amount: string;
}

/** One unit type on one night: parksync's numbers and what each channel stores. */
export interface NightRow {
  unitTypeId: string;
  date: string;
  allotment: number;
  booked: number;
  available: number;
  rate: string | undefined;
  channelAvailable: Record<DemoChannel, number | undefined>;
  channelRate: Record<DemoChannel, string | undefined>;
}

export interface Comparison {
  rows: NightRow[];
  /** One sentence per night, rate plan and channel that differs from parksync. */
  mismatches: string[];
}

async function readViews(stack: DemoStack, parkId: string): Promise<Record<DemoChannel, ParkView>> {
  const views = {} as Record<DemoChannel, ParkView>;
  for (const channel of CHANNELS) {
    const response = await fetch(`${stack.simulator.url}/_control/view/${channel}/${parkId}`);
    if (!response.ok) throw new Error(`the simulator's view of ${channel} returned ${response.status}: ${await response.text()}`);
    views[channel] = (await response.json()) as ParkView;
  }
  return views;
}

function compareRates(rates: RateItem[], views: Record<DemoChannel, ParkView>): string[] {
  const mismatches: string[] = [];
  for (const channel of CHANNELS) {
    const storedAmounts = new Map(views[channel].rates.map((night) => [`${night.unitTypeId}|${night.ratePlanId}|${night.date}`, night.amount]));
    for (const rate of rates) {
      const amount = storedAmounts.get(`${rate.unitTypeId}|${rate.ratePlanId}|${rate.date}`);
      if (amount !== rate.amount) {
        mismatches.push(`${channel} has rate ${amount ?? 'none'} for ${rate.unitTypeId} (${rate.ratePlanId}) on ${rate.date}; parksync has ${rate.amount}`);
      }
    }
  }
  return mismatches;
}

/**
 * Reads parksync's availability and rates over the demo's nights and what each
 * simulated channel stores, and lists every night where a channel differs.
 */
export async function compareWithChannels(stack: DemoStack, park: DemoPark): Promise<Comparison> {
  const from = park.nights[0];
  const to = park.nights.at(-1);
  const range = `from=${from}&to=${to}`;
  const availabilityBody = await stack.api.expect('GET', `/parks/${park.parkId}/availability?${range}`, undefined, [200]);
  const ratesBody = await stack.api.expect('GET', `/parks/${park.parkId}/rates?${range}`, undefined, [200]);
  const availability = (availabilityBody as { items: AvailabilityItem[] }).items;
  const rates = (ratesBody as { items: RateItem[] }).items;
  const views = await readViews(stack, park.parkId);

  const mismatches = compareRates(rates, views);
  const rows = availability.map((item): NightRow => {
    const channelAvailable = {} as Record<DemoChannel, number | undefined>;
    const channelRate = {} as Record<DemoChannel, string | undefined>;
    for (const channel of CHANNELS) {
      const storedNight = views[channel].availability.find((night) => night.unitTypeId === item.unitTypeId && night.date === item.date);
      channelAvailable[channel] = storedNight?.available;
      channelRate[channel] = views[channel].rates.find(
        (night) => night.unitTypeId === item.unitTypeId && night.ratePlanId === SHOWN_RATE_PLAN && night.date === item.date,
      )?.amount;
      if (storedNight?.available !== item.available) {
        mismatches.push(`${channel} has ${storedNight?.available ?? 'nothing'} available for ${item.unitTypeId} on ${item.date}; parksync has ${item.available}`);
      }
    }
    const rate = rates.find((night) => night.unitTypeId === item.unitTypeId && night.ratePlanId === SHOWN_RATE_PLAN && night.date === item.date);
    return { ...item, rate: rate?.amount, channelAvailable, channelRate };
  });
  return { rows, mismatches };
}

function cell(value: string | number | undefined, width: number, differs = false): string {
  return `${value ?? '-'}${differs ? '!' : ''}`.padStart(width);
}

/**
 * Formats one table per unit type: parksync's allotment, booked and available,
 * the available each channel stores, then the rate in parksync and on each
 * channel. A value that differs from parksync is marked with "!".
 */
export function formatTables(park: DemoPark, rows: readonly NightRow[]): string[] {
  const channelHeads = CHANNELS.map((channel) => channel.padStart(8)).join('');
  const lines = [
    `Per night: parksync's allotment, booked and available | the available each channel stores | the rate in parksync and on each channel.`,
    `"!" marks a value that differs from parksync, "-" a value the channel has not received.`,
  ];
  for (const unitType of park.unitTypes) {
    lines.push('', `${unitType.unitTypeId}: ${unitType.name}, ${unitType.units} units (rates in ${park.currency}, rate plan ${SHOWN_RATE_PLAN})`);
    lines.push(`  night       allotment booked available |${channelHeads} |      rate${channelHeads}`);
    for (const row of rows.filter((candidate) => candidate.unitTypeId === unitType.unitTypeId)) {
      const availableCells = CHANNELS.map((channel) => cell(row.channelAvailable[channel], 8, row.channelAvailable[channel] !== row.available)).join('');
      const rateCells = CHANNELS.map((channel) => cell(row.channelRate[channel], 8, row.channelRate[channel] !== row.rate)).join('');
      lines.push(`  ${row.date}  ${cell(row.allotment, 9)} ${cell(row.booked, 6)} ${cell(row.available, 9)} |${availableCells} |${cell(row.rate, 10)}${rateCells}`);
    }
  }
  return lines;
}
