// Idempotency keys as Stripe defines them, stored in Postgres (idempotency_keys): the first request
// with a key claims it; a retry with the same body gets the stored answer; another body gets 422;
// a retry while the first is still running gets 409. The key row is completed inside the same
// transaction as the work it guards, so "user created" and "answer stored" cannot disagree.
import { createHash, createHmac } from 'node:crypto';
import type pg from 'pg';

/** The pool, or the client a signup transaction runs on (see plugins/pg.ts for why not Prisma). */
export type Queryable = Pick<pg.PoolClient, 'query'>;

export const SIGNUP_SCOPE = 'POST /v1/signup';
/** A claim older than this is taken to belong to a crashed request and may be taken over. */
export const STALE_LOCK_SECONDS = 60;

/** Sorted-key JSON, so that `{a,b}` and `{b,a}` are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : 1,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Fingerprint of a request body. Keyed (HMAC) because the body holds a password: a plain hash
 * stored in the database could be brute-forced offline.
 */
export function requestFingerprint(secret: string | Buffer, body: unknown): string {
  return createHmac('sha256', secret).update(canonicalJson(body)).digest('hex');
}

/**
 * The HMAC key of request fingerprints, derived from the signing key so that every replica has the
 * same one without another secret to distribute, and so that it is never stored beside the rows.
 */
export function fingerprintSecret(privateKeyPem: string): Buffer {
  return createHash('sha256').update('idempotency-fingerprint\n').update(privateKeyPem).digest();
}

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'mismatch' }
  | { kind: 'in_flight' }
  | { kind: 'completed'; status: number; body: unknown; resourceId: string | null };

/** Claims `key` for this request, or says what the earlier request with it left. */
export async function claimKey(
  db: Queryable,
  scope: string,
  key: string,
  fingerprint: string,
  ttlHours: number,
): Promise<Claim> {
  // Claims a fresh key, an expired one, or one whose owner died mid-request (same body only).
  const claimed = await db.query(
    `INSERT INTO idempotency_keys (scope, key, request_hash, state, locked_at, expires_at)
     VALUES ($1, $2, $3, 'in_flight', now(), now() + make_interval(hours => $4))
     ON CONFLICT (scope, key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash, state = 'in_flight', locked_at = now(),
            response_status = NULL, response_body = NULL, resource_id = NULL,
            created_at = now(), expires_at = EXCLUDED.expires_at
      WHERE idempotency_keys.expires_at < now()
         OR (idempotency_keys.state = 'in_flight'
             AND idempotency_keys.request_hash = EXCLUDED.request_hash
             AND idempotency_keys.locked_at < now() - make_interval(secs => $5))
     RETURNING key`,
    [scope, key, fingerprint, ttlHours, STALE_LOCK_SECONDS],
  );
  if (claimed.rowCount === 1) return { kind: 'claimed' };
  const { rows } = await db.query<{
    request_hash: string;
    state: string;
    response_status: number | null;
    response_body: unknown;
    resource_id: string | null;
  }>(
    `SELECT request_hash, state, response_status, response_body, resource_id
       FROM idempotency_keys WHERE scope = $1 AND key = $2`,
    [scope, key],
  );
  const row = rows[0];
  // Gone between the two statements (expired and pruned): claim again.
  if (!row) return claimKey(db, scope, key, fingerprint, ttlHours);
  if (row.request_hash !== fingerprint) return { kind: 'mismatch' };
  if (row.state !== 'completed' || row.response_status === null) return { kind: 'in_flight' };
  return {
    kind: 'completed',
    status: row.response_status,
    body: row.response_body,
    resourceId: row.resource_id,
  };
}

/** Stores the answer; call it inside the transaction that did the work. */
export async function completeKey(
  db: Queryable,
  scope: string,
  key: string,
  status: number,
  body: unknown,
  resourceId: string | null,
): Promise<void> {
  await db.query(
    `UPDATE idempotency_keys
        SET state = 'completed', response_status = $3, response_body = $4::jsonb, resource_id = $5, locked_at = NULL
      WHERE scope = $1 AND key = $2`,
    [scope, key, status, JSON.stringify(body), resourceId],
  );
}

/** Forgets a claim whose request failed on our side, so that a retry can run it again. */
export async function releaseKey(db: Queryable, scope: string, key: string): Promise<void> {
  await db.query(
    `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_flight'`,
    [scope, key],
  );
}
