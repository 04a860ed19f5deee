import { createHash } from 'node:crypto';
import { sql, type PostgresPool, type PostgresPoolClient, type RawBuilder } from 'kysely';
import type pg from 'pg';

/** Statements one connection keeps prepared; queries beyond these are parsed and planned each time. */
const PREPARED_PER_CONNECTION = 256;
/** Statement texts whose names are remembered, so a hot statement is hashed once. */
const REMEMBERED_NAMES = 1024;
/**
 * Maximum length, in characters, of a statement text that is prepared. A webhook with
 * many updates builds a long statement of its own shape, and keeping those
 * in every connection would cost memory for a plan that is seldom reused.
 */
const MAX_PREPARED_LENGTH = 16_384;

/** The comment that opens a statement built with `prepared`; the pool prepares only statements that start with it. */
const PREPARED_MARK = '/* prepared */';

const names = new Map<string, string>();
const preparedBy = new WeakMap<pg.PoolClient, Set<string>>();

/** Returns the name a statement text is prepared under: the same text always gets the same name. */
export function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `parksync_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
    if (names.size < REMEMBERED_NAMES) names.set(text, name);
  }
  return name;
}

/** Marks a statement text to be prepared, as `prepared` does for a Kysely statement. */
export function preparedText(text: string): string {
  return `${PREPARED_MARK} ${text}`;
}

/**
 * Marks a statement to be prepared on each PostgreSQL connection that runs
 * it, so the server parses it once per connection and may reuse a generic
 * plan. Use it only for hot statements whose plan does not depend on the
 * values: a generic plan for a query whose best plan depends on them (how
 * many rows a filter leaves, say) can be far slower. On PGlite the statement
 * is prepared in its one session instead (pglite-prepared.ts).
 */
export function prepared<T>(statement: RawBuilder<T>): RawBuilder<T> {
  return sql<T>`${sql.raw(PREPARED_MARK)} ${statement}`;
}

/** Returns true for a statement marked with `prepared`, with parameters, and short enough to keep prepared. */
export function isMarked(text: string, parameters: ReadonlyArray<unknown> | undefined): boolean {
  return parameters !== undefined && parameters.length > 0 && text.length <= MAX_PREPARED_LENGTH && text.startsWith(PREPARED_MARK);
}

/** Runs a statement on a client, as a named prepared statement when it is marked and the client has room for it. */
function runOn(client: pg.PoolClient, text: string, parameters: ReadonlyArray<unknown> | undefined) {
  const values = parameters ? [...parameters] : [];
  if (!isMarked(text, parameters)) return client.query(text, values);
  let statements = preparedBy.get(client);
  if (!statements) {
    statements = new Set();
    preparedBy.set(client, statements);
  }
  const name = statementName(text);
  if (!statements.has(name)) {
    if (statements.size >= PREPARED_PER_CONNECTION) return client.query(text, values);
    statements.add(name);
  }
  return client.query({ name, text, values });
}

/**
 * Wraps node-postgres pools so that each connection prepares the statements
 * marked with `prepared`. The webhook statements are long (several common
 * table expressions), and parsing and planning them was most of their server
 * time. Other statements and cursors pass through unchanged.
 *
 * A connection is taken from a pool at its first statement, not before. A
 * marked statement that runs alone goes to `genericPool` when there is one:
 * its connections are opened with plan_cache_mode=force_generic_plan, so the
 * server plans such a statement once per connection instead of at every
 * execution, which it would otherwise keep doing because a custom plan for
 * the exact array lengths always looks cheaper. Anything else, a
 * transaction's BEGIN included, takes its connection from `pool`, where
 * plans are chosen for the values as usual.
 */
export function preparingPool(pool: pg.Pool, genericPool?: pg.Pool): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      // The first statement chooses the pool; a statement sent before that connection is open waits for it.
      let connecting: Promise<pg.PoolClient> | undefined;
      const clientFor = (text: unknown, parameters: ReadonlyArray<unknown> | undefined) => {
        const useGeneric = genericPool !== undefined && typeof text === 'string' && isMarked(text, parameters);
        connecting ??= (useGeneric ? genericPool : pool).connect();
        return connecting;
      };
      const query = async (textOrCursor: unknown, parameters?: ReadonlyArray<unknown>) => {
        const target = await clientFor(textOrCursor, parameters);
        if (typeof textOrCursor !== 'string') return target.query(textOrCursor as pg.Submittable);
        return runOn(target, textOrCursor, parameters);
      };
      const release = (destroy?: boolean) => {
        connecting?.then((client) => client.release(destroy)).catch(() => undefined);
      };
      return {
        // One function serves both overloads of the interface; the branches above tell them apart.
        query: query as unknown as PostgresPoolClient['query'],
        release,
      };
    },
    end: async () => {
      await Promise.all([pool.end(), genericPool?.end()]);
    },
  };
}
