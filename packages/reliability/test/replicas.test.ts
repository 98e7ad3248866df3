// Two replicas of each service, signup-service and profile-service behind HAProxy (active checks on
// /health/ready), under steady load through the balancer (signups, reads, profile updates), each
// replica restarted in turn (SIGTERM: readiness fails, the replica keeps serving for its drain
// delay while the balancer's checks take it out, then closes). Every request is answered 2xx/4xx,
// every 201 ends in exactly one email, each replica's relay and consumers take a share of the work,
// and N concurrent reads of a cold profile, spread over both profile replicas, read Postgres once.
import t from 'tap';
import {
  account,
  httpRequest,
  json,
  Load,
  LOAD_PASSWORD,
  ReplicaCounters,
  rollingRestart,
  SERVICES,
  settle,
  SIZES,
  startSystem,
  waitFor,
  type ServiceProcess,
} from '../src/index.js';

const REPLICAS = 2;
/** Several of HAProxy's 300 ms check intervals, well inside the services' 10 s grace. */
const DRAIN_MS = 2000;
const STAMPEDE = 50;
const WAIT_MS = 120_000;
const p = SIZES.ci;

void t.test('replicas behind HAProxy, restarted one at a time under load', async (t) => {
  const drain = { SHUTDOWN_DRAIN_MS: String(DRAIN_MS) };
  const system = await startSystem({
    replicas: Object.fromEntries(SERVICES.map((s) => [s, REPLICAS])),
    balancer: true,
    env: { 'signup-service': drain, 'profile-service': drain, 'notification-service': drain },
  });
  t.teardown(() => system.close());
  const lb = system.balancer!;
  const counters = new ReplicaCounters(system, {
    published: {
      service: 'signup-service',
      metric: 'outbox_published_total',
      labels: { duplicate: 'false' },
    },
    sent: {
      service: 'notification-service',
      metric: 'notify_events_processed_total',
      labels: { outcome: 'sent' },
    },
    dbReads: { service: 'profile-service', metric: 'profile_db_reads_total' },
  });

  const load = new Load({
    signupUrl: lb.url,
    profileUrl: lb.url,
    tag: 'replicas',
    signupsPerSecond: p.signupsPerSecond,
    readsPerSecond: p.readsPerSecond,
    updatesPerSecond: p.updatesPerSecond,
  }).start();
  const created = () => load.signups().filter((r) => r.status === 201).length;
  await waitFor('signups answered 201 before the restarts', async () => created() >= 10, WAIT_MS);

  const restarts = await rollingRestart(system, SERVICES, {
    before: (proc) => counters.follow(proc),
  });
  const before = created();
  await waitFor(
    'signups answered 201 after the restarts',
    async () => created() >= before + 10,
    WAIT_MS,
  );
  await load.stop();

  for (const r of restarts) {
    t.equal(
      r.exit.code,
      0,
      `${r.id} exited 0 after SIGTERM (${r.exit.ms} ms), back in ${r.backMs} ms`,
    );
  }

  const records = load.records;
  const failed = records.filter((r) => r.error !== undefined || (r.status ?? 0) >= 500);
  const byStatus = new Map<string, number>();
  for (const r of records) {
    const k = r.error ?? String(r.status);
    byStatus.set(k, (byStatus.get(k) ?? 0) + 1);
  }
  t.comment(
    `requests: ${records.length} (${[...byStatus].map(([k, n]) => `${k}: ${n}`).join(', ')}), ` +
      `shed ${load.shed}`,
  );
  t.equal(failed.length, 0, 'every request answered 2xx or 4xx: no 5xx, none unanswered');
  if (failed.length > 0) {
    t.comment(
      failed
        .slice(0, 10)
        .map(
          (r) => `${r.kind} ${r.status ?? r.error} at +${r.startedAt - records[0]!.startedAt} ms`,
        )
        .join('\n'),
    );
  }
  t.equal(records.filter((r) => r.problem).length, 0, 'every error answer is problem+json');
  t.ok(
    records.some((r) => r.kind === 'update' && r.status === 200),
    'profile updates answered 200',
  );

  const signups = load.signups();
  const answered = signups.filter((r) => r.status === 201).map((r) => r.email!);
  const notAnswered = signups.filter((r) => r.status !== 201).map((r) => r.email!);
  await settle(system, answered, WAIT_MS);
  const a = await account(system, answered, notAnswered);
  t.comment(
    `signups: ${a.signups} answered 201, ${a.emailed} emails, ${a.deadLettered} dead letters, ` +
      `${a.duplicates} duplicates, ${a.lost} lost`,
  );
  t.equal(a.lost, 0, 'no signup lost');
  t.equal(a.duplicates, 0, 'no duplicate email');
  t.equal(a.emailed, a.signups, 'every 201 has exactly one welcome email');

  const stats = await lb.stats();
  const servers = stats.filter((r) => r.svname.startsWith('s') && r.pxname.startsWith('be_'));
  t.comment(
    `balancer: ${servers
      .map((r) => `${r.pxname.slice(3)}/${r.svname} ${r.stot} requests`)
      .join(', ')}; retries ${servers.reduce((n, r) => n + Number(r.wretr || 0), 0)}, ` +
      `redispatches ${servers.reduce((n, r) => n + Number(r.wredis || 0), 0)}`,
  );

  // Each replica's share of the work, from its own /metrics.
  const share = (totals: Record<string, number>) =>
    Object.entries(totals)
      .map(([id, n]) => `${id} ${n}`)
      .join(', ');
  const published = await counters.totals('published');
  const sent = await counters.totals('sent');
  t.comment(`outbox events published: ${share(published)}`);
  t.comment(`welcome emails sent: ${share(sent)}`);
  for (const [id, n] of Object.entries(published)) t.ok(n > 0, `${id}'s relay published events`);
  for (const [id, n] of Object.entries(sent)) t.ok(n > 0, `${id} sent welcome emails`);

  // profile-service's profile-cache consumer logs each signup it has seen.
  const seen = (proc: ServiceProcess) =>
    proc.logs.filter((l) => l.includes('signup seen: negative entry dropped')).length;
  const cache = system.instances('profile-service').map((proc) => `${proc.id} ${seen(proc)}`);
  t.comment(`profile-cache events consumed: ${cache.join(', ')}`);
  for (const proc of system.instances('profile-service')) {
    t.ok(seen(proc) > 0, `${proc.id} consumed profile-cache events`);
  }

  // The stampede rule across replicas: one cold key, N concurrent readers, one database read.
  const signup = await httpRequest(lb.url, {
    method: 'POST',
    path: '/v1/signup',
    ...json({
      email: 'cold-key@reliability.example',
      password: LOAD_PASSWORD,
      displayName: 'Cold',
    }),
  });
  t.equal(signup.status, 201, 'a new user for the cold key');
  const { userId } = JSON.parse(signup.body) as { userId: string };
  const sum = (totals: Record<string, number>) => Object.values(totals).reduce((x, y) => x + y, 0);
  const reads = await counters.totals('dbReads');
  const perServer = async () =>
    (await lb.stats())
      .filter((r) => r.pxname === 'be_profile-service' && r.svname.startsWith('s'))
      .map((r) => Number(r.stot));
  const servedBefore = await perServer();
  const answers = await Promise.all(
    Array.from({ length: STAMPEDE }, () =>
      httpRequest(lb.url, { path: `/v1/profiles/${userId}`, timeoutMs: 30_000 }),
    ),
  );
  const servedAfter = await perServer();
  const readsAfter = await counters.totals('dbReads');
  const spread = servedAfter.map((n, i) => n - (servedBefore[i] ?? 0));
  const dbReads = sum(readsAfter) - sum(reads);
  t.comment(
    `stampede: ${STAMPEDE} concurrent reads of one cold profile, served ${spread.join(' + ')} by the ` +
      `profile replicas, ${dbReads} database read(s) (${share(readsAfter)} in all)`,
  );
  t.equal(answers.filter((r) => r.status === 200).length, STAMPEDE, 'every read answered 200');
  t.ok(
    spread.every((n) => n > 0),
    'the reads reached both profile replicas',
  );
  t.equal(dbReads, 1, 'one database read in total, across the replicas');
});
