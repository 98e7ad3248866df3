// Database errors answered in one place, from real Postgres failures under Prisma: a unique
// violation is a 409 (or the code the route chose), a missing record a 404, a foreign-key
// violation a 409, a lost write conflict a 503 with Retry-After; and the predicates services use
// to turn a violation into their own outcome name the constraint.
import { randomUUID } from 'node:crypto';
import { isolatedDatabase } from '@app/testing';
import t, { type Test } from 'tap';
import {
  createApp,
  httpError,
  isForeignKeyViolation,
  isRecordNotFound,
  isTransactionConflict,
  isUniqueViolation,
  prismaPlugin,
  type App,
} from '../src/index.js';

async function appWithDatabase(t: Test): Promise<App> {
  const db = await isolatedDatabase(t);
  const app = createApp({ name: 'demo', logger: false });
  t.teardown(() => app.close());
  await app.register(prismaPlugin, { databaseUrl: db.url, poolMax: 4 });
  return app;
}

const user = (email: string) => ({ id: randomUUID(), email, passwordHash: 'x' });

/** The error a Prisma call rejects with (fails the test if it resolves). */
async function failure(t: Test, call: Promise<unknown>): Promise<unknown> {
  const outcome = await call.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (outcome === undefined) t.fail('expected the database to refuse');
  return outcome;
}

void t.test('a unique violation: 409 ALREADY_EXISTS, or the code the route chose', async (t) => {
  const app = await appWithDatabase(t);
  app.post('/users', async (request) => {
    await app.prisma.user.create({ data: user((request.body as { email: string }).email) });
    return { ok: true };
  });
  app.post(
    '/signup',
    {
      config: {
        databaseErrors: {
          uniqueViolation: () => httpError(409, 'EMAIL_TAKEN', 'This email is already registered'),
        },
      },
    },
    async (request) => {
      await app.prisma.user.create({ data: user((request.body as { email: string }).email) });
      return { ok: true };
    },
  );
  const post = (url: string) => app.inject({ method: 'POST', url, payload: { email: 'a@b.io' } });

  t.equal((await post('/users')).statusCode, 200);
  const taken = await post('/users');
  t.equal(taken.statusCode, 409);
  t.match(taken.headers['content-type'], /^application\/problem\+json/);
  t.match(taken.json(), { code: 'ALREADY_EXISTS', status: 409 });
  t.notMatch(taken.body, /users_email_key|prisma|P2002/i, 'nothing internal in the body');

  const chosen = await post('/signup');
  t.equal(chosen.statusCode, 409);
  t.match(chosen.json(), {
    code: 'EMAIL_TAKEN',
    type: 'https://errors.demo.example/email-taken',
    title: 'This email is already registered',
  });
});

void t.test('isUniqueViolation names the constraint, through Prisma and raw SQL', async (t) => {
  const app = await appWithDatabase(t);
  await app.ready();
  await app.prisma.user.create({ data: user('a@b.io') });

  const viaClient = await failure(t, app.prisma.user.create({ data: user('A@B.io') }));
  t.ok(isUniqueViolation(viaClient), 'Prisma Client (P2002)');
  t.ok(isUniqueViolation(viaClient, 'users_email_key'), 'of users_email_key');
  t.notOk(isUniqueViolation(viaClient, 'users_pkey'), 'not of another constraint');

  const viaRaw = await failure(
    t,
    app.prisma.$executeRaw`INSERT INTO users (id, email, password_hash)
      VALUES (${randomUUID()}::uuid, 'a@b.io', 'x')`,
  );
  t.ok(isUniqueViolation(viaRaw, 'users_email_key'), 'tagged $executeRaw (P2010 wrapping 23505)');
  t.notOk(isForeignKeyViolation(viaRaw), 'not a foreign-key violation');
  t.notOk(isUniqueViolation(new Error('duplicate key')), 'a message alone is not one');
});

void t.test('a record Prisma needed but did not find: 404 NOT_FOUND', async (t) => {
  const app = await appWithDatabase(t);
  app.patch('/users/:id', async (request) => {
    const { id } = request.params as { id: string };
    await app.prisma.user.update({ where: { id }, data: { passwordHash: 'y' } });
    return { ok: true };
  });
  app.delete(
    '/profiles/:id',
    {
      config: {
        databaseErrors: { notFound: () => httpError(404, 'PROFILE_NOT_FOUND', 'No such profile') },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      await app.prisma.profile.delete({ where: { userId: id } });
      return { ok: true };
    },
  );

  const missing = await app.inject({ method: 'PATCH', url: `/users/${randomUUID()}` });
  t.equal(missing.statusCode, 404);
  t.match(missing.json(), { code: 'NOT_FOUND' });
  const chosen = await app.inject({ method: 'DELETE', url: `/profiles/${randomUUID()}` });
  t.equal(chosen.statusCode, 404);
  t.match(chosen.json(), { code: 'PROFILE_NOT_FOUND' });
  const raw = await failure(
    t,
    app.prisma.user.update({ where: { id: randomUUID() }, data: { passwordHash: 'y' } }),
  );
  t.ok(isRecordNotFound(raw));
});

void t.test('a foreign-key violation: 409 REFERENCE_CONFLICT', async (t) => {
  const app = await appWithDatabase(t);
  app.post('/profiles', async () => {
    await app.prisma.profile.create({ data: { userId: randomUUID(), displayName: 'Nobody' } });
    return { ok: true };
  });
  const res = await app.inject({ method: 'POST', url: '/profiles' });
  t.equal(res.statusCode, 409);
  t.match(res.json(), { code: 'REFERENCE_CONFLICT' });
  const raw = await failure(
    t,
    app.prisma.profile.create({ data: { userId: randomUUID(), displayName: 'Nobody' } }),
  );
  t.ok(isForeignKeyViolation(raw, 'profiles_user_id_fkey'));
  t.notOk(isUniqueViolation(raw));
});

void t.test('a transaction that lost a write conflict: 503 with Retry-After', async (t) => {
  const app = await appWithDatabase(t);
  const lost: { error?: unknown } = {};
  app.get('/lost', async () => {
    throw lost.error;
  });
  await app.ready();
  const u = user('race@b.io');
  await app.prisma.user.create({ data: u });

  // Two REPEATABLE READ transactions read the row; the first updates and commits, then the second's
  // update must fail with a serialization failure (SQLSTATE 40001).
  let bothRead!: () => void;
  const read = new Promise<void>((resolve) => (bothRead = resolve));
  let reads = 0;
  let firstCommitted!: () => void;
  const committed = new Promise<void>((resolve) => (firstCommitted = resolve));
  const race = (second: boolean) =>
    app.prisma.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT password_hash FROM users WHERE id = ${u.id}::uuid`;
        if (++reads === 2) bothRead();
        await read;
        if (second) await committed;
        await tx.$executeRaw`UPDATE users SET password_hash = ${second ? 'b' : 'a'} WHERE id = ${u.id}::uuid`;
      },
      { isolationLevel: 'RepeatableRead', timeout: 20_000 },
    );
  const first = race(false).then(firstCommitted);
  lost.error = await failure(t, race(true));
  await first;
  t.ok(isTransactionConflict(lost.error), 'recognised as a write conflict');

  const res = await app.inject({ method: 'GET', url: '/lost' });
  t.equal(res.statusCode, 503);
  t.equal(res.headers['retry-after'], '1');
  t.match(res.json(), { code: 'TRANSACTION_CONFLICT', retryAfterSeconds: 1 });
});
