import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { FlagStore } from '../src/flags/store.ts';
import { FLAGS, isAllowedValue, resolveFlag, type FlagName, type FlagScope, type FlagSetting } from '../src/flags/definitions.ts';
import { seedPark, startHarness, type Harness } from './helpers/harness.ts';
import { expectProblem } from './helpers/problem.ts';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, 'park-p', { cabin: 1 });
  await seedPark(harness, 'park-q', { cabin: 1 });
});

afterAll(async () => {
  await harness.close();
});

async function evaluate(flag: string, query = ''): Promise<string> {
  const response = await harness.call('GET', `/flags/${flag}/evaluate${query ? `?${query}` : ''}`);
  if (response.statusCode !== 200) throw new Error(`evaluate: ${response.statusCode} ${response.body}`);
  return response.json<{ value: string }>().value;
}

async function storedSettings(flag: string): Promise<unknown[]> {
  const response = await harness.call('GET', '/flags');
  return response.json<{ items: Array<{ flag: string; settings: unknown[] }> }>().items.find((item) => item.flag === flag)?.settings ?? [];
}

describe('PUT /flags/{flag}', () => {
  it('answers 404 for an unknown flag', async () => {
    const response = await harness.call('PUT', '/flags/dark_mode', { value: 'on' });
    expectProblem(response, 404, 'flag_not_found');
    const flags = (await harness.call('GET', '/flags')).json<{ items: Array<{ flag: string }> }>().items;
    expect(flags.map((item) => item.flag)).not.toContain('dark_mode');
  });

  const invalid: Array<{ label: string; flag: string; body: Record<string, unknown>; field: string }> = [
    { label: 'an unknown value', flag: 'public_publish', body: { value: 'maybe' }, field: 'value' },
    { label: 'a value of another flag', flag: 'channel_sync_webhooks', body: { value: 'dual-run' }, field: 'value' },
    { label: 'an unknown cadence', flag: 'channel_reconcile_jobs', body: { value: 'cadence:weekly' }, field: 'value' },
    { label: 'a cadence of zero minutes', flag: 'channel_reconcile_jobs', body: { value: 'cadence:0m' }, field: 'value' },
    { label: 'a value as a boolean', flag: 'public_publish', body: { value: true }, field: 'value' },
    { label: 'a missing value', flag: 'public_publish', body: { parkId: 'park-p' }, field: 'value' },
    { label: 'a malformed channel', flag: 'public_publish', body: { value: 'on', channel: 'Booking.com' }, field: 'channel' },
    { label: 'an unknown field', flag: 'public_publish', body: { value: 'on', expiresAt: '2027-01-01' }, field: 'expiresAt' },
  ];

  it.each(invalid)('rejects $label', async ({ flag, body, field }) => {
    const before = await storedSettings(flag);
    expectProblem(await harness.call('PUT', `/flags/${flag}`, body), 422, 'validation_failed', field);
    expect(await storedSettings(flag)).toEqual(before);
  });

  it('answers 404 for an unknown park', async () => {
    const response = await harness.call('PUT', '/flags/public_publish', { value: 'on', parkId: 'no-such-park' });
    expectProblem(response, 404, 'park_not_found');
    expect(await storedSettings('public_publish')).toEqual([]);
  });

  it('accepts a reconcile cadence', async () => {
    const response = await harness.call('PUT', '/flags/channel_reconcile_jobs', { value: 'cadence:15m', channel: 'hipcamp' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ flag: 'channel_reconcile_jobs', value: 'cadence:15m', channel: 'hipcamp', parkId: null, effective: 'cadence:15m' });
  });

  it('audits the change with the previous value and note', async () => {
    await harness.call('PUT', '/flags/public_publish', { value: 'on', parkId: 'park-q' });
    const changed = await harness.call('PUT', '/flags/public_publish', { value: 'off', parkId: 'park-q', note: 'page review' });
    expect(changed.statusCode).toBe(200);
    const audit = await harness.call('GET', '/audit?parkId=park-q&action=flag.set');
    const [latest] = audit.json().items;
    expect(latest.details).toEqual({ flag: 'public_publish', value: 'off', previous: 'on' });
    expect(latest.note).toBe('page review');
  });
});

describe('GET /flags/{flag}/evaluate', () => {
  it('answers 404 for an unknown flag', async () => {
    expectProblem(await harness.call('GET', '/flags/dark_mode/evaluate'), 404, 'flag_not_found');
  });

  it('gives the defaults when nothing is set', async () => {
    expect(await evaluate('channel_sync_webhooks', 'channel=nowhere&parkId=park-p')).toBe('shadow');
    expect(await evaluate('discount_engine_v2', 'channel=nowhere&parkId=park-p')).toBe('legacy');
  });
});

describe('narrowest flag setting', () => {
  beforeAll(async () => {
    for (const body of [
      { value: 'dual-run' },
      { value: 'v2', channel: 'booking' },
      { value: 'legacy', parkId: 'park-p' },
      { value: 'v2', channel: 'airbnb', parkId: 'park-p' },
    ]) {
      const response = await harness.call('PUT', '/flags/discount_engine_v2', body);
      if (response.statusCode !== 200) throw new Error(`set flag: ${response.statusCode} ${response.body}`);
    }
  });

  const cases: Array<{ scope: string; query: string; value: string }> = [
    { scope: 'global', query: '', value: 'dual-run' },
    { scope: 'another channel and park', query: 'channel=pitchup&parkId=park-q', value: 'dual-run' },
    { scope: 'channel over global', query: 'channel=booking&parkId=park-q', value: 'v2' },
    { scope: 'channel alone', query: 'channel=booking', value: 'v2' },
    { scope: 'park over channel', query: 'channel=booking&parkId=park-p', value: 'legacy' },
    { scope: 'park alone', query: 'parkId=park-p', value: 'legacy' },
    { scope: 'connection over park', query: 'channel=airbnb&parkId=park-p', value: 'v2' },
    { scope: 'connection without its park', query: 'channel=airbnb&parkId=park-q', value: 'dual-run' },
  ];

  it.each(cases)('resolves $scope', async ({ query, value }) => {
    expect(await evaluate('discount_engine_v2', query)).toBe(value);
  });
});

describe('flag evaluations when the settings cannot be read', () => {
  it('fail instead of giving the default', async () => {
    // A database without the flag_settings table fails every read, as a restarting server does.
    const handle = await openDatabase({ dataDir: 'memory://' });
    try {
      const store = new FlagStore(handle.db);
      await expect(store.evaluate('channel_sync_webhooks', { channel: 'hipcamp', parkId: 'park-p' })).rejects.toThrow(/flag_settings/);
    } finally {
      await handle.close();
    }
  });
});

describe('flag evaluations kept by a process', () => {
  it('follow a change another process writes once the settings expire', async () => {
    const scope = { channel: 'kept', parkId: 'park-q' };
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      expect(await harness.ctx.flags.evaluate('channel_sync_webhooks', scope)).toBe('shadow');
      // Another process writes the table directly; this process's store is not notified.
      await harness.ctx.db
        .insertInto('flag_settings')
        .values({ flag: 'channel_sync_webhooks', channel: 'kept', park_id: 'park-q', value: 'off', updated_by: 'test' })
        .execute();
      expect(await harness.ctx.flags.evaluate('channel_sync_webhooks', scope)).toBe('shadow');
      vi.setSystemTime(Date.now() + 2_500);
      expect(await harness.ctx.flags.evaluate('channel_sync_webhooks', scope)).toBe('off');
      expect(await harness.ctx.flags.evaluate('channel_sync_webhooks', { channel: 'kept' })).toBe('shadow');
    } finally {
      vi.useRealTimers();
    }
  });
});

/*
 * An independent model of resolveFlag. Of the settings for the flag that match
 * the scope, the one with the highest rank wins (global 0, channel 1, park 2,
 * connection 3). When none matches, the flag's default applies.
 */
const FLAG_NAMES = Object.keys(FLAGS) as FlagName[];
const CHANNELS = ['', 'booking', 'airbnb'];
const PARKS = ['', 'park-p', 'park-q'];

function rankOf(setting: Pick<FlagSetting, 'channel' | 'parkId'>): number {
  return (setting.parkId !== '' ? 2 : 0) + (setting.channel !== '' ? 1 : 0);
}

function matches(setting: FlagSetting, flag: FlagName, scope: FlagScope): boolean {
  return (
    setting.flag === flag &&
    (setting.channel === '' || setting.channel === scope.channel) &&
    (setting.parkId === '' || setting.parkId === scope.parkId)
  );
}

function narrowestMatch(flag: FlagName, settings: readonly FlagSetting[], scope: FlagScope): FlagSetting | undefined {
  return settings.filter((setting) => matches(setting, flag, scope)).sort((a, b) => rankOf(b) - rankOf(a))[0];
}

function modelResolve(flag: FlagName, settings: readonly FlagSetting[], scope: FlagScope): string {
  return narrowestMatch(flag, settings, scope)?.value ?? FLAGS[flag].defaultValue;
}

function valuesOf(flag: FlagName): string[] {
  return FLAGS[flag].values.map((allowed) => (typeof allowed === 'string' ? allowed : 'cadence:hourly'));
}

const SETTING_KEYS = FLAG_NAMES.flatMap((flag) => CHANNELS.flatMap((channel) => PARKS.map((parkId) => ({ flag, channel, parkId }))));

/**
 * Each possible (flag, channel, park) key is set with probability one half, so
 * most runs hold settings at several ranks at once. The key is unique, as the
 * flag_settings primary key makes it.
 */
const settingsArbitrary: fc.Arbitrary<FlagSetting[]> = fc
  .tuple(...SETTING_KEYS.map((key) => fc.option(fc.constantFrom(...valuesOf(key.flag)), { freq: 2 })))
  .map((values) =>
    SETTING_KEYS.flatMap((key, index) => {
      const value = values[index];
      return value === null || value === undefined ? [] : [{ ...key, value }];
    }),
  );

const scopeArbitrary: fc.Arbitrary<FlagScope> = fc.record({
  channel: fc.constantFrom(undefined, 'booking', 'airbnb', 'pitchup'),
  parkId: fc.constantFrom(undefined, 'park-p', 'park-q', 'park-r'),
});

describe('resolveFlag', () => {
  it('matches the narrowest-wins model', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FLAG_NAMES), settingsArbitrary, scopeArbitrary, (flag, settings, scope) => {
        expect(resolveFlag(flag, settings, scope)).toBe(modelResolve(flag, settings, scope));
      }),
    );
  });

  it('ignores the order of settings', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FLAG_NAMES),
        settingsArbitrary.chain((settings) => fc.tuple(fc.constant(settings), fc.shuffledSubarray(settings, { minLength: settings.length }))),
        scopeArbitrary,
        (flag, [settings, shuffled], scope) => {
          expect(resolveFlag(flag, shuffled, scope)).toBe(resolveFlag(flag, settings, scope));
        },
      ),
    );
  });

  it('returns an allowed value', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FLAG_NAMES), settingsArbitrary, scopeArbitrary, (flag, settings, scope) => {
        expect(isAllowedValue(flag, resolveFlag(flag, settings, scope))).toBe(true);
      }),
    );
  });

  it('is not changed by a broader setting', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FLAG_NAMES), settingsArbitrary, scopeArbitrary, fc.nat(), (flag, settings, scope, pick) => {
        const winner = narrowestMatch(flag, settings, scope);
        fc.pre(winner !== undefined);
        const broaderKeys = [
          { channel: '', parkId: '' },
          { channel: scope.channel ?? '', parkId: '' },
          { channel: '', parkId: scope.parkId ?? '' },
        ].filter((key) => rankOf(key) < rankOf(winner!));
        fc.pre(broaderKeys.length > 0);
        const key = broaderKeys[pick % broaderKeys.length]!;
        const values = valuesOf(flag);
        const value = values[pick % values.length]!;
        const changed = [
          ...settings.filter((setting) => !(setting.flag === flag && setting.channel === key.channel && setting.parkId === key.parkId)),
          { flag, ...key, value },
        ];
        expect(resolveFlag(flag, changed, scope)).toBe(resolveFlag(flag, settings, scope));
      }),
    );
  });

  it('ignores settings of other flags and other scopes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FLAG_NAMES), settingsArbitrary, scopeArbitrary, (flag, settings, scope) => {
        const relevant = settings.filter((setting) => matches(setting, flag, scope));
        expect(resolveFlag(flag, relevant, scope)).toBe(resolveFlag(flag, settings, scope));
      }),
    );
  });
});
