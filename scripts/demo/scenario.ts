import { sendWebhook, type WebhookKind, type WebhookResponse } from '../../src/channels/simulator/index.ts';
import { addDays } from '../../src/lib/dates.ts';
import { waitForEmptyBacklog } from './backlog.ts';
import type { DemoChannel, DemoPark } from './park.ts';
import type { DemoStack } from './stack.ts';

/** One signed webhook a channel sends, and the status parksync must return. */
interface WebhookStep {
  title: string;
  channel: DemoChannel;
  kind: WebhookKind;
  body: Record<string, unknown>;
  version: number;
  expectedStatus: number;
}

interface FailedNight {
  date: string;
  unitTypeId: string;
  requested: number;
  available: number;
  stopSell: boolean;
}

/**
 * Returns the webhooks of the story, in order. The simulator's view of a
 * channel contains only what parksync delivered to it, and parksync never
 * sends a change back to the channel it came from. So each night a channel
 * changes is changed again later from the other side. Otherwise the sender's
 * view would miss its own change, and the final comparison would report it.
 */
function webhookSteps(park: DemoPark): WebhookStep[] {
  const [, second, third, , last] = park.nights as [string, string, string, string, string];
  const departure = addDays(last, 1);
  const reservation = { parkId: park.parkId, reservationId: 'PU-1001', unitTypeId: 'cabin', arrival: third, departure, units: 1, guests: 2 };
  return [
    {
      title: `hipcamp lowers the cabin allotment to 2 on ${third}..${last}`,
      channel: 'hipcamp',
      kind: 'availability',
      body: { parkId: park.parkId, updates: [{ unitTypeId: 'cabin', from: third, to: last, allotment: 2 }] },
      version: 1,
      expectedStatus: 202,
    },
    {
      title: `pitchup books 1 cabin, ${third} → ${departure} (PU-1001)`,
      channel: 'pitchup',
      kind: 'reservations',
      body: { ...reservation, status: 'confirmed', total: { amount: '447.00', currency: park.currency } },
      version: 1,
      expectedStatus: 202,
    },
    {
      title: `hipcamp tries to book 2 cabins, ${second} → ${last} (HC-2001)`,
      channel: 'hipcamp',
      kind: 'reservations',
      body: { parkId: park.parkId, reservationId: 'HC-2001', status: 'confirmed', unitTypeId: 'cabin', arrival: second, departure: last, units: 2 },
      version: 1,
      expectedStatus: 409,
    },
    {
      title: 'pitchup cancels PU-1001',
      channel: 'pitchup',
      kind: 'reservations',
      body: { ...reservation, status: 'cancelled' },
      version: 2,
      expectedStatus: 202,
    },
  ];
}

/** Describes parksync's response in one line: the status, and for an overbooking each failed night. */
function describeResponse(response: WebhookResponse): string {
  const body = (response.body ?? {}) as { status?: string; code?: string; failedNights?: FailedNight[] };
  if (response.status === 202) return `202 ${body.status ?? ''}`.trim();
  const failed = (body.failedNights ?? []).map(
    (night) => `${night.date} (${night.requested} requested, ${night.available} available${night.stopSell ? ', stop-sell' : ''})`,
  );
  return failed.length > 0 ? `${response.status} ${body.code}; failed nights: ${failed.join(', ')}` : `${response.status} ${body.code ?? ''}`.trim();
}

/**
 * Sends each webhook as its channel would, prints parksync's response, and
 * waits for the deliveries it caused before the next one. Without the wait, a
 * delivery built after the next step would already carry the next sender's
 * own change, which that sender's view in the simulator could never undo.
 */
export async function runWebhookSteps(stack: DemoStack, park: DemoPark, print: (line: string) => void): Promise<void> {
  for (const [index, step] of webhookSteps(park).entries()) {
    const response = await sendWebhook({
      parksyncUrl: stack.parksyncUrl,
      channel: step.channel,
      kind: step.kind,
      body: step.body,
      secret: park.secrets[step.channel],
      version: step.version,
    });
    print(`  ${index + 1}. ${step.title}: ${describeResponse(response)}`);
    if (response.status !== step.expectedStatus) {
      throw new Error(`parksync returned ${response.status} to "${step.title}", expected ${step.expectedStatus}: ${JSON.stringify(response.body)}`);
    }
    await waitForEmptyBacklog(stack.service.ctx);
  }
}
