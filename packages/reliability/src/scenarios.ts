// The fault scenarios: each runs a steady signup + profile-read load, injects one fault (a service
// SIGKILLed or SIGTERMed and restarted, nats-server restarted, Redis stopped, Postgres cut at the
// proxy, SMTP answering 4xx), then waits for the pipeline to settle and checks the invariants by
// counting. What each scenario allows (which 5xx, which unanswered requests) is stated in `allows`
// and enforced in `evaluate`; everything else is a violation.
import { account, settle, waitFor, type Accounting } from './ledger.js';
import { Load, type RequestRecord } from './load.js';
import type { SmtpSink } from '@app/testing';
import { GRACE_MS, type ServiceName, type System } from './system.js';

export type Size = 'ci' | 'full';

export interface SizeParams {
  warmMs: number;
  afterMs: number;
  signupsPerSecond: number;
  readsPerSecond: number;
  /** Profile updates, for the scenarios whose load has them (`updates`). */
  updatesPerSecond: number;
  killDownMs: number;
  natsDownMs: number;
  redisDownMs: number;
  postgresCutMs: number;
  smtpFailMs: number;
  settleTimeoutMs: number;
  fuzzRunsPerRoute: number;
}

export const SIZES: Record<Size, SizeParams> = {
  ci: {
    warmMs: 1000,
    afterMs: 1000,
    signupsPerSecond: 6,
    readsPerSecond: 25,
    updatesPerSecond: 4,
    killDownMs: 500,
    natsDownMs: 2000,
    redisDownMs: 2000,
    postgresCutMs: 2000,
    smtpFailMs: 3000,
    settleTimeoutMs: 60_000,
    fuzzRunsPerRoute: 1000,
  },
  full: {
    warmMs: 5000,
    afterMs: 5000,
    signupsPerSecond: 15,
    readsPerSecond: 80,
    updatesPerSecond: 10,
    killDownMs: 2000,
    natsDownMs: 5000,
    redisDownMs: 10_000,
    postgresCutMs: 5000,
    smtpFailMs: 10_000,
    settleTimeoutMs: 120_000,
    fuzzRunsPerRoute: 3000,
  },
};

export function sizeParams(size: string | undefined): SizeParams {
  if (size === undefined || size === '' || size === 'ci') return SIZES.ci;
  if (size === 'full') return SIZES.full;
  throw new Error(`size must be "ci" or "full", got "${size}"`);
}

/** What happened to the system during a fault: the window the allowances refer to. */
export interface FaultWindow {
  start: number;
  /** When the fault was removed (broker back, service restarted and ready). */
  restoredAt: number;
  /** For SIGTERM scenarios: when the signal was sent, and how the process exited. */
  signalAt?: number;
  exit?: { code: number | null; signal: string | null; ms: number; graceMs: number };
  /** For SIGTERM scenarios: the ids of the requests the service received (from its request log). */
  received?: Set<string>;
}

export interface Scenario {
  name: string;
  fault: string;
  /** In words, what is allowed besides 2xx/4xx answers (shown in the report). */
  allows: string;
  /** Services whose requests may go unanswered (connection refused/reset) during the window. */
  down?: ServiceName;
  /** A 5xx that is a correct answer during the window (e.g. 503 while Postgres is cut). */
  allowed5xx?: (r: RequestRecord, w: FaultWindow) => boolean;
  inject(system: System, p: SizeParams): Promise<FaultWindow>;
  /** Needs the system started with a 3-node JetStream cluster (`startSystem({ natsCluster })`). */
  natsCluster?: boolean;
  /** Nothing in it may fail an event for good: a dead letter is a violation. */
  noDeadLetters?: boolean;
  /** The load also updates profiles (their events go through profile-service's outbox). */
  updates?: boolean;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Makes the sink answer 451 to every message for `ms`, then accept again (keeping what it has). */
async function smtpFailFor(sink: SmtpSink, ms: number): Promise<void> {
  sink.failNext(1_000_000, 451, 'Mailbox busy, try later');
  await pause(ms);
  const kept = [...sink.messages];
  sink.clear(); // drops the pending failures (and the list, restored below)
  sink.messages.push(...kept);
}

function kill(name: ServiceName): Scenario {
  return {
    name: `kill -9 ${name}`,
    fault: `SIGKILL ${name}, restart it after a pause`,
    allows: `requests to ${name} unanswered (refused/reset) until it is back; no 5xx`,
    down: name,
    async inject(system, p) {
      const start = Date.now();
      await system.kill(name);
      await pause(p.killDownMs);
      await system.restart(name);
      return { start, restoredAt: Date.now() };
    },
  };
}

function term(name: ServiceName): Scenario {
  return {
    name: `SIGTERM ${name}`,
    fault: `SIGTERM ${name} during load, restart it once it exited`,
    allows: `requests to ${name} that never reached it (not in its request log) unanswered; every request it received answered, with a 503 problem if it came after the signal; exit 0 within ${GRACE_MS[name]} ms`,
    down: name,
    // A request read once shutdown began may be turned away, as a problem a client can retry.
    allowed5xx: (r, w) =>
      r.status === 503 && !r.problem && w.signalAt !== undefined && r.endedAt >= w.signalAt,
    async inject(system) {
      const start = Date.now();
      const exit = await system.term(name);
      await system.restart(name);
      return {
        start,
        restoredAt: Date.now(),
        signalAt: start,
        exit: { ...exit, graceMs: GRACE_MS[name] },
      };
    },
  };
}

/** A broker taken away for a while, then brought back. */
function outage(
  o: Pick<Scenario, 'name' | 'fault' | 'allows' | 'allowed5xx'> & {
    stop(system: System): unknown;
    start(system: System): unknown;
    downMs(p: SizeParams): number;
  },
): Scenario {
  return {
    name: o.name,
    fault: o.fault,
    allows: o.allows,
    ...(o.allowed5xx ? { allowed5xx: o.allowed5xx } : {}),
    async inject(system, p) {
      const start = Date.now();
      await o.stop(system);
      await pause(o.downMs(p));
      await o.start(system);
      return { start, restoredAt: Date.now() };
    },
  };
}

/** The cluster node a stream's or a consumer's info names as leader (retried through elections). */
async function leaderOf(system: System, consumer?: string): Promise<string> {
  const stream = system.names.streams.users;
  return waitFor(
    `the leader of ${stream}${consumer ? `/${consumer}` : ''}`,
    async () => {
      const info = consumer
        ? await system.jsm.consumers.info(stream, consumer)
        : await system.jsm.streams.info(stream);
      return info.cluster?.leader || false;
    },
    60_000,
  );
}

/** Waits until `node` is back as a current replica of USERS and of both consumers of it. */
async function caughtUp(system: System, node: string): Promise<void> {
  const stream = system.names.streams.users;
  const { welcomeEmail, profileCache } = system.names.consumers;
  const current = (c: { leader?: string; replicas?: Array<{ name: string; current: boolean }> }) =>
    c.leader === node || (c.replicas ?? []).some((r) => r.name === node && r.current);
  await waitFor(
    `${node} current again for ${stream} and its consumers`,
    async () => {
      const infos = await Promise.all([
        system.jsm.streams.info(stream),
        system.jsm.consumers.info(stream, welcomeEmail),
        system.jsm.consumers.info(stream, profileCache),
      ]);
      return infos.every((i) => i.cluster && current(i.cluster));
    },
    60_000,
  );
}

/** kill -9 the node leading USERS (or one of its consumers): a new leader takes over, the node
 * comes back with its store and catches up. */
function killLeader(what: 'stream' | 'consumer'): Scenario {
  const subject =
    what === 'stream' ? 'the USERS stream leader' : 'the welcome-email consumer leader';
  return {
    name: `kill -9 ${subject}`,
    fault: `SIGKILL the JetStream node leading ${what === 'stream' ? 'USERS' : 'welcome-email'}, restart it after a pause`,
    allows:
      'nothing: no 5xx, every request answered (the outbox holds events while publishes fail)',
    natsCluster: true,
    noDeadLetters: true,
    updates: true,
    async inject(system, p) {
      const cluster = system.natsCluster!;
      const leader = await leaderOf(
        system,
        what === 'consumer' ? system.names.consumers.welcomeEmail : undefined,
      );
      const start = Date.now();
      await cluster.node(leader).kill();
      await pause(p.killDownMs);
      await cluster.node(leader).start();
      await caughtUp(system, leader);
      return { start, restoredAt: Date.now() };
    },
  };
}

function rollingRestart(): Scenario {
  return {
    name: 'rolling restart of the NATS cluster',
    fault: 'SIGTERM each JetStream node in turn, restarting it and waiting until it caught up',
    allows: 'nothing: no 5xx, every request answered',
    natsCluster: true,
    noDeadLetters: true,
    updates: true,
    async inject(system) {
      const cluster = system.natsCluster!;
      const start = Date.now();
      for (const node of cluster.nodes) {
        await node.stop();
        await node.start();
        await caughtUp(system, node.name);
      }
      return { start, restoredAt: Date.now() };
    },
  };
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'baseline',
    fault: 'none',
    allows: 'nothing: every request answered, no 5xx',
    async inject() {
      const now = Date.now();
      return { start: now, restoredAt: now };
    },
  },
  kill('signup-service'),
  kill('profile-service'),
  kill('notification-service'),
  outage({
    name: 'restart nats-server',
    fault: 'stop nats-server, start it again on the same port and store',
    allows: 'no 5xx: signups are kept in the outbox, reads do not need NATS',
    stop: (system) => system.nats.stop(),
    start: (system) => system.nats.start(),
    downMs: (p) => p.natsDownMs,
  }),
  outage({
    name: 'stop redis',
    fault: 'stop redis-server, start it again',
    allows: 'no 5xx: reads bypass the cache, the rate limiter fails open',
    stop: (system) => system.redis.stop(),
    start: (system) => system.redis.start(),
    downMs: (p) => p.redisDownMs,
  }),
  outage({
    name: 'cut postgres',
    fault: 'reset every Postgres connection at the proxy and refuse new ones',
    allows:
      'while cut (and 2 s after): 503 problem+json for signups and uncached reads; 500 is a violation',
    allowed5xx: (r, w) =>
      r.status === 503 && !r.problem && r.endedAt >= w.start && r.startedAt <= w.restoredAt + 2000,
    stop: (system) => system.pgProxy.cut(),
    start: (system) => system.pgProxy.restore(),
    downMs: (p) => p.postgresCutMs,
  }),
  {
    name: 'smtp 4xx',
    fault: 'the SMTP server answers 451 to every message, then accepts again',
    allows: 'no 5xx; an event that runs out of deliveries during the outage is a dead letter',
    async inject(system, p) {
      const start = Date.now();
      await smtpFailFor(system.smtp, p.smtpFailMs);
      return { start, restoredAt: Date.now() };
    },
  },
  term('signup-service'),
  term('profile-service'),
  term('notification-service'),
  killLeader('stream'),
  killLeader('consumer'),
  rollingRestart(),
];

export interface ScenarioResult {
  name: string;
  fault: string;
  allows: string;
  requests: number;
  reads: number;
  /** Profile updates sent, and of those answered 200. */
  updates: number;
  updatesOk: number;
  /** Every 5xx answer, allowed or not. */
  status5xx: number;
  unexpected5xx: number;
  /** Requests that got no answer (refused, reset, timed out). */
  unanswered: number;
  unexpectedUnanswered: number;
  notProblemJson: number;
  shed: number;
  signups: number;
  emails: number;
  deadLetters: number;
  duplicates: number;
  lost: number;
  /** Emails of signups whose 201 never reached the client (the user exists: not a loss). */
  emailsWithout201: number;
  /** From the fault's removal to the first new signup's welcome email. */
  recoveryMs: number;
  /** From the fault's start to the first email of a signup made after it (during the fault, if
   * the pipeline kept going). */
  faultToEmailMs: number;
  exit?: FaultWindow['exit'];
  violations: string[];
  ok: boolean;
}

function evaluate(
  scenario: Scenario,
  records: RequestRecord[],
  window: FaultWindow,
  accounting: Accounting,
): string[] {
  const violations: string[] = [];
  const sample = (rs: RequestRecord[]) =>
    rs
      .slice(0, 3)
      .map((r) => `${r.kind} ${r.status ?? r.error} at +${r.startedAt - window.start} ms`)
      .join(', ');

  const bad5xx = records.filter(
    (r) => r.status !== undefined && r.status >= 500 && !scenario.allowed5xx?.(r, window),
  );
  if (bad5xx.length) violations.push(`${bad5xx.length} unexpected 5xx (${sample(bad5xx)})`);

  const notProblem = records.filter((r) => r.problem);
  if (notProblem.length)
    violations.push(
      `${notProblem.length} error answers not problem+json (${notProblem[0]?.problem})`,
    );

  const badUnanswered = records.filter((r) => r.error && !unansweredAllowed(scenario, r, window));
  if (badUnanswered.length)
    violations.push(`${badUnanswered.length} requests got no answer (${sample(badUnanswered)})`);

  // The service exits 1 itself when its grace period runs out, so exit 0 means it finished in time.
  if (window.exit && window.exit.code !== 0)
    violations.push(`exited with ${window.exit.signal ?? `code ${window.exit.code}`}, not 0`);
  if (scenario.noDeadLetters && accounting.deadLettered)
    violations.push(`${accounting.deadLettered} dead letters where nothing may fail for good`);
  if (accounting.lost)
    violations.push(
      `${accounting.lost} signups lost: ${accounting.lostEmails.slice(0, 3).join(', ')}`,
    );
  if (accounting.duplicates)
    violations.push(
      `${accounting.duplicates} duplicates (${accounting.sameMessageIdDuplicates} with one Message-ID): ${accounting.duplicateEmails.slice(0, 3).join(', ')}`,
    );
  return violations;
}

function unansweredAllowed(scenario: Scenario, r: RequestRecord, w: FaultWindow): boolean {
  if (!scenario.down || r.target !== scenario.down) return false;
  if (r.endedAt < w.start || r.startedAt > w.restoredAt) return false;
  // After SIGTERM, every request the service received must be answered: one it never read (still
  // in the listen backlog when the socket closed) is refused, which a client retries. Its request
  // log says which is which, however slowly a loaded machine let it read (a kill -9 may cut anything).
  if (w.signalAt !== undefined) return !w.received?.has(r.id);
  return true;
}

/**
 * Every UUID in a service's log lines: the ids of the requests it received are among them (each
 * request is logged with its id, which the load sends as `x-request-id`), whatever the log label.
 */
export function receivedRequestIds(logs: readonly string[]): Set<string> {
  const ids = new Set<string>();
  for (const line of logs) {
    for (const m of line.matchAll(
      /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g,
    )) {
      ids.add(m[0]);
    }
  }
  return ids;
}

export interface RunOptions {
  params: SizeParams;
  /** Called with one line per phase (the CLI prints them). */
  log?: (line: string) => void;
}

/** Runs one scenario on a running system (scenarios share it; each tags its own signups). */
export async function runScenario(
  system: System,
  scenario: Scenario,
  index: number,
  options: RunOptions,
): Promise<ScenarioResult> {
  const p = options.params;
  const log = options.log ?? (() => undefined);
  const load = new Load({
    signupUrl: system.url('signup-service'),
    profileUrl: system.url('profile-service'),
    tag: `s${index}`,
    signupsPerSecond: p.signupsPerSecond,
    readsPerSecond: p.readsPerSecond,
    updatesPerSecond: scenario.updates ? p.updatesPerSecond : 0,
  }).start();
  log(`${scenario.name}: load running`);
  await pause(p.warmMs);
  const window = await scenario.inject(system, p);
  log(`${scenario.name}: fault removed after ${window.restoredAt - window.start} ms`);

  // Recovery: a new signup after the fault goes all the way to its welcome email.
  const probe = await waitFor(
    'a signup answered 201 after the fault',
    async () => {
      const r = await load.signup();
      return r.status === 201 ? r : false;
    },
    p.settleTimeoutMs,
  );
  await waitFor(
    `the welcome email of ${probe.email}`,
    async () =>
      system.smtp.messages.some((m) => m.envelopeTo.includes(probe.email!)) ? true : false,
    p.settleTimeoutMs,
  );
  const recoveryMs = Date.now() - window.restoredAt;
  await pause(p.afterMs);
  await load.stop();
  if (window.signalAt !== undefined && scenario.down) {
    window.received = receivedRequestIds(system.services[scenario.down].logs);
    // Without request logs every unanswered request would look allowed: refuse to judge blind.
    const sent = load.records.filter((r) => r.target === scenario.down);
    if (sent.length > 0 && !sent.some((r) => window.received?.has(r.id))) {
      throw new Error(
        `${scenario.name}: no request log from ${scenario.down} (needs LOG_LEVEL info)`,
      );
    }
  }

  const signups = load.signups();
  const answered = signups.filter((r) => r.status === 201).map((r) => r.email!);
  const notAnswered = signups.filter((r) => r.status !== 201).map((r) => r.email!);
  await settle(system, answered, p.settleTimeoutMs).catch((error: Error) => log(error.message));
  const accounting = await account(system, answered, notAnswered);
  const signedUpAfter = new Set(
    signups.filter((r) => r.startedAt >= window.start && r.email).map((r) => r.email!),
  );
  const faultToEmailMs = Math.min(
    ...system.smtp.messages
      .filter((m) => m.envelopeTo.some((to) => signedUpAfter.has(to)))
      .map((m) => m.receivedAt.getTime() - window.start),
  );
  const violations = evaluate(scenario, load.records, window, accounting);
  const records = load.records;
  const result: ScenarioResult = {
    name: scenario.name,
    fault: scenario.fault,
    allows: scenario.allows,
    requests: records.length,
    reads: records.filter((r) => r.kind === 'read').length,
    updates: records.filter((r) => r.kind === 'update').length,
    updatesOk: records.filter((r) => r.kind === 'update' && r.status === 200).length,
    status5xx: records.filter((r) => (r.status ?? 0) >= 500).length,
    unexpected5xx: records.filter(
      (r) => (r.status ?? 0) >= 500 && !scenario.allowed5xx?.(r, window),
    ).length,
    unanswered: records.filter((r) => r.error).length,
    unexpectedUnanswered: records.filter((r) => r.error && !unansweredAllowed(scenario, r, window))
      .length,
    notProblemJson: records.filter((r) => r.problem).length,
    shed: load.shed,
    signups: accounting.signups,
    emails: accounting.emailed,
    deadLetters: accounting.deadLettered,
    duplicates: accounting.duplicates,
    lost: accounting.lost,
    emailsWithout201: accounting.unanswered,
    recoveryMs,
    faultToEmailMs,
    ...(window.exit ? { exit: window.exit } : {}),
    violations,
    ok: violations.length === 0,
  };
  log(`${scenario.name}: ${result.ok ? 'ok' : `VIOLATED: ${violations.join('; ')}`}`);
  return result;
}
