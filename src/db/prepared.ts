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

function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `parksync_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
    if (names.size < REMEMBERED_NAMES) names.set(text, name);
  }
  return name;
}

/**
 * Marks a statement to be prepared on each PostgreSQL connection that runs
 * it, so the server parses it once per connection and may reuse a generic
 * plan. Use it only for hot statements whose plan does not depend on the
 * values: a generic plan for a query whose best plan depends on them (how
 * many rows a filter leaves, say) can be far slower. PGlite ignores it.
 */
export function prepared<T>(statement: RawBuilder<T>): RawBuilder<T> {
  return sql<T>`${sql.raw(PREPARED_MARK)} ${statement}`;
}

/**
 * Wraps a node-postgres pool so that each connection prepares the statements
 * marked with `prepared`. The webhook statements are long (several common
 * table expressions), and parsing and planning them was most of their server
 * time. Other statements and cursors pass through unchanged.
 */
export function preparingPool(pool: pg.Pool): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let prepared = preparedBy.get(client);
      if (!prepared) {
        prepared = new Set();
        preparedBy.set(client, prepared);
      }
      const statements = prepared;
      const query = (textOrCursor: unknown, parameters?: ReadonlyArray<unknown>) => {
        if (typeof textOrCursor !== 'string') return client.query(textOrCursor as pg.Submittable);
        const values = parameters ? [...parameters] : [];
        if (values.length === 0 || textOrCursor.length > MAX_PREPARED_LENGTH || !textOrCursor.startsWith(PREPARED_MARK)) {
          return client.query(textOrCursor, values);
        }
        const name = statementName(textOrCursor);
        if (!statements.has(name)) {
          if (statements.size >= PREPARED_PER_CONNECTION) return client.query(textOrCursor, values);
          statements.add(name);
        }
        return client.query({ name, text: textOrCursor, values });
      };
      return {
        // One function serves both overloads of the interface; the branches above tell them apart.
        query: query as unknown as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy),
      };
    },
    end: () => pool.end(),
  };
}
