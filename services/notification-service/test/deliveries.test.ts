// The delivery ledger on a real Postgres: calls made together are group-committed, yet each event
// gets the answer a call of its own would get (claimed once, busy while held, already sent after).
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
