import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

export type Executor = Kysely<Database> | Transaction<Database>;

export interface AuditEntry {
  actor: string;
  action: string;
  parkId?: string | null;
  channel?: string | null;
  details?: Record<string, unknown>;
  note?: string | null;
  requestId?: string | null;
}

/** Writes one audit row; call it inside the transaction of the change it describes. Never pass secrets in details. */
export async function recordAudit(executor: Executor, entry: AuditEntry): Promise<void> {
  await executor
    .insertInto('audit_log')
    .values({
      actor: entry.actor,
      action: entry.action,
      park_id: entry.parkId ?? null,
      channel: entry.channel ?? null,
      details: entry.details ? JSON.stringify(entry.details) : null,
      note: entry.note ?? null,
      request_id: entry.requestId ?? null,
    })
    .execute();
}
