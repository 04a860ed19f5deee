import { createHash } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/** Statements one connection keeps prepared; queries beyond these are parsed and planned each time. */
const PREPARED_PER_CONNECTION = 256;
/** Statement texts whose names are remembered, so a hot statement is hashed once. */
const REMEMBERED_NAMES = 4096;

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
 * Wraps a node-postgres pool so that each connection prepares the statements
 * it runs: PostgreSQL then parses a statement once per connection instead of
 * on every call, and may reuse its plan. The webhook statements are long
 * (several common table expressions), so this saves most of their server
 * time. Statements without parameters (BEGIN, COMMIT) and cursors pass
 * through unchanged.
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
        if (values.length === 0) return client.query(textOrCursor, values);
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
