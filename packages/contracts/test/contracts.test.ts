import t from 'tap';
import {
  UserSignedUpV1,
  makeEnvelope,
  names,
  topology,
  topologyFromEnv,
  TopologyEnv,
  validate,
  WELCOME_EMAIL_DEFAULTS,
} from '../src/index.js';

void t.test('production names are the ones DESIGN.md lists', async (t) => {
  const n = names();
  t.same(n.streams, { users: 'USERS', advisories: 'USERS_ADVISORIES', deadletter: 'DEADLETTER' });
  t.equal(n.subjects.userSignedUp, 'user.signed_up');
  t.equal(n.subjects.deadletterWelcomeEmail, 'deadletter.user.welcome.email');
  t.equal(n.subjects.maxDeliveriesAdvisories, '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.USERS.>');
  t.same(n.consumers, {
    welcomeEmail: 'welcome-email',
    profileCache: 'profile-cache',
    deadletterWorker: 'deadletter-worker',
  });
});

void t.test('a namespace prefixes every stream and subject, and is validated', async (t) => {
  const n = names('t_abc');
  t.equal(n.streams.users, 'T_ABC_USERS');
  t.equal(n.subjects.userSignedUp, 't_abc.user.signed_up');
  t.equal(
    n.subjects.terminatedAdvisories,
    '$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.T_ABC_USERS.>',
  );
  t.throws(() => names('Bad.Name'), /namespace/);
});

void t.test('topology declares every stream and consumer with a description', async (t) => {
  const top = topology({ namespace: 'x1', welcomeEmail: { maxAckPending: 8 } });
  t.equal(top.streams.length, 3);
  t.equal(top.consumers.length, 3);
  for (const s of top.streams) t.ok(s.description.length > 10, `${s.name} has a description`);
  for (const c of top.consumers) t.ok(c.config.description.length > 10, `${c.config.durable_name}`);
  const we = top.consumers.find((c) => c.config.durable_name === 'welcome-email');
  t.equal(we?.config.max_ack_pending, 8);
  t.equal(we?.config.max_deliver, WELCOME_EMAIL_DEFAULTS.maxDeliver);
  t.equal(we?.config.backoff, undefined, 'no backoff: it would replace ack_wait on 2.9');
  const users = top.streams.find((s) => s.name === 'X1_USERS');
  t.ok((users?.duplicate_window ?? 0) >= 120e9, 'duplicate window >= 2 min');
  t.equal(users?.allow_direct, true);
});

void t.test('envelopes validate, and every problem is listed', async (t) => {
  const e = makeEnvelope('user.signed_up', 1, {
    userId: '0190a4f2-1c2b-7def-8123-456789abcdef',
    email: 'ada@example.com',
    displayName: 'Ada',
  });
  t.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/, 'UUIDv7 id');
  t.same(validate(UserSignedUpV1, e), { ok: true, value: e });
  const bad = validate(UserSignedUpV1, { ...e, data: { userId: 'nope', email: 'x' }, extra: 1 });
  t.equal(bad.ok, false);
  if (!bad.ok) {
    t.ok(bad.errors.some((m) => m.startsWith('/data/userId')));
    t.ok(bad.errors.some((m) => m.startsWith('/data/email')));
    t.ok(bad.errors.some((m) => m.startsWith('/data/displayName')));
  }
});

void t.test('topologyFromEnv: the welcome-email knobs shape the consumer', async (t) => {
  const topo = topologyFromEnv({
    NATS_NAMESPACE: 't_env',
    NATS_STREAM_REPLICAS: 3,
    NOTIFY_MAX_ACK_PENDING: 16,
    NOTIFY_MAX_DELIVER: 4,
    NOTIFY_ACK_WAIT_MS: 5000,
  });
  const welcome = topo.consumers.find((c) => c.config.durable_name === 'welcome-email');
  t.match(welcome?.config, { max_ack_pending: 16, max_deliver: 4, ack_wait: 5000 * 1_000_000 });
  t.equal(topo.names.streams.users, 'T_ENV_USERS');
  t.ok(topo.streams.every((s) => s.num_replicas === 3));
});

void t.test('TopologyEnv declares the defaults of WELCOME_EMAIL_DEFAULTS', async (t) => {
  t.equal(TopologyEnv.NOTIFY_MAX_ACK_PENDING.default, WELCOME_EMAIL_DEFAULTS.maxAckPending);
  t.equal(TopologyEnv.NOTIFY_MAX_DELIVER.default, WELCOME_EMAIL_DEFAULTS.maxDeliver);
  t.equal(TopologyEnv.NOTIFY_ACK_WAIT_MS.default, WELCOME_EMAIL_DEFAULTS.ackWaitMs);
});
