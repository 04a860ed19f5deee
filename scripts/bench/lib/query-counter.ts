import { performance } from 'node:perf_hooks';
import pg from 'pg';

/**
 * Counts the statements node-postgres sends from this process, and the time
 * each takes as the client sees it. Every pg query is one round trip to the
 * server (BEGIN and COMMIT too), so the count per webhook is the number of
 * round trips the pipeline makes. It patches pg.Client.prototype.query in this
 * process only, until stop() puts the original back.
 */

export interface StatementStats {
  statement: string;
  count: number;
  totalMs: number;
}

export interface QueryCounter {
  reset(): void;
  totalQueries(): number;
  totalMs(): number;
  statements(): StatementStats[];
  stop(): void;
}

type QueryMethod = (this: pg.Client, ...args: unknown[]) => unknown;

/** Shortens a statement to a label: whitespace collapsed, the first 90 characters. */
function label(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 90);
}

export function startQueryCounter(): QueryCounter {
  const prototype = pg.Client.prototype as unknown as { query: QueryMethod };
  const original = prototype.query;
  const byStatement = new Map<string, StatementStats>();

  const record = (text: string, elapsedMs: number) => {
    const key = label(text);
    const stats = byStatement.get(key) ?? { statement: key, count: 0, totalMs: 0 };
    stats.count += 1;
    stats.totalMs += elapsedMs;
    byStatement.set(key, stats);
  };

  prototype.query = function patchedQuery(this: pg.Client, ...args: unknown[]) {
    const config = args[0];
    const text = typeof config === 'string' ? config : ((config as { text?: string } | undefined)?.text ?? '(unknown)');
    const started = performance.now();
    const result = original.apply(this, args);
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(
        () => record(text, performance.now() - started),
        () => record(text, performance.now() - started),
      );
    }
    return result;
  };

  return {
    reset: () => byStatement.clear(),
    totalQueries: () => [...byStatement.values()].reduce((sum, stats) => sum + stats.count, 0),
    totalMs: () => [...byStatement.values()].reduce((sum, stats) => sum + stats.totalMs, 0),
    statements: () => [...byStatement.values()].sort((a, b) => b.totalMs - a.totalMs),
    stop: () => {
      prototype.query = original;
    },
  };
}
