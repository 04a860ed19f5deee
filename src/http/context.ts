import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { Database } from '../db/schema.ts';
import type { FlagStore } from '../flags/store.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { TokenLeases } from '../channels/token-leases.ts';
import type { WebhookTargetCache } from '../webhooks/target.ts';

/** What every route and job needs, built once per process and passed down. */
export interface AppContext {
  config: Config;
  handle: DatabaseHandle;
  db: Kysely<Database>;
  flags: FlagStore;
  clock: Clock;
  logger: Logger;
  /** Webhook targets loaded by this process; see WebhookTargetCache. */
  webhookTargets: WebhookTargetCache;
  /** rateLimitIn tokens this process took ahead of use; see TokenLeases. */
  tokenLeases: TokenLeases;
}
