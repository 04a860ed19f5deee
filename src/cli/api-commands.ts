import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { callApi } from './client.ts';
import { boolean, defined, integer, list, rateLimit, run, stayLength } from './options.ts';

function readJsonFile(file: string): unknown {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

const enc = encodeURIComponent;

function registerParks(program: Command): void {
  const parks = program.command('parks').description('Create and read parks');
  parks
    .command('create')
    .description('Create a park (POST /parks)')
    .requiredOption('--park-id <id>', 'park id: 2-64 of a-z, 0-9 and "-"')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--timezone <zone>', 'IANA timezone, such as Europe/Amsterdam')
    .requiredOption('--currency <code>', 'ISO 4217 currency code, such as EUR')
    .action(
      run((client, options: { parkId: string; name: string; timezone: string; currency: string }) =>
        callApi(client, 'POST', '/parks', options),
      ),
    );
  parks
    .command('get')
    .description('Read a park with its unit types and connections (GET /parks/{parkId})')
    .argument('<parkId>')
    .action(run((client, parkId: string) => callApi(client, 'GET', `/parks/${enc(parkId)}`)));
  parks
    .command('list')
    .description('List the parks the token may see (GET /parks)')
    .action(run((client) => callApi(client, 'GET', '/parks')));
}

function registerUnitTypes(program: Command): void {
  const unitTypes = program.command('unit-types').description('Create and change unit types');
  unitTypes
    .command('put')
    .description('Create or replace a unit type (PUT /parks/{parkId}/unit-types/{unitTypeId})')
    .argument('<parkId>')
    .argument('<unitTypeId>')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--units <count>', 'number of physical units', integer)
    .action(
      run((client, parkId: string, unitTypeId: string, options: { name: string; units: number }) =>
        callApi(client, 'PUT', `/parks/${enc(parkId)}/unit-types/${enc(unitTypeId)}`, options),
      ),
    );
}

function registerChannels(program: Command): void {
  const channels = program.command('channels').description('Connections between a park and a channel');
  channels
    .command('put')
    .description('Create a connection (prints its signing secret once) or change its settings (PUT /parks/{parkId}/channels/{channel})')
    .argument('<parkId>')
    .argument('<channel>')
    .option('--endpoint-url <url>', 'where outbound deliveries are sent')
    .option('--adapter <name>', 'outbound adapter, such as generic-json')
    .option('--rate-limit-in <perSecond/burst>', 'inbound webhook limit, such as 20/40', rateLimit)
    .option('--rate-limit-out <perSecond/burst>', 'outbound delivery limit, such as 10/20', rateLimit)
    .option('--max-attempts <count>', 'delivery attempts before the dead-letter queue', integer)
    .addOption(new Option('--enabled <bool>', 'enable or disable the connection').argParser(boolean))
    .action(
      run((client, parkId: string, channel: string, options: Record<string, unknown>) =>
        callApi(client, 'PUT', `/parks/${enc(parkId)}/channels/${enc(channel)}`, defined(options)),
      ),
    );
  channels
    .command('get')
    .description('Read a connection (GET /parks/{parkId}/channels/{channel})')
    .argument('<parkId>')
    .argument('<channel>')
    .action(run((client, parkId: string, channel: string) => callApi(client, 'GET', `/parks/${enc(parkId)}/channels/${enc(channel)}`)));
  channels
    .command('rotate-secret')
    .description('Rotate the signing secret; prints the new secret once (POST .../rotate-secret)')
    .argument('<parkId>')
    .argument('<channel>')
    .option('--grace-seconds <seconds>', 'how long the previous secret keeps verifying (default 86400)', integer)
    .option('--note <text>', 'why, for the audit log')
    .action(
      run((client, parkId: string, channel: string, options: { graceSeconds?: number; note?: string }) =>
        callApi(client, 'POST', `/parks/${enc(parkId)}/channels/${enc(channel)}/rotate-secret`, defined(options)),
      ),
    );
  channels
    .command('skew-window')
    .description('Widen (or narrow) the clock-skew window until an expiry, with an audit note (PUT .../skew-window)')
    .argument('<parkId>')
    .argument('<channel>')
    .requiredOption('--seconds <seconds>', 'allowed clock skew either way, in seconds', integer)
    .requiredOption('--expires-in <seconds>', 'when the window falls back to 300 s, in seconds from now', integer)
    .requiredOption('--note <text>', 'why, for the audit log')
    .action(
      run((client, parkId: string, channel: string, options: { seconds: number; expiresIn: number; note: string }) =>
        callApi(client, 'PUT', `/parks/${enc(parkId)}/channels/${enc(channel)}/skew-window`, {
          seconds: options.seconds,
          expiresInSeconds: options.expiresIn,
          note: options.note,
        }),
      ),
    );
}

function registerRunbook(program: Command): void {
  const channels = program.commands.find((command) => command.name() === 'channels') ?? program.command('channels');
  channels
    .command('pause')
    .description("Pause a channel's connections; deliveries wait and webhooks get 503 (POST /channels/{channel}/pause)")
    .argument('<channel>')
    .requiredOption('--reason <text>', 'why, shown on the connection and in the audit log')
    .option('--park-id <id>', 'only this park (default: every park of the channel)')
    .action(
      run((client, channel: string, options: { reason: string; parkId?: string }) =>
        callApi(client, 'POST', `/channels/${enc(channel)}/pause`, defined(options)),
      ),
    );
  channels
    .command('resume')
    .description('Resume after the health check passes; waiting deliveries drain (POST /channels/{channel}/resume)')
    .argument('<channel>')
    .option('--park-id <id>', 'only this park (default: every paused park of the channel)')
    .option('--force', 'resume without the health check')
    .option('--note <text>', 'why, for the audit log')
    .action(
      run((client, channel: string, options: { parkId?: string; force?: boolean; note?: string }) =>
        callApi(client, 'POST', `/channels/${enc(channel)}/resume`, defined(options)),
      ),
    );

  const dlq = program.command('dlq').description('Dead-letter queue of outbound deliveries');
  dlq
    .command('list')
    .description('List dead deliveries of a channel (GET /channels/{channel}/dlq)')
    .argument('<channel>')
    .option('--park-id <id>', 'only this park')
    .option('--limit <count>', 'entries per page (max 1000)', integer)
    .option('--before <time>', 'cursor from nextCursor')
    .action(
      run((client, channel: string, options: Record<string, unknown>) => {
        const query = new URLSearchParams(
          Object.fromEntries(Object.entries(defined(options)).map(([key, value]) => [key, String(value)])),
        );
        return callApi(client, 'GET', `/channels/${enc(channel)}/dlq?${query}`);
      }),
    );
  dlq
    .command('retry')
    .description('Redrive dead deliveries with the current state (POST /channels/{channel}/dlq/retry)')
    .argument('<channel>')
    .option('--ids <list>', 'comma-separated delivery ids (default: every dead delivery in scope)', list)
    .option('--park-id <id>', 'only this park')
    .action(
      run((client, channel: string, options: { ids?: string[]; parkId?: string }) =>
        callApi(client, 'POST', `/channels/${enc(channel)}/dlq/retry`, defined(options)),
      ),
    );
}

function registerInventory(program: Command): void {
  const availability = program.command('availability').description('Allotment and restrictions');
  availability
    .command('set')
    .description('Set availability over a date range (POST /parks/{parkId}/availability); --file sends a whole body')
    .argument('<parkId>')
    .option('--file <path>', 'JSON body { updates: [...] }; "-" reads standard input')
    .option('--unit-type <id>', 'unit type id')
    .option('--from <date>', 'first night, YYYY-MM-DD')
    .option('--to <date>', 'last night, inclusive, YYYY-MM-DD')
    .option('--allotment <units>', 'units offered for sale each night', integer)
    .option('--stop-sell <bool>', 'true or false', boolean)
    .option('--min-stay <nights>', 'minimum stay on arrival, or "none" to clear', stayLength)
    .option('--min-stay-through <nights>', 'minimum stay through the night, or "none"', stayLength)
    .option('--max-stay <nights>', 'maximum stay, or "none"', stayLength)
    .option('--closed-to-arrival <bool>', 'true or false', boolean)
    .option('--closed-to-departure <bool>', 'true or false', boolean)
    .action(
      run((client, parkId: string, options: Record<string, unknown>) => {
        const { file, unitType, ...values } = options;
        const body = file
          ? readJsonFile(String(file))
          : { updates: [defined({ unitTypeId: unitType, ...values })] };
        return callApi(client, 'POST', `/parks/${enc(parkId)}/availability`, body);
      }),
    );
  availability
    .command('get')
    .description('Read availability, one item per night (GET /parks/{parkId}/availability)')
    .argument('<parkId>')
    .requiredOption('--from <date>', 'first night')
    .requiredOption('--to <date>', 'last night, inclusive')
    .option('--unit-type <id>', 'only this unit type')
    .action(
      run((client, parkId: string, options: { from: string; to: string; unitType?: string }) => {
        const query = new URLSearchParams(defined({ from: options.from, to: options.to, unitTypeId: options.unitType }) as Record<string, string>);
        return callApi(client, 'GET', `/parks/${enc(parkId)}/availability?${query}`);
      }),
    );

  const rates = program.command('rates').description('Nightly rates');
  rates
    .command('set')
    .description('Set a nightly rate over a date range (POST /parks/{parkId}/rates); --file sends a whole body')
    .argument('<parkId>')
    .option('--file <path>', 'JSON body { currency, updates: [...] }; "-" reads standard input')
    .option('--currency <code>', "the park's currency")
    .option('--unit-type <id>', 'unit type id')
    .option('--rate-plan <id>', 'rate plan id (default "standard")')
    .option('--from <date>', 'first night')
    .option('--to <date>', 'last night, inclusive')
    .option('--amount <decimal>', 'nightly amount as a decimal, such as 129.00')
    .action(
      run((client, parkId: string, options: Record<string, string | undefined>) => {
        const body = options.file
          ? readJsonFile(options.file)
          : {
              currency: options.currency,
              updates: [
                defined({ unitTypeId: options.unitType, ratePlanId: options.ratePlan, from: options.from, to: options.to, amount: options.amount }),
              ],
            };
        return callApi(client, 'POST', `/parks/${enc(parkId)}/rates`, body);
      }),
    );
  rates
    .command('get')
    .description('Read stored rates (GET /parks/{parkId}/rates)')
    .argument('<parkId>')
    .requiredOption('--from <date>', 'first night')
    .requiredOption('--to <date>', 'last night, inclusive')
    .option('--unit-type <id>', 'only this unit type')
    .action(
      run((client, parkId: string, options: { from: string; to: string; unitType?: string }) => {
        const query = new URLSearchParams(defined({ from: options.from, to: options.to, unitTypeId: options.unitType }) as Record<string, string>);
        return callApi(client, 'GET', `/parks/${enc(parkId)}/rates?${query}`);
      }),
    );

  const reservations = program.command('reservations').description('Direct reservations');
  reservations
    .command('create')
    .description('Create or update a direct reservation (POST /parks/{parkId}/reservations)')
    .argument('<parkId>')
    .requiredOption('--unit-type <id>', 'unit type id')
    .requiredOption('--arrival <date>', 'arrival day')
    .requiredOption('--departure <date>', 'departure day (not a night of the stay)')
    .option('--reservation-id <id>', 'your id; generated when left out')
    .addOption(new Option('--status <status>', 'reservation status').choices(['confirmed', 'cancelled']).default('confirmed'))
    .option('--units <count>', 'units booked', integer)
    .option('--guests <count>', 'number of guests', integer)
    .action(
      run((client, parkId: string, options: Record<string, unknown>) => {
        const { unitType, ...rest } = options;
        return callApi(client, 'POST', `/parks/${enc(parkId)}/reservations`, defined({ unitTypeId: unitType, ...rest }));
      }),
    );
  reservations
    .command('get')
    .description('Read a reservation (GET /parks/{parkId}/reservations/{channel}/{reservationId})')
    .argument('<parkId>')
    .argument('<channel>')
    .argument('<reservationId>')
    .action(
      run((client, parkId: string, channel: string, reservationId: string) =>
        callApi(client, 'GET', `/parks/${enc(parkId)}/reservations/${enc(channel)}/${enc(reservationId)}`),
      ),
    );
}

function registerAdmin(program: Command): void {
  const flags = program.command('flags').description('Feature flags');
  flags
    .command('set')
    .description('Set a flag globally, or for a channel, a park, or a connection (PUT /flags/{flag})')
    .argument('<flag>')
    .argument('<value>')
    .option('--channel <channel>', 'limit to this channel')
    .option('--park-id <id>', 'limit to this park')
    .option('--note <text>', 'why, for the audit log')
    .action(
      run((client, flag: string, value: string, options: { channel?: string; parkId?: string; note?: string }) =>
        callApi(client, 'PUT', `/flags/${enc(flag)}`, defined({ value, ...options })),
      ),
    );
  flags
    .command('list')
    .description('List flags, defaults and settings (GET /flags)')
    .action(run((client) => callApi(client, 'GET', '/flags')));
  flags
    .command('get')
    .description('Show the value a flag takes for a channel and park (GET /flags/{flag}/evaluate)')
    .argument('<flag>')
    .option('--channel <channel>')
    .option('--park-id <id>')
    .action(
      run((client, flag: string, options: { channel?: string; parkId?: string }) => {
        const query = new URLSearchParams(defined(options) as Record<string, string>);
        return callApi(client, 'GET', `/flags/${enc(flag)}/evaluate?${query}`);
      }),
    );

  const tokens = program.command('tokens').description('Bearer tokens');
  tokens
    .command('create')
    .description('Create a token; prints it once (POST /tokens)')
    .requiredOption('--scopes <list>', 'comma-separated: read, ops, admin', list)
    .option('--park-ids <list>', 'comma-separated parks the token is limited to', list)
    .option('--channel <channel>', 'make a channel pull token')
    .option('--label <text>', 'what the token is for')
    .action(run((client, options: Record<string, unknown>) => callApi(client, 'POST', '/tokens', defined(options))));
  tokens
    .command('revoke')
    .description('Revoke a token by its id (DELETE /tokens/{tokenId})')
    .argument('<tokenId>')
    .action(run((client, tokenId: string) => callApi(client, 'DELETE', `/tokens/${enc(tokenId)}`)));

  program
    .command('audit')
    .description('Read the audit log, newest first (GET /audit)')
    .option('--park-id <id>')
    .option('--channel <channel>')
    .option('--action <action>')
    .option('--limit <count>', 'entries per page (max 1000)', integer)
    .option('--before <auditId>', 'entries older than this id', integer)
    .action(
      run((client, options: Record<string, unknown>) => {
        const query = new URLSearchParams(
          Object.fromEntries(Object.entries(defined(options)).map(([key, value]) => [key, String(value)])),
        );
        return callApi(client, 'GET', `/audit?${query}`);
      }),
    );
}

export function registerApiCommands(program: Command): void {
  program
    .option('--url <url>', 'parksync API base URL', process.env.PARKSYNC_URL ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'bearer token (default: PARKSYNC_TOKEN, then <data dir>/admin-token)');
  registerParks(program);
  registerUnitTypes(program);
  registerChannels(program);
  registerRunbook(program);
  registerInventory(program);
  registerAdmin(program);
}
