// Acceptance, crash safety with a real child process: SIGKILL the service twice while 1,000 events
// flow; after a restart every event has its email, each to the right address. The delivery claim in
// Postgres is what stops a redelivery from sending again. The one window no claim can close (the
// SMTP server accepted, the process died before recording it) is bounded and recognisable: such a
// resend carries the same Message-ID, and its row shows the takeover of a dead worker's claim.
// Also: SIGTERM settles in-flight sends, gives back the claims of the events not sent yet, and
// exits within the grace period.
import t from 'tap';
import { welcomeMessageId } from '../src/lib/welcome.js';
import { consumerIdle, publishSignups, spawnService, testEnv, waitUntil } from './helper.js';

const FROM = 'welcome@example.com';
const CONCURRENCY = 8;

void t.test(
  'SIGKILL twice while 1,000 events flow: every email arrives once, resends only for cut sends',
  async (t) => {
    const env = await testEnv(t, {
      NOTIFY_ACK_WAIT_MS: '2000',
      NOTIFY_CLAIM_TIMEOUT_MS: '2000',
      NOTIFY_MAX_DELIVER: '50',
      NOTIFY_CONCURRENCY: String(CONCURRENCY),
    });
    env.sink.setDelay(5);
    const first = spawnService(t, env.vars);
    await first.address;
    const publishing = publishSignups(env.nats.js, env.names, 1000);

    await env.sink.waitFor(150, 60_000);
    first.proc.kill('SIGKILL');
    t.match(await first.exited, { signal: 'SIGKILL' }, 'first instance killed');
    const second = spawnService(t, env.vars);
    await second.address;
    await env.sink.waitFor(500, 60_000);
    second.proc.kill('SIGKILL');
    t.match(await second.exited, { signal: 'SIGKILL' }, 'second instance killed');

    const third = spawnService(t, env.vars);
    await third.address;
    const signups = await publishing;
    const expected = new Map(signups.map((s) => [welcomeMessageId(s.event.id, FROM), s]));
    await waitUntil(
      'every event delivered and the consumer idle',
      async () => {
        const ids = new Set(env.sink.messages.map((m) => m.headers['message-id']?.trim()));
        if (ids.size < 1000) return false;
        const info = await env.nats.jsm.consumers.info(
          env.names.streams.users,
          env.names.consumers.welcomeEmail,
        );
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      120_000,
    );

    const seen = new Map<string, number>();
    let rightAddress = 0;
    for (const m of env.sink.messages) {
      const id = m.headers['message-id']?.trim() ?? '';
      seen.set(id, (seen.get(id) ?? 0) + 1);
      if (expected.get(id)?.event.data.email === m.envelopeTo[0]) rightAddress++;
    }
    t.equal(seen.size, 1000, 'exactly 1,000 distinct emails');
    t.ok(
      [...seen.keys()].every((id) => expected.has(id)),
      'each for a published event',
    );
    const duplicates = [...seen.entries()].filter(([, c]) => c > 1).map(([id]) => id);
    t.comment(
      `emails received: ${env.sink.messages.length}; resent after a kill: ${duplicates.length}`,
    );
    t.equal(rightAddress, env.sink.messages.length, 'every email to the right address');
    // A resend is only allowed for an email in flight at one of the two kills...
    t.ok(
      duplicates.length <= 2 * CONCURRENCY,
      `resends bounded by what was in flight (${duplicates.length})`,
    );
    // ...and is recognisable: its row shows a second claim, taken over from the killed worker.
    for (const id of duplicates) {
      const row = await env.prisma.notificationDelivery.findFirst({
        where: { eventId: expected.get(id)!.event.id },
      });
      t.ok(row && row.attempts > 1, `resent ${id} was a takeover of a dead worker's claim`);
    }
    const rows = await env.prisma.notificationDelivery.groupBy({ by: ['status'], _count: true });
    t.same(
      rows.map((r) => [r.status, r._count]),
      [['sent', 1000]],
      'all 1,000 recorded as sent',
    );
  },
);

void t.test(
  'SIGTERM: in-flight sends finish, the process exits within the grace period',
  async (t) => {
    const env = await testEnv(t, { NOTIFY_GRACE_MS: '8000', NOTIFY_CONCURRENCY: '4' });
    env.sink.setDelay(300);
    const child = spawnService(t, env.vars);
    await child.address;
    const signups = await publishSignups(env.nats.js, env.names, 40);
    await env.sink.waitFor(1, 30_000);
    const start = Date.now();
    child.proc.kill('SIGTERM');
    const exit = await child.exited;
    const took = Date.now() - start;
    t.equal(exit.code, 0, 'clean exit: finished before the grace period forced it');
    t.comment(`SIGTERM to exit: ${took} ms (grace 8000 ms)`);
    t.ok(
      child.logs.some((l) => l.includes('shutdown: closed')),
      'shutdown completed',
    );
    const sentBefore = env.sink.messages.length;
    t.ok(sentBefore < 40, 'it stopped pulling: the backlog was left for another instance');
    t.equal(
      await env.prisma.notificationDelivery.count({ where: { status: { not: 'sent' } } }),
      0,
      'no claim left behind: the events still waiting to be sent gave theirs back',
    );

    const next = spawnService(t, env.vars);
    await next.address;
    await env.sink.waitFor(40, 60_000);
    await consumerIdle(env);
    const ids = new Set(env.sink.messages.map((m) => m.headers['message-id']?.trim()));
    t.equal(env.sink.messages.length, 40, 'no email twice across a graceful restart');
    t.equal(ids.size, 40);
    t.equal(signups.length, 40);
  },
);
