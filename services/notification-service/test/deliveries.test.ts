// The delivery ledger on a real Postgres: calls made together (claims and "sent" marks alike) are
// group-committed, yet each event gets the answer a call of its own would get (claimed once, busy
// while held, already sent after), and a released claim leaves the row as it was before it.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { createPrisma } from '@app/db';
import { isolatedDatabase, type TestLike } from '@app/testing';
import { WELCOME_KIND as KIND } from '../src/lib/welcome.js';
import { Deliveries } from '../src/lib/deliveries.js';

/** A database of its own and a client on it, closed in teardown. */
async function database(t: TestLike, max = 2) {
  const db = await isolatedDatabase(t);
  const prisma = createPrisma(db.url, { max });
  t.teardown(() => prisma.$disconnect());
  return prisma;
}

void t.test('claims and marks made together: each event gets its own outcome', async (t) => {
  const prisma = await database(t, 4);
  const a = new Deliveries(prisma, { workerId: 'worker-a', claimTimeoutMs: 60_000 });
  const b = new Deliveries(prisma, { workerId: 'worker-b', claimTimeoutMs: 60_000 });
  const ids = Array.from({ length: 40 }, () => randomUUID());

  const first = await Promise.all(ids.map((id) => a.claim(id, KIND, `${id}@example.com`)));
  t.same(new Set(first.map((c) => c.outcome)), new Set(['claimed']), 'every event claimed');
  t.same(
    first.map((c) => (c.outcome === 'claimed' ? c.attempts : 0)),
    ids.map(() => 1),
  );

  const held = await Promise.all(ids.map((id) => b.claim(id, KIND, `${id}@example.com`)));
  for (const c of held) {
    t.equal(c.outcome, 'busy', 'another worker holds a fresh claim');
    // The claim is seconds old at most however loaded the machine: well inside its 60 s timeout.
    if (c.outcome === 'busy') t.ok(c.retryInMs > 30_000 && c.retryInMs <= 60_100);
  }

  const half = ids.slice(0, 20);
  await Promise.all(half.map((id) => a.markSent(id, KIND, `<${id}@example.com>`)));
  const after = await Promise.all(ids.map((id) => b.claim(id, KIND, `${id}@example.com`)));
  t.same(
    after.map((c) => c.outcome),
    [...half.map(() => 'already_sent'), ...ids.slice(20).map(() => 'busy')],
  );
  const row = await a.find(ids[0] as string, KIND);
  t.match(row, { status: 'sent', smtpMessageId: `<${ids[0]}@example.com>`, attempts: 1 });

  await a.markFailed(ids[30] as string, KIND, 'smtp_transient: 451');
  const retried = await b.claim((ids[30] as string).toUpperCase(), KIND, 'x@example.com');
  t.same(retried, { outcome: 'claimed', attempts: 2 }, 'a failed delivery is claimed again');
});

void t.test('the same event twice in one batch: claimed once, then busy', async (t) => {
  const ledger = new Deliveries(await database(t), { workerId: 'w', claimTimeoutMs: 60_000 });
  const id = randomUUID();
  const [one, two] = await Promise.all([
    ledger.claim(id, KIND, 'a@example.com'),
    ledger.claim(id, KIND, 'a@example.com'),
  ]);
  t.equal(one?.outcome, 'claimed');
  t.equal(two?.outcome, 'busy');
});

void t.test('a bad row fails only its own caller', async (t) => {
  const ledger = new Deliveries(await database(t), { workerId: 'w', claimTimeoutMs: 60_000 });
  const good = randomUUID();
  const [bad, ok] = await Promise.allSettled([
    ledger.claim('not-a-uuid', KIND, 'a@example.com'),
    ledger.claim(good, KIND, 'b@example.com'),
  ]);
  t.equal(bad?.status, 'rejected');
  t.match(ok, { status: 'fulfilled', value: { outcome: 'claimed', attempts: 1 } });
});

void t.test(
  'a mark and a claim of one event made together: as if one after the other',
  async (t) => {
    const ledger = new Deliveries(await database(t), { workerId: 'w', claimTimeoutMs: 60_000 });
    const id = randomUUID();
    t.same(await ledger.claim(id, KIND, 'a@example.com'), { outcome: 'claimed', attempts: 1 });
    // A second delivery of the event arrives while the first one's mark is on its way.
    const [, again] = await Promise.all([
      ledger.markSent(id, KIND, '<m@example.com>'),
      ledger.claim(id, KIND, 'a@example.com'),
    ]);
    t.same(again, { outcome: 'already_sent' }, 'the claim sees the mark made before it');
    t.match(await ledger.find(id, KIND), { status: 'sent', smtpMessageId: '<m@example.com>' });
  },
);

void t.test('statements report what they carried', async (t) => {
  const batches: unknown[] = [];
  const ledger = new Deliveries(await database(t), {
    workerId: 'w',
    claimTimeoutMs: 60_000,
    onBatch: (b) => batches.push(b),
  });
  const ids = [randomUUID(), randomUUID()];
  await Promise.all(ids.map((id) => ledger.claim(id, KIND, 'a@example.com')));
  await Promise.all(ids.map((id) => ledger.markSent(id, KIND, '<m@example.com>')));
  await ledger.release(randomUUID(), KIND);
  t.same(batches, [{ claims: 2, marks: 0 }, { claims: 0, marks: 2 }, { releases: 1 }]);
});

void t.test('release: the claim is undone, the next delivery claims at once', async (t) => {
  const prisma = await database(t);
  const a = new Deliveries(prisma, { workerId: 'worker-a', claimTimeoutMs: 60_000 });
  const b = new Deliveries(prisma, { workerId: 'worker-b', claimTimeoutMs: 60_000 });
  const fresh = randomUUID();
  const retried = randomUUID();
  await a.claim(retried, KIND, 'r@example.com');
  await a.markFailed(retried, KIND, 'smtp_transient: 451 later');
  t.same(await a.claim(retried, KIND, 'r@example.com'), { outcome: 'claimed', attempts: 2 });
  await a.claim(fresh, KIND, 'f@example.com');

  // Another worker's release does not touch a's claims.
  await Promise.all([b.release(fresh, KIND), b.release(retried, KIND)]);
  t.equal((await b.claim(fresh, KIND, 'f@example.com')).outcome, 'busy', 'still held by a');

  await Promise.all([a.release(fresh, KIND), a.release(retried, KIND)]);
  t.equal(await a.find(fresh, KIND), null, 'a first claim released: no row');
  t.match(
    await a.find(retried, KIND),
    { status: 'failed', attempts: 1, lastError: 'smtp_transient: 451 later' },
    'a retry released: the row as the failure left it',
  );
  t.same(await b.claim(fresh, KIND, 'f@example.com'), { outcome: 'claimed', attempts: 1 });
  t.same(await b.claim(retried, KIND, 'r@example.com'), { outcome: 'claimed', attempts: 2 });
});
