import { randomUUID } from 'node:crypto';
import {
  OpenFeature,
  StandardResolutionReasons,
  type Client,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import type { Executor } from '../audit/audit.ts';
import { FLAGS, isFlagName, resolveFlag, type FlagName, type FlagScope, type FlagSetting } from './definitions.ts';

/** How long a process reuses the settings it read; other processes see a change within this time. */
const CACHE_TTL_MS = 2_000;

export async function loadFlagSettings(db: Executor): Promise<FlagSetting[]> {
  const rows = await db.selectFrom('flag_settings').select(['flag', 'channel', 'park_id', 'value']).execute();
  return rows.map((row) => ({ flag: row.flag, channel: row.channel, parkId: row.park_id, value: row.value }));
}

/**
 * OpenFeature provider backed by the flag_settings table. The whole table is
 * small, so it is read at once and kept for a couple of seconds.
 */
class DatabaseFlagProvider implements Provider {
  readonly metadata = { name: 'parksync-database' } as const;
  readonly runsOn = 'server' as const;
  private cache: { settings: FlagSetting[]; loadedAt: number } | undefined;

  constructor(private readonly db: Executor) {}

  invalidate(): void {
    this.cache = undefined;
  }

  /** The settings read less than CACHE_TTL_MS ago, or undefined when the next evaluation must read the table. */
  freshSettings(): FlagSetting[] | undefined {
    return this.cache && Date.now() - this.cache.loadedAt < CACHE_TTL_MS ? this.cache.settings : undefined;
  }

  private async settings(): Promise<FlagSetting[]> {
    const now = Date.now();
    if (this.cache && now - this.cache.loadedAt < CACHE_TTL_MS) return this.cache.settings;
    const settings = await loadFlagSettings(this.db);
    this.cache = { settings, loadedAt: now };
    return settings;
  }

  async resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<string>> {
    if (!isFlagName(flagKey)) return { value: defaultValue, reason: StandardResolutionReasons.ERROR };
    const scope: FlagScope = {
      channel: typeof context.channel === 'string' ? context.channel : undefined,
      parkId: typeof context.parkId === 'string' ? context.parkId : undefined,
    };
    const value = resolveFlag(flagKey, await this.settings(), scope);
    return { value, reason: StandardResolutionReasons.TARGETING_MATCH };
  }

  async resolveBooleanEvaluation(_key: string, defaultValue: boolean): Promise<ResolutionDetails<boolean>> {
    return { value: defaultValue, reason: StandardResolutionReasons.DEFAULT };
  }

  async resolveNumberEvaluation(_key: string, defaultValue: number): Promise<ResolutionDetails<number>> {
    return { value: defaultValue, reason: StandardResolutionReasons.DEFAULT };
  }

  async resolveObjectEvaluation<T extends JsonValue>(_key: string, defaultValue: T): Promise<ResolutionDetails<T>> {
    return { value: defaultValue, reason: StandardResolutionReasons.DEFAULT };
  }
}

/**
 * Reads and writes feature flags; `evaluate` is the one way the rest of parksync reads a flag.
 *
 * An evaluation depends only on the flag, the scope and the settings the
 * provider holds, so its result is kept with that set of settings: every
 * webhook reads `channel_sync_webhooks`, and the OpenFeature call costs more
 * than the lookup. When the provider reads the table again, the results kept
 * for the old settings are dropped with them.
 */
export class FlagStore {
  private readonly provider: DatabaseFlagProvider;
  private readonly client: Client;
  private readonly results = new WeakMap<FlagSetting[], Map<string, string>>();

  constructor(private readonly db: Executor) {
    this.provider = new DatabaseFlagProvider(db);
    // A domain per store keeps two parksync instances in one process (as in tests) apart.
    const domain = `parksync-${randomUUID()}`;
    OpenFeature.setProvider(domain, this.provider);
    this.client = OpenFeature.getClient(domain);
  }

  async evaluate(flag: FlagName, scope: FlagScope = {}): Promise<string> {
    const key = `${flag}\n${scope.channel ?? ''}\n${scope.parkId ?? ''}`;
    const kept = this.keptResults()?.get(key);
    if (kept !== undefined) return kept;
    const value = await this.client.getStringValue(flag, FLAGS[flag].defaultValue, {
      ...(scope.channel ? { channel: scope.channel } : {}),
      ...(scope.parkId ? { parkId: scope.parkId } : {}),
    });
    this.keptResults()?.set(key, value);
    return value;
  }

  /** The results kept for the provider's current settings, or undefined when they have expired. */
  private keptResults(): Map<string, string> | undefined {
    const settings = this.provider.freshSettings();
    if (!settings) return undefined;
    let results = this.results.get(settings);
    if (!results) {
      results = new Map();
      this.results.set(settings, results);
    }
    return results;
  }

  async set(executor: Executor, setting: FlagSetting, actor: string): Promise<void> {
    await executor
      .insertInto('flag_settings')
      .values({
        flag: setting.flag,
        channel: setting.channel,
        park_id: setting.parkId,
        value: setting.value,
        updated_by: actor,
      })
      .onConflict((conflict) =>
        conflict
          .columns(['flag', 'channel', 'park_id'])
          .doUpdateSet({ value: setting.value, updated_by: actor, updated_at: new Date() }),
      )
      .execute();
    this.provider.invalidate();
  }

  async list(): Promise<FlagSetting[]> {
    return loadFlagSettings(this.db);
  }

  /** Drops the cached settings, so the next evaluation reads the table. */
  invalidate(): void {
    this.provider.invalidate();
  }
}
