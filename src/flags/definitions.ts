/**
 * The feature flags parksync defines, their allowed values and defaults. A flag is
 * set globally, per channel, per park or per connection (channel and park),
 * and the narrowest setting wins.
 */
export const FLAGS = {
  /** Inbound webhooks: off returns 404, shadow runs every check but writes nothing, on writes. */
  channel_sync_webhooks: { values: ['off', 'shadow', 'on'], defaultValue: 'shadow' },
  /**
   * Scheduled reconcile jobs; a cadence value such as "cadence:hourly" or
   * "cadence:15m" turns them on at that cadence. Minutes run from 1 to 9999.
   */
  channel_reconcile_jobs: { values: ['off', 'on', /^cadence:(hourly|daily|[1-9]\d{0,3}m)$/], defaultValue: 'off' },
  /** Pricing engine: legacy, dual-run (legacy served, both computed), or v2. */
  discount_engine_v2: { values: ['legacy', 'dual-run', 'v2'], defaultValue: 'legacy' },
  /** Publishing of the park's public pages. */
  public_publish: { values: ['off', 'on'], defaultValue: 'off' },
} as const satisfies Record<string, { values: readonly (string | RegExp)[]; defaultValue: string }>;

export type FlagName = keyof typeof FLAGS;

export function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(FLAGS, name);
}

export function isAllowedValue(flag: FlagName, value: string): boolean {
  return FLAGS[flag].values.some((allowed) => (typeof allowed === 'string' ? allowed === value : allowed.test(value)));
}

/** The allowed values as text, for error messages and docs. */
export function describeValues(flag: FlagName): string {
  return FLAGS[flag].values
    .map((allowed) => (typeof allowed === 'string' ? allowed : 'cadence:hourly|daily|<minutes>m'))
    .join(', ');
}

export interface FlagSetting {
  flag: string;
  channel: string;
  parkId: string;
  value: string;
}

/** The scope a flag is evaluated for; an omitted part matches only settings that leave it open. */
export interface FlagScope {
  channel?: string | undefined;
  parkId?: string | undefined;
}

/**
 * Picks the narrowest setting that matches the scope: connection (channel and
 * park) first, then park, then channel, then global. Pure, so it is
 * property-tested without a database.
 */
export function resolveFlag(flag: FlagName, settings: readonly FlagSetting[], scope: FlagScope): string {
  const candidates: Array<[string, string]> = [];
  if (scope.channel && scope.parkId) candidates.push([scope.channel, scope.parkId]);
  if (scope.parkId) candidates.push(['', scope.parkId]);
  if (scope.channel) candidates.push([scope.channel, '']);
  candidates.push(['', '']);
  for (const [channel, parkId] of candidates) {
    const match = settings.find((s) => s.flag === flag && s.channel === channel && s.parkId === parkId);
    if (match) return match.value;
  }
  return FLAGS[flag].defaultValue;
}
