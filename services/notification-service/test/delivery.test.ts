// Acceptance: 500 events published -> exactly 500 emails in the SMTP sink, each to the right
// address, none twice, each with a Message-ID derived from the event id and the traceparent.
// Also readiness, the consumer metrics, that the admin routes need the token, and that closing
// hands the events still waiting back without leaving their claims behind.
import t from 'tap';
import { ADMIN_TOKEN, build, consumerIdle, publishSignups, testEnv } from './helper.js';
import { welcomeMessageId } from '../src/lib/welcome.js';

void t.test('500 events -> exactly 500 emails, right addresses, none twice', async (t) => {
  const { app, env } = await build(t, { vars: { NOTIFY_CONCURRENCY: '16' } });
  const signups = await publishSignups(env.nats.js, env.names, 500);

  await env.sink.waitFor(500, 60_000);
  // Whatever still arrives late would be a duplicate: wait until the consumer has nothing pending.
  await consumerIdle(env);
  t.equal(env.sink.messages.length, 500, 'exactly 500 emails');

  const byId = new Map(env.sink.messages.map((m) => [m.headers['message-id']?.trim(), m]));
  t.equal(byId.size, 500, 'no Message-ID twice');
  let right = 0;
  for (const s of signups) {
    const m = byId.get(welcomeMessageId(s.event.id, 'welcome@example.com'));
    if (m && m.envelopeTo.join() === s.event.data.email && m.headers.traceparent === s.traceparent)
      right++;
  }
  t.equal(right, 500, "each event's email went to its address, with its traceparent");
  t.match(env.sink.messages[0]?.subject, /^Welcome, User \d+!$/);

  const sent = await env.prisma.notificationDelivery.count({ where: { status: 'sent' } });
  t.equal(sent, 500, 'every delivery is recorded as sent');

  await app.notifier.pollConsumerInfo();
  const metrics = (await app.inject({ url: '/metrics' })).body;
  t.match(metrics, /notify_events_processed_total\{[^}]*outcome="sent"[^}]*\} 500/);
  t.match(metrics, /notify_consumer_max_ack_pending\{[^}]*\} 64/);
  t.match(metrics, /notify_send_duration_seconds_count\{[^}]*outcome="sent"[^}]*\} 500/);
  t.match(metrics, /notify_ledger_rows_total\{[^}]*op="claim"[^}]*\} 500/, 'every claim counted');
  t.match(metrics, /notify_ledger_rows_total\{[^}]*op="mark_sent"[^}]*\} 500/);

  const ready = await app.inject({ url: '/health/ready' });
  t.equal(ready.statusCode, 200);
  t.match(ready.json(), { checks: { nats: 'ok', postgres: 'ok' } });
});

void t.test('admin routes refuse a missing or wrong token', async (t) => {
  const { app } = await build(t);
  const none = await app.inject({ url: '/admin/deadletters' });
  t.equal(none.statusCode, 401);
  t.equal(none.json().code, 'UNAUTHORIZED');
  const wrong = await app.inject({
    url: '/admin/deadletters',
    headers: { authorization: 'Bearer nope' },
  });
  t.equal(wrong.statusCode, 401);
  const ok = await app.inject({
    url: '/admin/deadletters',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  t.equal(ok.statusCode, 200);
  t.same(ok.json(), { count: 0, items: [] });
});

void t.test('a send slower than ack_wait is not redelivered: working() keeps it', async (t) => {
  const env = await testEnv(t, { NOTIFY_ACK_WAIT_MS: '1000' });
  env.sink.setDelay(2500);
  const { app } = await build(t, { env });
  await publishSignups(env.nats.js, env.names, 1);
  await env.sink.waitFor(1, 30_000);
  await consumerIdle(env);
  const metrics = (await app.inject({ url: '/metrics' })).body;
  t.match(metrics, /notify_events_redelivered_total\{[^}]*\} 0/, 'never redelivered');
  t.equal(env.sink.messages.length, 1);
  const row = await env.prisma.notificationDelivery.findFirst();
  t.match(row, { status: 'sent', attempts: 1 });
});

void t.test(
  'closing with events waiting: sends under way finish, the waiting ones go back unclaimed',
  async (t) => {
    // nats-server 2.9 hands a nak-ed message back to the closing instance's pull request, where
    // it waits for ack_wait: a short one keeps the test short.
    const env = await testEnv(t, { NOTIFY_CONCURRENCY: '2', NOTIFY_ACK_WAIT_MS: '3000' });
    env.sink.setDelay(200);
    const first = await build(t, { env });
    await publishSignups(env.nats.js, env.names, 20);
    await env.sink.waitFor(1, 30_000);
    await first.app.close();
    const sent = env.sink.messages.length;
    t.ok(sent < 20, `the backlog was left on the server (${sent} sent before closing)`);
    const rows = await env.prisma.notificationDelivery.findMany();
    t.same(
      rows.filter((r) => r.status !== 'sent').map((r) => r.status),
      [],
      'no claim left behind: the messages still waiting gave theirs back',
    );
    t.equal(rows.length, sent, 'each email sent is recorded as sent');

    await build(t, { env });
    await env.sink.waitFor(20, 60_000);
    await consumerIdle(env);
    const ids = new Set(env.sink.messages.map((m) => m.headers['message-id']?.trim()));
    t.equal(env.sink.messages.length, 20, 'no email twice');
    t.equal(ids.size, 20);
    const after = await env.prisma.notificationDelivery.findMany();
    t.same(
      after.map((r) => [r.status, r.attempts]),
      after.map(() => ['sent', 1]),
      'a released claim is no attempt: every row sent at its first',
    );
  },
);
