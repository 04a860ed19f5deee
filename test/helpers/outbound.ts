import { startSimulator, type Simulator } from '../../src/channels/simulator/index.ts';
import type { Harness } from './harness.ts';
import { connectChannel } from './webhooks.ts';

/** Connects `channel` to the park with its endpoint at the simulator, registers the secret there, and returns it. */
export async function connectSimulated(
  harness: Harness,
  simulator: Simulator,
  parkId: string,
  channel: string,
  settings: Record<string, unknown> = {},
): Promise<string> {
  const secret = await connectChannel(harness, parkId, channel, { endpointUrl: `${simulator.url}/channels/${channel}`, ...settings });
  const registered = await fetch(`${simulator.url}/_control/connections/${channel}/${parkId}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ secret }),
  });
  if (!registered.ok) throw new Error(`simulator registration failed: ${registered.status}`);
  return secret;
}

export async function setMode(simulator: Simulator, channel: string, mode: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${simulator.url}/_control/mode/${channel}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(mode),
  });
  if (!response.ok) throw new Error(`simulator mode failed: ${response.status} ${await response.text()}`);
}

export interface ViewNight {
  unitTypeId: string;
  date: string;
  available: number;
}

export async function simulatorView(simulator: Simulator, channel: string, parkId: string) {
  const response = await fetch(`${simulator.url}/_control/view/${channel}/${parkId}`);
  return (await response.json()) as { availability: ViewNight[]; rates: Array<{ unitTypeId: string; date: string; amount: string }> };
}

export async function receivedCount(simulator: Simulator, channel: string): Promise<number> {
  const response = await fetch(`${simulator.url}/_control/received?channel=${channel}`);
  const body = (await response.json()) as { items: unknown[] };
  return body.items.length;
}

export { startSimulator, type Simulator };
