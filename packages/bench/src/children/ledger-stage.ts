// notify-throughput's Postgres stage alone: notification-service's own delivery ledger
// (lib/deliveries.ts: the same claim and mark-sent statements, group-committed by the same Batcher
// settings, through Prisma with the pool size the service gives it) against the scenario's
// database, shaped as the service's handler uses it: every message the consumer may hold
// (NOTIFY_MAX_ACK_PENDING) claims at once, and the mark waits for one of NOTIFY_CONCURRENCY send
// slots, as the service's does (the send itself, between the two, is left out). Reports over IPC
// how long the first..Nth mark took.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { need, notificationModules } from './notification-modules.js';

const count = Number(need('BENCH_COUNT'));
const m = await notificationModules();
const prisma = m.createPrisma(m.config.DATABASE_URL, {
  max: Math.min(m.config.NOTIFY_CONCURRENCY + 4, 20), // as the service's app.ts sizes it
});
const ledger = new m.Deliveries(prisma, {
  workerId: `bench-ledger:${process.pid}`,
  claimTimeoutMs: m.config.NOTIFY_CLAIM_TIMEOUT_MS,
});
const slots = new m.Slots(m.config.NOTIFY_CONCURRENCY);
const events = Array.from({ length: count }, (_, i) => {
  const id = randomUUID();
  return { id, email: `ledger-${id.slice(0, 8)}-${i}@example.com` };
});

let next = 0;
let done = 0;
let first = 0;
let last = 0;
async function holder(): Promise<void> {
  while (next < events.length) {
    const event = events[next++]!;
    const claim = await ledger.claim(event.id, m.welcomeKind, event.email);
    if (claim.outcome !== 'claimed') throw new Error(`claim of a fresh event: ${claim.outcome}`);
    await slots.acquire();
    try {
      await ledger.markSent(event.id, m.welcomeKind, `<welcome_email.${event.id}@example.com>`);
    } finally {
      slots.release();
    }
    last = performance.now();
    if (done++ === 0) first = last;
  }
}
await Promise.all(Array.from({ length: m.config.NOTIFY_MAX_ACK_PENDING }, () => holder()));
process.send?.({ type: 'done', count: done, elapsedMs: last - first });
await prisma.$disconnect();
