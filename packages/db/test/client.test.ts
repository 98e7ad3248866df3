import { randomUUID } from 'node:crypto';
import t from 'tap';
import { createPrisma, migrate, Prisma } from '../src/index.js';
import { createTestDatabase, withClient, within } from './helpers.js';

void t.test('createPrisma reads and writes through the pg adapter', async (t) => {
  const url = await createTestDatabase(t);
  await migrate({ databaseUrl: url });
  const prisma = createPrisma(url, { max: 2 });
  t.teardown(() => prisma.$disconnect());

  const id = randomUUID();
  await prisma.user.create({
    data: {
      id,
      email: 'Ada@x.io',
      passwordHash: 'scrypt$not-a-real-hash',
      profile: { create: { displayName: 'Ada Lovelace' } },
    },
  });

  const user = await prisma.user.findUnique({ where: { id }, include: { profile: true } });
  t.equal(user?.email, 'Ada@x.io', 'the email keeps the case it was given');
  t.ok(user?.createdAt instanceof Date);
  t.match(user?.profile, { userId: id, displayName: 'Ada Lovelace', bio: null, version: 1 });

  const byOtherCase = await prisma.user.findUnique({ where: { email: 'ADA@X.IO' } });
  t.equal(byOtherCase?.id, id, 'lookup by email ignores case');

  const duplicate = await prisma.user
    .create({ data: { id: randomUUID(), email: 'ada@X.IO', passwordHash: 'x' } })
    .then(
      () => null,
      (e: unknown) => e,
    );
  t.ok(duplicate instanceof Prisma.PrismaClientKnownRequestError, 'a known request error');
  t.equal((duplicate as Prisma.PrismaClientKnownRequestError).code, 'P2002', 'unique violation');
  t.equal(await prisma.user.count(), 1, 'the duplicate was not stored');

  await prisma.user.delete({ where: { id } });
  t.equal(await prisma.profile.count(), 0, 'deleting a user cascades to the profile');
});

void t.test('BigInt and JSON columns round-trip, and an outbox insert notifies', async (t) => {
  const url = await createTestDatabase(t);
  await migrate({ databaseUrl: url });
  const prisma = createPrisma(url);
  t.teardown(() => prisma.$disconnect());

  await withClient(url, async (listener) => {
    await listener.query('LISTEN outbox_events');
    const notified = new Promise<string | undefined>((resolve) => {
      listener.once('notification', (msg) => resolve(msg.payload));
    });
    const event = await prisma.outboxEvent.create({
      data: {
        id: randomUUID(),
        producer: 'signup-service',
        subject: 'user.signed_up',
        type: 'user.signed_up',
        payload: { userId: 'u1' },
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      },
    });
    t.equal(typeof event.seq, 'bigint');
    t.same(event.payload, { userId: 'u1' });
    t.equal(event.publishedAt, null);
    t.equal(await within(5000, 'the outbox_events notification', notified), event.seq.toString());
  });
});
