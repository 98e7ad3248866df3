// The signup transaction (user, profile, outbox event and, when the request has one, the
// idempotency answer, committed together) as parameterised SQL on the `pg` pool, the hot path
// (plugins/pg.ts says why not Prisma there), and the login lookup through Prisma Client.
import { randomUUID } from 'node:crypto';
import { makeEnvelope, type UserSignedUpV1 } from '@app/contracts';
import type { PrismaClient } from '@app/db';
import { enqueue } from '@app/outbox';
import { isUniqueViolation, withPoolClient, withSpan } from '@app/platform';
import type pg from 'pg';
import { completeKey } from './idempotency.js';

export interface NewUser {
  email: string;
  passwordHash: string;
  displayName: string;
}

export interface SignupContext {
  /** The service that writes the event: only its own relay publishes it. */
  producer: string;
  subject: string;
  traceparent: string;
  /** When the request carries an Idempotency-Key: stored in the same transaction. */
  idempotency?: { scope: string; key: string };
}

export type SignupResult =
  { ok: true; userId: string; eventId: string } | { ok: false; reason: 'EMAIL_TAKEN' };

/** The signup transaction, one span when traced (its statements and the enqueue inside). */
export function createUser(
  pool: pg.Pool,
  user: NewUser,
  ctx: SignupContext,
): Promise<SignupResult> {
  return withSpan('signup transaction', {}, async (span) => {
    const result = await createUserTx(pool, user, ctx);
    span?.setAttribute('signup.outcome', result.ok ? 'created' : result.reason);
    return result;
  });
}

async function createUserTx(
  pool: pg.Pool,
  user: NewUser,
  ctx: SignupContext,
): Promise<SignupResult> {
  // withPoolClient: a connection lost between two statements must fail this signup, not crash.
  return withPoolClient<pg.PoolClient, SignupResult>(pool, (client) =>
    signupStatements(client, user, ctx),
  );
}

async function signupStatements(
  client: pg.PoolClient,
  user: NewUser,
  ctx: SignupContext,
): Promise<SignupResult> {
  try {
    await client.query('BEGIN');
    const userId = randomUUID();
    // citext: an email differing only in case conflicts too.
    const inserted = await client.query(
      `INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)
       ON CONFLICT (email) DO NOTHING`,
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
    await enqueue(client, {
      producer: ctx.producer,
      subject: ctx.subject,
      envelope,
      traceparent: ctx.traceparent,
    });
    if (ctx.idempotency) {
      const { scope, key } = ctx.idempotency;
      await completeKey(client, scope, key, 201, { userId }, userId);
    }
    await client.query('COMMIT');
    return { ok: true, userId, eventId: envelope.id };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    // Two concurrent signups for one email: the loser waits on the winner's row, then conflicts.
    if (isUniqueViolation(err, 'users_email_key')) return { ok: false, reason: 'EMAIL_TAKEN' };
    throw err;
  }
}

/** The login lookup; citext matches the email whatever its case. */
export async function findCredentials(
  prisma: PrismaClient,
  email: string,
): Promise<{ id: string; passwordHash: string } | null> {
  return prisma.user.findUnique({ where: { email }, select: { id: true, passwordHash: true } });
}
