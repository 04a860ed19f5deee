import { parse, protocol, type PGlite, type Results } from '@electric-sql/pglite';
import { isMarked, statementName } from './prepared.ts';

/** Statements the PGlite session keeps prepared; queries beyond these are parsed and planned each time. */
const PREPARED_PER_SESSION = 256;

const { serialize } = protocol;

/** A statement prepared in the session: its parameter types and the description of its rows, if it returns any. */
interface PreparedStatement {
  parameterTypes: number[];
  rowDescription: BackendMessage | undefined;
}

type BackendMessage = Awaited<ReturnType<PGlite['execProtocolStream']>>[number];

/**
 * Wraps PGlite so that the statements marked with `prepared` are prepared
 * once in its session and then only bound and executed, as the node-postgres
 * pool does on each PostgreSQL connection. PGlite's own `query` parses and
 * analyses every statement again, which was most of the cost of the long
 * webhook statement. Everything else goes to `query` unchanged.
 *
 * Only Kysely's PGlite dialect calls the wrapper, and the dialect lends its
 * one connection to one caller at a time, so the messages of a statement
 * never interleave with another caller's.
 */
export function preparingPglite(client: PGlite): PGlite {
  const statements = new Map<string, PreparedStatement>();

  const prepare = async (name: string, text: string): Promise<PreparedStatement> => {
    const messages = await client.execProtocolStream(
      joinMessages([serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync()]),
      { syncToFs: false },
    );
    const parameters = messages.find((message) => message.name === 'parameterDescription') as { dataTypeIDs?: number[] } | undefined;
    const statement = {
      parameterTypes: parameters?.dataTypeIDs ?? [],
      rowDescription: messages.find((message) => message.name === 'rowDescription'),
    };
    statements.set(name, statement);
    return statement;
  };

  // Bind, Execute and Sync go in one call: PGlite reads every message in the buffer, and after an error it
  // skips to the Sync, so the session is ready for the next statement either way. The row description
  // read when the statement was prepared replaces a Describe at every execution.
  const runPrepared = async (name: string, text: string, values: readonly unknown[]): Promise<Results> => {
    const statement = statements.get(name) ?? (await prepare(name, text));
    const serialized = values.map((value, index) => serializeValue(client, value, statement.parameterTypes[index]));
    const messages = await client.execProtocolStream(
      joinMessages([serialize.bind({ statement: name, values: serialized }), serialize.execute({}), serialize.sync()]),
      { syncToFs: false },
    );
    await client.syncToFs();
    const described = statement.rowDescription ? [statement.rowDescription, ...messages] : messages;
    const [result] = parse.parseResults(described, client.parsers);
    if (!result) throw new Error('PGlite returned no result for a prepared statement');
    return result;
  };

  const query = (text: string, values?: unknown[], options?: Parameters<PGlite['query']>[2]) => {
    if (options !== undefined || !isMarked(text, values)) return client.query(text, values, options);
    const name = statementName(text);
    if (!statements.has(name) && statements.size >= PREPARED_PER_SESSION) return client.query(text, values);
    return client.runExclusive(() => runPrepared(name, text, values ?? []));
  };

  // PGlite's methods read private fields, so they are called on the client itself, never on the proxy.
  return new Proxy(client, {
    get: (target, property) => {
      if (property === 'query') return query;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Joins protocol messages into one buffer, so PGlite takes them in one call. */
function joinMessages(messages: readonly Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(messages.reduce((length, message) => length + message.length, 0));
  let offset = 0;
  for (const message of messages) {
    joined.set(message, offset);
    offset += message.length;
  }
  return joined;
}

/** Turns a parameter into PGlite's text form for its type, as PGlite's own `query` does. */
function serializeValue(client: PGlite, value: unknown, type: number | undefined): string | null {
  if (value === null || value === undefined) return null;
  const serializer = type === undefined ? undefined : client.serializers[type];
  return serializer ? serializer(value) : String(value);
}
