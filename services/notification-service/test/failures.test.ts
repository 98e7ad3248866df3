// Acceptance, retry taxonomy against a real SMTP server: 451 (transient) -> delivered later after
// backoff; 550 (permanent) -> dead-lettered with its reason and not retried; an invalid payload ->
// dead-lettered at once. The dead letters are read back from the DEADLETTER stream.
import t from 'tap';
import { readStream, publishSignups, startApp, testEnvironment, waitUntil } from './helper.js';

void t.test('SMTP 451 for the next 3 messages: they arrive later, after backoff', async (t) => {
  const env = await testEnvironment(t, {
    NOTIFY_BACKOFF_BASE_MS: '400',
    NOTIFY_BACKOFF_MAX_MS: '4000',
  });
  env.sink.failNext(3, 451);
  const app = await startApp(t, env);
  const started = Date.now();
  const signups = await publishSignups(env.nats.js, env.names, 3);

  const messages = await env.sink.waitFor(3, 30_000);
  const elapsed = Date.now() - started;
  t.equal(messages.length, 3);
  t.same(
    messages.map((m) => m.envelopeTo[0]).sort(),
    signups.map((s) => s.event.data.email).sort(),
    'all three arrived',
  );
  t.ok(elapsed >= 200, `arrived only after the backoff (>= half of 400 ms), took ${elapsed} ms`);
  // The SMTP server holds a message before the worker's `sent` mark commits: wait for the marks.
  const rows = await waitUntil('three rows marked sent', async () => {
    const all = await env.prisma.notificationDelivery.findMany();
    return all.length === 3 && all.every((r) => r.status !== 'claimed') ? all : undefined;
  });
  t.same(
    rows.map((r) => [r.status, r.attempts]),
    [
      ['sent', 2],
      ['sent', 2],
      ['sent', 2],
    ],
    'second attempt',
  );
  const metrics = (await app.inject({ url: '/metrics' })).body;
  t.match(metrics, /notify_events_failed_total\{[^}]*class="smtp_transient"[^}]*\} 3/);
  t.match(metrics, /notify_events_redelivered_total\{[^}]*\} 3/);
  t.equal(
    (await readStream(env.nats.jsm, env.names.streams.deadletter)).length,
    0,
    'nothing dead-lettered',
  );
});

void t.test('SMTP 550: dead-lettered with the reason, not retried', async (t) => {
  const env = await testEnvironment(t);
  env.sink.failNext(1, 550, 'Mailbox unavailable');
  const app = await startApp(t, env);
  const [signup] = await publishSignups(env.nats.js, env.names, 1);

  const [dead] = await waitUntil('a dead letter', async () => {
    const all = await readStream(env.nats.jsm, env.names.streams.deadletter);
    return all.length > 0 ? all : undefined;
  });
  t.equal(dead?.subject, env.names.subjects.deadletterWelcomeEmail);
  t.match(dead?.header.get('Dlq-Reason'), /^smtp_permanent: smtp 550 Mailbox unavailable/);
  t.equal(dead?.header.get('Dlq-Deliveries'), '1', 'delivered once: not retried');
  t.equal(dead?.header.get('Dlq-Advisory'), 'terminated');
  t.equal(dead?.header.get('traceparent'), signup?.traceparent);
  t.equal(
    new TextDecoder().decode(dead?.data),
    JSON.stringify(signup?.event),
    'payload byte for byte',
  );

  const info = await env.nats.jsm.consumers.info(
    env.names.streams.users,
    env.names.consumers.welcomeEmail,
  );
  t.equal(
    info.num_ack_pending + info.num_pending + info.num_redelivered,
    0,
    'nothing left to retry',
  );
  t.equal(env.sink.messages.length, 0, 'no email arrived');
  const row = await env.prisma.notificationDelivery.findFirst();
  t.match(row, { status: 'failed', attempts: 1, lastError: /550/ });
  const metrics = (await app.inject({ url: '/metrics' })).body;
  t.match(metrics, /notify_deadletters_total\{[^}]*reason="smtp_permanent"[^}]*\} 1/);
});

void t.test('an invalid payload is dead-lettered at once', async (t) => {
  const env = await testEnvironment(t);
  await startApp(t, env);
  const bad = [JSON.stringify({ id: 'nope', type: 'user.signed_up' }), 'not json {'];
  for (const body of bad) await env.nats.js.publish(env.names.subjects.userSignedUp, body);

  const dead = await waitUntil('two dead letters', async () => {
    const all = await readStream(env.nats.jsm, env.names.streams.deadletter);
    return all.length >= 2 ? all : undefined;
  });
  const bySeq = dead.sort(
    (a, b) => Number(a.header.get('Dlq-Original-Seq')) - Number(b.header.get('Dlq-Original-Seq')),
  );
  t.same(
    bySeq.map((d) => new TextDecoder().decode(d.data)),
    bad,
    'payloads byte for byte',
  );
  t.match(bySeq[0]?.header.get('Dlq-Reason'), /^invalid_payload: .*\/id: Expected/);
  t.equal(bySeq[1]?.header.get('Dlq-Reason'), 'invalid_payload: not JSON');
  t.same(
    bySeq.map((d) => d.header.get('Dlq-Deliveries')),
    ['1', '1'],
    'never redelivered',
  );
  t.equal(await env.prisma.notificationDelivery.count(), 0, 'nothing was claimed');
});
