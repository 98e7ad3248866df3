// One signup is one trace across the three services, as an OpenTelemetry collector receives it:
// the services export to a real OTLP/HTTP receiver (in process, http/json; packages/platform's
// telemetry test covers http/protobuf) and the test asserts the tree a tracing UI would
// draw. The caller's span -> signup-service's HTTP span -> the transaction (its SQL inside) -> the
// outbox enqueue -> the relay's publish -> the welcome-email consume -> the claim and the SMTP send,
// and the profile-cache consume beside it; a profile read as a miss (its query inside) and a hit
// (no query); and a poison message whose dead-letter copy sits in the original's trace, linked to
// the advisory that caused it.
import { headers as natsHeaders } from '@nats-io/transport-node';
import { randomTraceparent, startOtlpReceiver, waitUntil, type ReceivedSpan } from '@app/testing';
import t from 'tap';
import { httpRequest, startSystem } from '../src/index.js';

const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;
const WAIT_MS = 60_000;

void t.test('one trace per signup across the three services', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const otel = (protocol: string) => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol,
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
  });
  const system = await startSystem({
    logLevel: 'warn',
    env: {
      'signup-service': otel('http/json'),
      'profile-service': otel('http/json'),
      'notification-service': otel('http/json'),
    },
  });
  t.teardown(() => system.close());

  const inTrace = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
  const byId = (spans: ReceivedSpan[]) => new Map(spans.map((s) => [s.spanId, s]));
  const one = (spans: ReceivedSpan[], what: string, match: (s: ReceivedSpan) => boolean) => {
    const found = spans.filter(match);
    t.equal(found.length, 1, `one ${what} span`);
    return found[0];
  };
  /** The chain of span names from `span` up to the root of what was received. */
  const ancestry = (span: ReceivedSpan, index: Map<string, ReceivedSpan>): ReceivedSpan[] => {
    const chain: ReceivedSpan[] = [];
    for (let p = index.get(span.parentSpanId); p; p = index.get(p.parentSpanId)) chain.push(p);
    return chain;
  };

  // --- a signup ---
  const caller = randomTraceparent();
  const [, traceId, callerSpan] = caller.split('-') as [string, string, string];
  const signup = await httpRequest(system.url('signup-service'), {
    method: 'POST',
    path: '/v1/signup',
    headers: { 'content-type': 'application/json', traceparent: caller },
    body: JSON.stringify({
      email: 'traced@trace.example',
      password: 'Traced 9 pw',
      displayName: 'T',
    }),
  });
  t.equal(signup.status, 201, `signup: ${signup.body.slice(0, 200)}`);
  const { userId } = JSON.parse(signup.body) as { userId: string };
  await system.smtp.waitFor(1, WAIT_MS);
  const consumers = system.names.consumers;
  const spans = await waitUntil(
    'the welcome email and the profile-cache consume in the signup trace',
    () => {
      const s = inTrace(traceId);
      const done =
        s.some((x) => x.name === 'smtp send') &&
        s.some((x) => x.attributes['messaging.consumer.group.name'] === consumers.profileCache);
      return done ? s : undefined;
    },
    WAIT_MS,
  );
  const index = byId(spans);
  t.same(
    [...new Set(spans.map((s) => s.service))].sort(),
    ['notification-service', 'profile-service', 'signup-service'],
    'spans from all three services, named by OTEL service name',
  );

  const http = one(
    spans,
    'HTTP server',
    (s) => s.service === 'signup-service' && s.kind === SERVER,
  );
  t.equal(http?.parentSpanId, callerSpan, "the HTTP span is the caller's child (traceparent)");
  const tx = one(spans, 'signup transaction', (s) => s.name === 'signup transaction');
  t.equal(tx?.attributes['signup.outcome'], 'created');
  t.ok(tx && http && ancestry(tx, index).includes(http), 'the transaction is inside the request');
  const sql = spans.filter(
    (s) => s.service === 'signup-service' && s.kind === CLIENT && s.parentSpanId === tx?.spanId,
  );
  t.ok(
    sql.some(
      (s) =>
        s.attributes['db.system.name'] === 'postgresql' ||
        s.attributes['db.system'] === 'postgresql',
    ),
    'its SQL statements are its children (pg instrumentation)',
  );
  const enqueue = one(spans, 'outbox enqueue', (s) => s.name === 'outbox enqueue');
  t.equal(enqueue?.parentSpanId, tx?.spanId, 'the enqueue is inside the transaction');
  const publish = one(
    spans,
    'relay publish',
    (s) => s.kind === PRODUCER && s.name.endsWith(' publish'),
  );
  t.equal(publish?.parentSpanId, enqueue?.spanId, "the relay's publish continues the enqueue");
  t.equal(publish?.attributes['messaging.destination.name'], system.names.subjects.userSignedUp);

  const welcome = one(
    spans,
    'welcome-email consume',
    (s) =>
      s.kind === CONSUMER &&
      s.attributes['messaging.consumer.group.name'] === consumers.welcomeEmail,
  );
  t.equal(welcome?.service, 'notification-service');
  t.equal(
    welcome?.parentSpanId,
    publish?.spanId,
    "the consume is the publish's child (NATS headers)",
  );
  t.equal(welcome?.attributes['messaging.nats.settle'], 'ack');
  const claim = one(spans, 'delivery claim', (s) => s.name === 'delivery claim');
  t.equal(claim?.parentSpanId, welcome?.spanId);
  t.equal(claim?.attributes['notify.claim'], 'claimed');
  const send = one(spans, 'smtp send', (s) => s.name === 'smtp send');
  t.equal(send?.parentSpanId, welcome?.spanId, 'the SMTP send is inside the consume');
  t.equal(send?.kind, CLIENT);
  const profileConsume = one(
    spans,
    'profile-cache consume',
    (s) => s.attributes['messaging.consumer.group.name'] === consumers.profileCache,
  );
  t.equal(profileConsume?.service, 'profile-service');
  t.equal(
    profileConsume?.parentSpanId,
    publish?.spanId,
    'profile-service consumes the same publish',
  );

  // --- a profile read: a miss (the query inside), then a hit (none) ---
  const read = async (): Promise<ReceivedSpan[]> => {
    const tp = randomTraceparent();
    const res = await httpRequest(system.url('profile-service'), {
      path: `/v1/profiles/${userId}`,
      headers: { traceparent: tp },
    });
    t.equal(res.status, 200, `profile read: ${res.body.slice(0, 200)}`);
    const id = tp.split('-')[1] ?? '';
    return waitUntil(
      'the profile read trace',
      () => {
        const s = inTrace(id);
        return s.some((x) => x.name === 'profile cache read') && s.some((x) => x.kind === SERVER)
          ? s
          : undefined;
      },
      WAIT_MS,
    );
  };
  const isSql = (s: ReceivedSpan) =>
    s.kind === CLIENT &&
    Object.keys(s.attributes).some(
      (k) => k.startsWith('db.') && String(s.attributes[k]).includes('postgres'),
    );
  const isRedis = (s: ReceivedSpan) =>
    s.kind === CLIENT && Object.values(s.attributes).includes('redis');
  const miss = await read();
  const missDecision = one(miss, 'cache decision (miss)', (s) => s.name === 'profile cache read');
  t.equal(missDecision?.attributes['cache.result'], 'miss');
  const missIndex = byId(miss);
  t.ok(
    miss.some((s) => isSql(s) && missDecision && ancestry(s, missIndex).includes(missDecision)),
    'a miss reads Postgres inside the cache decision',
  );
  t.ok(miss.some(isRedis), 'and asks Redis (ioredis instrumentation)');
  const hit = await read();
  const hitDecision = one(hit, 'cache decision (hit)', (s) => s.name === 'profile cache read');
  t.equal(hitDecision?.attributes['cache.result'], 'hit');
  t.notOk(hit.some(isSql), 'a hit has no database span');
  t.ok(hit.some(isRedis), 'a hit is a Redis read');

  // --- a poison message: terminated, dead-lettered in its own trace, linked to the advisory ---
  const poison = randomTraceparent();
  const poisonTrace = poison.split('-')[1] ?? '';
  const h = natsHeaders();
  h.set('traceparent', poison);
  await system.js.publish(system.names.subjects.userSignedUp, '{"not":"an event"}', { headers: h });
  const poisoned = await waitUntil(
    'the dead-letter copy in the poison trace',
    () => {
      const s = inTrace(poisonTrace);
      return s.filter((x) => x.name === 'deadletter copy').length >= 2 ? s : undefined;
    },
    WAIT_MS,
  );
  const terminated = one(
    poisoned,
    'poison consume',
    (s) => s.attributes['messaging.consumer.group.name'] === consumers.welcomeEmail,
  );
  t.equal(
    terminated?.attributes['messaging.nats.settle'],
    'term',
    'the poison message is terminated',
  );
  t.equal(terminated?.parentSpanId, poison.split('-')[2], "a child of the publisher's traceparent");
  // Both consumers of USERS terminate it: one dead letter each, both in the original's trace.
  const copies = poisoned.filter((s) => s.name === 'deadletter copy');
  t.same(
    copies.map((s) => s.attributes['deadletter.consumer']).sort(),
    [consumers.profileCache, consumers.welcomeEmail].sort(),
    'a dead-letter copy per consumer that terminated it',
  );
  const copy = one(
    copies,
    'welcome-email dead-letter copy',
    (s) => s.attributes['deadletter.consumer'] === consumers.welcomeEmail,
  );
  t.equal(copy?.parentSpanId, poison.split('-')[2], "the dead letter is in the original's trace");
  t.equal(copy?.attributes['deadletter.advisory'], 'terminated');
  const link = copy?.links[0];
  const advisory = receiver.spans.find((s) => s.spanId === link?.spanId);
  t.equal(
    advisory?.attributes['messaging.consumer.group.name'],
    consumers.deadletterWorker,
    'linked to the advisory delivery that caused it',
  );

  // --- its redrive: in the same trace, and the redelivered consume is the redrive's child ---
  const redrive = await httpRequest(system.url('notification-service'), {
    method: 'POST',
    path: '/admin/deadletters/redrive',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${system.adminToken}` },
    body: JSON.stringify({
      filter: { subject: system.names.subjects.userSignedUp },
      dryRun: false,
      actor: 'tracing-test',
    }),
  });
  t.ok(redrive.status === 200 || redrive.status === 202, `redrive: ${redrive.body.slice(0, 200)}`);
  const redriven = await waitUntil(
    'the redrive and the redelivered consume in the poison trace',
    () => {
      const s = inTrace(poisonTrace);
      const moves = s.filter((x) => x.name === 'deadletter redrive');
      const again = s.filter(
        (x) => x.kind === CONSUMER && moves.some((m) => m.spanId === x.parentSpanId),
      );
      return moves.length >= 1 && again.length >= 1 ? { moves, again } : undefined;
    },
    WAIT_MS,
  );
  t.ok(
    redriven.moves.every((m) => m.parentSpanId === poison.split('-')[2] && m.kind === PRODUCER),
    "each redrive is a producer span in the original's trace",
  );
  t.ok(
    redriven.again.every((c) => c.kind === CONSUMER),
    "the redelivered message is consumed as the redrive span's child",
  );
});
