// Acceptance, dead-letter worker: while it is stopped, 5 messages exhaust max_deliver (their
// advisories wait in USERS_ADVISORIES); started later, it copies all 5 into DEADLETTER byte for
// byte (sha256) with the Dlq-* headers; an advisory processed twice still yields one dead letter;
// an original already gone becomes a dead letter that says so.
import { createHash } from 'node:crypto';
import t from 'tap';
import { DeadLetterWorker, parseAdvisory } from '../src/lib/deadletter.js';
import {
  build,
  deadLetters,
  publishSignups,
  readStream,
  streamCount,
  testEnv,
  waitUntil,
} from './helper.js';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

void t.test('dead letters from advisories captured while the worker was down', async (t) => {
  const env = await testEnv(t, {
    NOTIFY_MAX_DELIVER: '2',
    NOTIFY_BACKOFF_BASE_MS: '50',
    NOTIFY_BACKOFF_MAX_MS: '100',
    NOTIFY_DEADLETTER_WORKER: '0',
  });
  env.sink.failNext(12, 451, 'Greylisted, try later');
  const { app } = await build(t, { env });
  t.equal(app.notifier.deadLetterWorker, undefined, 'the worker is not running');
  const signups = await publishSignups(env.nats.js, env.names, 6);
  const { jsm, js } = env.nats;
  const n = env.names;

  await waitUntil(
    '6 MAX_DELIVERIES advisories captured',
    async () => (await streamCount(jsm, n.streams.advisories)) >= 6,
  );
  t.equal(
    await streamCount(jsm, n.streams.deadletter),
    0,
    'no dead letter while the worker is down',
  );
  const originals = new Map<
    number,
    { sha: string; time: string; signup: (typeof signups)[number] }
  >();
  for (const s of signups) {
    const m = await jsm.streams.getMessage(n.streams.users, { seq: s.seq });
    originals.set(s.seq, { sha: sha256(m!.data), time: m!.time.toISOString(), signup: s });
  }
  // The sixth original is gone (as retention would do) before the worker gets to it.
  const gone = signups[5]!.seq;
  await jsm.streams.deleteMessage(n.streams.users, gone);

  const worker = new DeadLetterWorker({
    nc: env.nats.nc,
    js,
    jsm,
    names: n,
    deliveries: app.notifier.deliveries,
    metrics: app.notifier.metrics,
    log: app.log,
  });
  worker.start();
  t.teardown(() => worker.stop());

  const dead = await deadLetters(env, 6);
  t.equal(dead.length, 6);
  const present = dead.filter((d) => Number(d.header.get('Dlq-Original-Seq')) !== gone);
  t.equal(present.length, 5);
  for (const d of present) {
    const seq = Number(d.header.get('Dlq-Original-Seq'));
    const original = originals.get(seq)!;
    t.equal(sha256(d.data), original.sha, `seq ${seq}: payload byte-identical`);
    t.equal(d.subject, n.subjects.deadletterWelcomeEmail);
    t.equal(d.header.get('Dlq-Original-Subject'), n.subjects.userSignedUp);
    t.equal(d.header.get('Dlq-Original-Time'), original.time);
    t.equal(d.header.get('Dlq-Consumer'), n.consumers.welcomeEmail);
    t.equal(d.header.get('Dlq-Deliveries'), '2');
    t.match(d.header.get('Dlq-Reason'), /^max_deliveries: smtp_transient: smtp 451 Greylisted/);
    t.equal(d.header.get('traceparent'), original.signup.traceparent);
    t.equal(d.header.get('Nats-Msg-Id'), `${n.streams.users}:${seq}:${n.consumers.welcomeEmail}`);
  }
  const missing = dead.find((d) => Number(d.header.get('Dlq-Original-Seq')) === gone);
  t.match(
    missing?.header.get('Dlq-Reason'),
    /^original_missing: /,
    'a gone original is not dropped',
  );
  t.equal(missing?.data.length, 0);

  // Process every advisory a second time: the dead letters' own Nats-Msg-Id dedupes them.
  for (const a of await readStream(jsm, n.streams.advisories)) {
    const advisory = parseAdvisory(a.data);
    t.ok(advisory);
    const again = await worker.deadLetter(advisory!);
    t.equal(again.duplicate, true, 'stored once');
  }
  t.equal(await streamCount(jsm, n.streams.deadletter), 6, 'still one dead letter each');
  t.equal(env.sink.messages.length, 0);
});
