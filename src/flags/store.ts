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
/** The flag metadata key under which the provider reports the number of the settings it resolved with. */
const SETTINGS_GENERATION = 'settingsGeneration';

export async function loadFlagSettings(db: Executor): Promise<FlagSetting[]> {
  const rows = await db.selectFrom('flag_settings').select(['flag', 'channel', 'park_id', 'value']).execute();
  return rows.map((row) => ({ flag: row.flag, channel: row.channel, parkId: row.park_id, value: row.value }));
}

/**
 * OpenFeature provider backed by the flag_settings table. The whole table is
 * small, so it is read at once and kept for a couple of seconds.
 *
 * The provider itself never reads the table: FlagStore loads the settings
 * first. OpenFeature returns the flag's default when a provider fails, and
 * for `channel_sync_webhooks` that default is shadow mode, so a failed read
 * during a database restart would have acknowledged webhooks without
 * applying them. A failed read now fails the evaluation with its own error.
 */
class DatabaseFlagProvider implements Provider {
  readonly metadata = { name: 'parksync-database' } as const;
  readonly runsOn = 'server' as const;
  private cache: { settings: FlagSetting[]; loadedAt: number; generation: number } | undefined;
  private generation = 0;

  constructor(private readonly db: Executor) {}

  invalidate(): void {
    this.cache = undefined;
  }

  /** The number of the settings read less than CACHE_TTL_MS ago, or undefined when the next evaluation must read the table. */
  freshGeneration(): number | undefined {
    return this.cache && Date.now() - this.cache.loadedAt < CACHE_TTL_MS ? this.cache.generation : undefined;
  }

  /** Reads the table unless the settings are fresh; a database error is raised to the caller. */
  async load(): Promise<void> {
    if (this.freshGeneration() !== undefined) return;
    const loadedAt = Date.now();
    const settings = await loadFlagSettings(this.db);
    this.generation += 1;
    this.cache = { settings, loadedAt, generation: this.generation };
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
    if (!this.cache) throw new Error('flag settings were not loaded before the evaluation');
    const { settings, generation } = this.cache;
    const value = resolveFlag(flagKey, settings, scope);
    return { value, reason: StandardResolutionReasons.TARGETING_MATCH, flagMetadata: { [SETTINGS_GENERATION]: generation } };
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
 * An evaluation depends only on the flag, the scope and the provider's
 * settings. Every webhook reads `channel_sync_webhooks`, and the OpenFeature
 * call costs more than a lookup, so each result is kept with the number of
 * the settings it came from (the provider reports it in the flag metadata).
 * A result is used only while those settings are still fresh.
 */
export class FlagStore {
  private readonly provider: DatabaseFlagProvider;
  private readonly client: Client;
  private results: { generation: number; values: Map<string, string> } = { generation: 0, values: new Map() };

  constructor(private readonly db: Executor) {
    this.provider = new DatabaseFlagProvider(db);
    // A domain per store keeps two parksync instances in one process (as in tests) apart.
    const domain = `parksync-${randomUUID()}`;
    OpenFeature.setProvider(domain, this.provider);
    this.client = OpenFeature.getClient(domain);
  }

  async evaluate(flag: FlagName, scope: FlagScope = {}): Promise<string> {
    const key = `${flag}\n${scope.channel ?? ''}\n${scope.parkId ?? ''}`;
    const fresh = this.provider.freshGeneration();
    const cached = fresh === this.results.generation ? this.results.values.get(key) : undefined;
    if (cached !== undefined) return cached;
    await this.provider.load();
    const details = await this.client.getStringDetails(flag, FLAGS[flag].defaultValue, {
      ...(scope.channel ? { channel: scope.channel } : {}),
      ...(scope.parkId ? { parkId: scope.parkId } : {}),
    });
    if (details.errorCode !== undefined) {
      throw new Error(`flag ${flag} could not be evaluated (${details.errorCode}): ${details.errorMessage ?? 'no message'}`);
    }
    const generation = details.flagMetadata[SETTINGS_GENERATION];
    if (typeof generation === 'number') this.keep(generation, key, details.value);
    return details.value;
  }

  /** Keeps a result with the number of the settings it came from; results of older settings are dropped. */
  private keep(generation: number, key: string, value: string): void {
    if (generation < this.results.generation) return;
    if (generation > this.results.generation) this.results = { generation, values: new Map() };
    this.results.values.set(key, value);
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
