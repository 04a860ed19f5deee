export { startSimulator, buildSimulatorApp, type Simulator, type SimulatorOptions } from './server.ts';
export { sendWebhook, type SendWebhookOptions, type WebhookKind, type WebhookResponse } from './sender.ts';
export {
  SimulatorState,
  type AvailabilityNight,
  type ParkView,
  type RateNight,
  type ReceivedPush,
  type ReceivedStatus,
} from './state.ts';
export { MODE_NAMES, type ChannelMode, type ModeBody, type ModeName } from './modes.ts';
export type { AvailabilityPush, PushKind, RatesPush } from './schemas.ts';
