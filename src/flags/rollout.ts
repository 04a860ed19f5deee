/** Value of channel_sync_webhooks written for every new connection: checks run, nothing is written. */
export const FLAG_DEFAULT_FOR_NEW_CONNECTION = 'shadow';
