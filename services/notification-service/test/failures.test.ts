// Acceptance, retry taxonomy against a real SMTP server: 451 (transient) -> delivered later after
// backoff; 550 (permanent) -> dead-lettered with its reason and not retried; an invalid payload ->
// dead-lettered at once, also when the server says it is 2.10.0..2.10.3 (those ignore
// `+TERM <reason>`, so the consumer must send a plain term). The dead letters are read back from the
// DEADLETTER stream.
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import t from 'tap';
import type { TestLike } from '@app/testing';
import {
  build,
  deadLetters,
  publishSignups,
  readStream,
  testEnv,
  waitUntil,
  type TestEnv,
} from './helper.js';

void t.test('SMTP 451 for the next 3 messages: they arrive later, after backoff', async (t) => {
  const env = await testEnv(t, {
    NOTIFY_BACKOFF_BASE_MS: '400',
    NOTIFY_BACKOFF_MAX_MS: '4000',
  });
  env.sink.failNext(3, 451);
  const { app } = await build(t, { env });
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
  const env = await testEnv(t);
  env.sink.failNext(1, 550, 'Mailbox unavailable');
  const { app } = await build(t, { env });
  const [signup] = await publishSignups(env.nats.js, env.names, 1);

  const [dead] = await deadLetters(env, 1);
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
  const { env } = await build(t);
  const bad = [JSON.stringify({ id: 'nope', type: 'user.signed_up' }), 'not json {'];
  for (const body of bad) await env.nats.js.publish(env.names.subjects.userSignedUp, body);

  const dead = await deadLetters(env, 2);
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

/** A TCP proxy to the env's NATS that changes the version the server announces in its INFO. */
async function natsAnnouncing(t: TestLike, env: TestEnv, version: string): Promise<string> {
  const target = new URL(env.vars.NATS_URL!.split(',')[0]!);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port || 4222) });
    sockets.add(client).add(upstream);
    // The server speaks first, with one INFO line: rewrite it, pass everything else through.
    let head: string | undefined = '';
    const relay = (chunk: Buffer) => {
      if (head === undefined) return void client.write(chunk);
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n');
      if (end < 0) return;
      const info = head.slice(0, end).replace(/"version":"[^"]*"/, `"version":"${version}"`);
      client.write(Buffer.from(info + head.slice(end), 'latin1'));
      head = undefined;
    };
    upstream.on('data', relay);
    client.pipe(upstream);
    for (const s of [client, upstream]) {
      s.on('error', () => undefined);
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as { port: number };
  return `nats://127.0.0.1:${port}`;
}

void t.test(
  'a server announcing 2.10.3 gets a plain term: the dead letter is immediate',
  async (t) => {
    const env = await testEnv(t);
    const url = await natsAnnouncing(t, env, '2.10.3');
    const { app } = await build(t, { env, vars: { NATS_URL: url } });
    t.equal(app.nats.nc.info?.version, '2.10.3', 'the service reads the announced version');
    await env.nats.js.publish(env.names.subjects.userSignedUp, 'not json {');

    // `+TERM <reason>` would be ignored by this (older) server and the message redelivered.
    const [dead] = await deadLetters(env, 1);
    t.equal(dead?.header.get('Dlq-Advisory'), 'terminated');
    t.equal(dead?.header.get('Dlq-Deliveries'), '1', 'terminated on its first delivery');
    t.equal(dead?.header.get('Dlq-Reason'), 'invalid_payload: not JSON');
  },
);
