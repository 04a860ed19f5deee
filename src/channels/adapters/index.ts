import { genericJsonAdapter } from './generic-json.ts';
import type { ChannelAdapter } from './types.ts';

const ADAPTERS_BY_NAME: Record<string, ChannelAdapter> = {
  [genericJsonAdapter.name]: genericJsonAdapter,
};

/** The adapter a connection names; connections are validated on write, so an unknown name is a fault. */
export function adapterFor(name: string): ChannelAdapter {
  const adapter = ADAPTERS_BY_NAME[name];
  if (!adapter) throw new Error(`no channel adapter named "${name}"`);
  return adapter;
}

export type { ChannelAdapter, DeliveryKind, OutboundRequest } from './types.ts';
export type { DeliveryOutcome } from './response.ts';
