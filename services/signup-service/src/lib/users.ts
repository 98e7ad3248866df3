// The signup transaction (user + profile + outbox event, and the idempotency answer when there is
// one) and the login lookup. SQL through `pg` because the transaction spans the outbox library too.
import { makeEnvelope, type UserSignedUpV1 } from '@app/contracts';
import { enqueue } from '@app/outbox';
import type pg from 'pg';
import { completeKey } from './idempotency.js';

export interface NewUser {
  email: string;
  passwordHash: string;
  displayName: string;
}

export interface SignupContext {
  subject: string;
  traceparent: string;
  /** When the request carries an Idempotency-Key: stored in the same transaction. */
  idempotency?: { scope: string; key: string };
}

export type SignupResult =
  { ok: true; userId: string; eventId: string } | { ok: false; reason: 'EMAIL_TAKEN' };

const UNIQUE_VIOLATION = '23505';

export async function createUser(
  pool: pg.Pool,
  user: NewUser,
  ctx: SignupContext,
): Promise<SignupResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const userId = crypto.randomUUID();
    const inserted = await client.query(
      `INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)
       ON CONFLICT (email) DO NOTHING RETURNING id`,
      [userId, user.email, user.passwordHash],
    );
    if (inserted.rowCount !== 1) {
      await client.query('ROLLBACK');
      return { ok: false, reason: 'EMAIL_TAKEN' };
    }
    await client.query(`INSERT INTO profiles (user_id, display_name) VALUES ($1, $2)`, [
      userId,
      user.displayName,
    ]);
    const envelope: UserSignedUpV1 = makeEnvelope('user.signed_up', 1, {
      userId,
      email: user.email,
      displayName: user.displayName,
    });
    await enqueue(client, { subject: ctx.subject, envelope, traceparent: ctx.traceparent });
    if (ctx.idempotency) {
      await completeKey(
        client,
        ctx.idempotency.scope,
        ctx.idempotency.key,
        201,
        { userId },
        userId,
      );
    }
    await client.query('COMMIT');
    return { ok: true, userId, eventId: envelope.id };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    // Two concurrent signups for one email: the loser waits on the winner's row, then conflicts.
    if ((err as { code?: string }).code === UNIQUE_VIOLATION)
      return { ok: false, reason: 'EMAIL_TAKEN' };
    throw err;
  } finally {
    client.release();
  }
}

export async function findCredentials(
  pool: pg.Pool,
  email: string,
): Promise<{ id: string; passwordHash: string } | undefined> {
  const { rows } = await pool.query<{ id: string; password_hash: string }>(
    'SELECT id, password_hash FROM users WHERE email = $1',
    [email],
  );
  const row = rows[0];
  return row ? { id: row.id, passwordHash: row.password_hash } : undefined;
}
