import { createHash, randomBytes } from 'node:crypto';
import type { Executor } from '../audit/audit.ts';

export const SCOPES = ['read', 'ops', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Each scope includes the ones ranked below it: admin can do what ops and read can. */
const SCOPE_RANK: Record<Scope, number> = { read: 1, ops: 2, admin: 3 };

/** The caller behind a bearer token. */
export interface Principal {
  tokenId: string;
  scopes: Scope[];
  /** Parks the token may act on; null means every park. */
  parkIds: string[] | null;
  /** Channel a pull token belongs to; null for operator tokens. */
  channel: string | null;
}

export const BOOTSTRAP_TOKEN_ID = 'tok_bootstrap';
const TOKEN_PREFIX = 'pst_';

/**
 * Hashes a token for storage. Tokens carry 256 random bits, so a fast hash is
 * enough: there is no low-entropy password to brute-force.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function generateToken(): { tokenId: string; token: string } {
  return {
    tokenId: `tok_${randomBytes(8).toString('hex')}`,
    token: `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`,
  };
}

export function hasScope(principal: Principal, needed: Scope): boolean {
  return principal.scopes.some((scope) => SCOPE_RANK[scope] >= SCOPE_RANK[needed]);
}

export function canAccessPark(principal: Principal, parkId: string): boolean {
  return principal.parkIds === null || principal.parkIds.includes(parkId);
}

/** Looks up a bearer token by hash; revoked and unknown tokens give undefined. */
export async function findPrincipal(db: Executor, token: string): Promise<Principal | undefined> {
  const row = await db
    .selectFrom('api_tokens')
    .select(['token_id', 'scopes', 'park_ids', 'channel'])
    .where('token_hash', '=', hashToken(token))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    tokenId: row.token_id,
    scopes: row.scopes.filter((scope): scope is Scope => (SCOPES as readonly string[]).includes(scope)),
    parkIds: row.park_ids,
    channel: row.channel,
  };
}

export interface NewToken {
  scopes: Scope[];
  parkIds?: string[] | null;
  channel?: string | null;
  label?: string | null;
  createdBy: string;
}

/** Stores a new token's hash and returns the token itself, which is shown only this once. */
export async function createToken(db: Executor, input: NewToken): Promise<{ tokenId: string; token: string }> {
  const generated = generateToken();
  await db
    .insertInto('api_tokens')
    .values({
      token_id: generated.tokenId,
      token_hash: hashToken(generated.token),
      scopes: input.scopes,
      park_ids: input.parkIds ?? null,
      channel: input.channel ?? null,
      label: input.label ?? null,
      created_by: input.createdBy,
    })
    .execute();
  return generated;
}

/** Creates or refreshes the admin token given by PARKSYNC_ADMIN_TOKEN; a changed value replaces the old one. */
export async function upsertBootstrapToken(db: Executor, token: string): Promise<void> {
  await db
    .insertInto('api_tokens')
    .values({
      token_id: BOOTSTRAP_TOKEN_ID,
      token_hash: hashToken(token),
      scopes: ['admin'],
      park_ids: null,
      channel: null,
      label: 'PARKSYNC_ADMIN_TOKEN',
      created_by: 'environment',
    })
    .onConflict((conflict) =>
      conflict.column('token_id').doUpdateSet({ token_hash: hashToken(token), revoked_at: null, scopes: ['admin'] }),
    )
    .execute();
}

export async function countActiveTokens(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('api_tokens')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('revoked_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
