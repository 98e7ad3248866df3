// The whole system as real processes, under the suite's control: a private nats-server and
// redis-server (so they can be stopped and restarted), Postgres reached through a TCP proxy to an
// isolated database (so it can be cut), an SMTP sink, and the three services as child processes
// started exactly as `node --import=tsx --conditions=app-source src/server.ts`, one process per
// service or (replicas) several, optionally behind an HAProxy that health-checks each one. It can
// SIGKILL, SIGTERM and restart each process, and it keeps every line each child printed, so that
// tests can search the logs for secrets.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApiClient, type ApiClient } from '@app/client';
import { topology, type Names } from '@app/contracts';
import { provision } from '@app/platform';
import {
  freePort,
  isolatedDatabase,
  killOnExit,
  startNatsCluster,
  startNatsServer,
  startRedisServer,
  startHaproxy,
  startSmtpSink,
  startTcpProxy,
  type Haproxy,
  type NatsCluster,
  type PrivateServer,
  type SmtpSink,
  type TcpProxy,
  type TestLike,
} from '@app/testing';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { httpRequest } from './http.js';

export const SERVICES = ['signup-service', 'profile-service', 'notification-service'] as const;
export type ServiceName = (typeof SERVICES)[number];

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(PACKAGE_DIR, '..', '..');

/** Grace periods the services are started with (SIGTERM must finish within them). */
export const GRACE_MS: Record<ServiceName, number> = {
  'signup-service': 10_000, // platform runServer's default
  'profile-service': 10_000,
  'notification-service': 10_000, // NOTIFY_GRACE_MS below
};

/** Collects teardown functions and runs them in reverse order: the TestLike @app/testing wants. */
export class Teardowns implements TestLike {
  private readonly fns: Array<() => unknown> = [];
  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.reverse()) {
      try {
        await fn();
      } catch {
        // Best effort: one failed cleanup must not keep the others from running.
      }
    }
    this.fns.length = 0;
  }
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceProcess {
  name: ServiceName;
  /** Which replica (0 for the first, the one `System.services[name]` is). */
  index: number;
  /** `signup-service` for the first replica, `signup-service#1` for the second... */
  id: string;
  port: number;
  /** `http://127.0.0.1:<port>` (the port stays the same across restarts). */
  url: string;
  env: Record<string, string>;
  child: ChildProcess | undefined;
  /** Every line printed by every incarnation of this service, stdout and stderr. */
  logs: string[];
  running(): boolean;
}

export interface SystemOptions {
  /** Extra environment per service (rate limits, log level...). */
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Level for every service (default `info`, so request logs are there to be searched). */
  logLevel?: string;
  /** Which services to start (default all three). */
  services?: readonly ServiceName[];
  readyTimeoutMs?: number;
  /** The access-token key pair: Ed25519 (EdDSA, the default) or P-256 (ES256). */
  jwtKey?: 'ed25519' | 'p256';
  /** A 3-node JetStream cluster with R3 streams instead of one nats-server. */
  natsCluster?: boolean;
  /** Processes per service (default 1): each on its own port, all with the service's env. */
  replicas?: Partial<Record<ServiceName, number>>;
  /**
   * An HAProxy in front of every replica of signup-service and profile-service, routing by path as
   * the gateway does and health-checking each on /health/ready (System.balancer).
   */
  balancer?: boolean;
}

/** A service by name (its first replica) or one replica of it. */
export type ServiceTarget = ServiceName | ServiceProcess;

/** The routes the balancer sends to each service (deploy/gateway/nginx.conf.template's map). */
export const BALANCER_ROUTES: Partial<
  Record<ServiceName, { paths: string[]; prefixes: string[] }>
> = {
  'signup-service': {
    paths: ['/v1/signup', '/v1/sessions', '/.well-known/jwks.json'],
    prefixes: [],
  },
  'profile-service': { paths: ['/v1/profiles'], prefixes: ['/v1/profiles/'] },
};

export interface System {
  namespace: string;
  names: Names;
  /** The broker: one nats-server, or (natsCluster) the whole cluster as one: stop/start all. */
  nats: PrivateServer;
  /** Its members, when started with `natsCluster`. */
  natsCluster?: NatsCluster;
  redis: PrivateServer;
  smtp: SmtpSink;
  pgProxy: TcpProxy;
  /** The isolated database, direct (not through the proxy): what the suite itself counts with. */
  databaseUrl: string;
  /** A connection to the private NATS for the suite (reconnects across restarts). */
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  db: pg.Pool;
  keys: { privateKey: string; publicKey: string };
  adminToken: string;
  /** Each service's first replica. */
  services: Record<ServiceName, ServiceProcess>;
  /** Every replica of a service, the first one first. */
  instances(name: ServiceName): ServiceProcess[];
  /** The HAProxy in front of the replicas, when started with `balancer`. */
  balancer?: Haproxy;
  url(name: ServiceName): string;
  /** The typed client (@app/client) on a service's URL, sending `token` as a bearer token if given. */
  api(name: ServiceName, token?: string): ApiClient;
  start(target: ServiceTarget): Promise<void>;
  /** SIGKILL (a crash); resolves when the process is gone. */
  kill(target: ServiceTarget): Promise<ExitInfo>;
  /** SIGTERM; resolves with how it exited and how long it took. */
  term(target: ServiceTarget): Promise<ExitInfo & { ms: number }>;
  /** Starts a stopped service again on the same port and waits for readiness. */
  restart(target: ServiceTarget): Promise<void>;
  waitReady(target: ServiceTarget, timeoutMs?: number): Promise<void>;
  /** Every line of every replica of `name` (default: of every service). */
  logs(name?: ServiceName): string;
  close(): Promise<void>;
}

/** The environment a child inherits: PATH and friends, never this process's own service settings. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'TZ']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

const track = killOnExit;

function exitOf(child: ChildProcess): Promise<ExitInfo> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
}

/** A PEM key pair of the kind signup-service signs with and profile-service verifies. */
export function jwtKeyPair(kind: 'ed25519' | 'p256'): { privateKey: string; publicKey: string } {
  const pair =
    kind === 'p256'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('ed25519');
  return {
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** One nats-server, or a 3-node cluster that stops and starts as one (the whole broker away). */
async function startBroker(
  clustered: boolean,
): Promise<{ nats: PrivateServer; cluster?: NatsCluster }> {
  if (!clustered) return { nats: await startNatsServer() };
  const cluster = await startNatsCluster(3);
  const all = (op: (n: PrivateServer) => Promise<void>) => async () => {
    await Promise.all(cluster.nodes.map(op));
  };
  const nats: PrivateServer = {
    url: cluster.url,
    port: cluster.nodes[0]!.port,
    dir: cluster.nodes[0]!.dir,
    running: () => cluster.nodes.every((n) => n.running()),
    stop: all((n) => n.stop()),
    kill: all((n) => n.kill()),
    start: async () => {
      await all((n) => n.start())();
      await cluster.waitForJetStream();
    },
    close: () => cluster.close(),
  };
  return { nats, cluster };
}

export async function startSystem(options: SystemOptions = {}): Promise<System> {
  const cleanup = new Teardowns();
  try {
    return await build(options, cleanup);
  } catch (error) {
    await cleanup.run();
    throw error;
  }
}

async function build(options: SystemOptions, cleanup: Teardowns): Promise<System> {
  const namespace = `rel_${randomBytes(4).toString('hex')}`;
  const wanted = options.services ?? SERVICES;
  const [database, { nats, cluster }, redis, smtp] = await Promise.all([
    isolatedDatabase(cleanup),
    startBroker(options.natsCluster ?? false),
    startRedisServer(),
    startSmtpSink(),
  ]);
  cleanup.teardown(() => nats.close());
  cleanup.teardown(() => redis.close());
  cleanup.teardown(() => smtp.close());
  const target = new URL(database.url);
  const pgProxy = await startTcpProxy({
    targetHost: target.hostname,
    targetPort: Number(target.port || 5432),
  });
  cleanup.teardown(() => pgProxy.close());
  const db = new pg.Pool({ connectionString: database.url, max: 3 });
  db.on('error', () => undefined);
  cleanup.teardown(() => db.end());

  const welcomeEmail = { ackWaitMs: 5000, maxDeliver: 6, maxAckPending: 64 };
  const nc = await connect({
    servers: nats.url.split(','),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 200,
  });
  cleanup.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  // signup-service's relay publishes into USERS, so the streams must exist before it starts.
  const replicas = cluster ? cluster.nodes.length : 1;
  const topo = topology({ namespace, welcomeEmail, replicas });
  const provisioned = await provision(jsm, topo, { check: false });
  if (provisioned.failed.length > 0) {
    throw new Error(`provisioning failed: ${JSON.stringify(provisioned.failed)}`);
  }

  const { privateKey, publicKey } = jwtKeyPair(options.jwtKey ?? 'ed25519');
  const adminToken = `adm_${randomBytes(24).toString('hex')}`;
  const mailDir = await mkdtemp(join(tmpdir(), 'reliability-mail-'));
  cleanup.teardown(() => rm(mailDir, { recursive: true, force: true }));
  const databaseUrl = pgProxy.urlFor(database.url);
  const logLevel = options.logLevel ?? 'info';

  const common = (port: number): Record<string, string> => ({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    NATS_URL: nats.url,
    NATS_STREAM_REPLICAS: String(replicas),
    NATS_NAMESPACE: namespace,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: logLevel,
    JWT_PUBLIC_KEY: publicKey,
    NODE_ENV: 'production',
  });
  const specific: Record<ServiceName, Record<string, string>> = {
    'signup-service': {
      JWT_PRIVATE_KEY: privateKey,
      SIGNUP_SCRYPT_LOG_N: '12',
      SIGNUP_REDIS_PREFIX: `${namespace}:signup:`,
      SIGNUP_RELAY_POLL_MS: '1000',
      SIGNUP_RATE_SIGNUP_MAX: '1000000',
      SIGNUP_RATE_LOGIN_IP_MAX: '1000000',
      SIGNUP_RATE_LOGIN_EMAIL_MAX: '1000000',
    },
    'profile-service': {
      PROFILE_REDIS_PREFIX: `${namespace}:profile:`,
      PROFILE_OUTBOX_POLL_MS: '1000',
    },
    'notification-service': {
      SMTP_URL: smtp.url,
      ADMIN_TOKEN: adminToken,
      NOTIFY_MAIL_DIR: mailDir,
      NOTIFY_ACK_WAIT_MS: String(welcomeEmail.ackWaitMs),
      NOTIFY_MAX_DELIVER: String(welcomeEmail.maxDeliver),
      NOTIFY_MAX_ACK_PENDING: String(welcomeEmail.maxAckPending),
      NOTIFY_BACKOFF_BASE_MS: '200',
      NOTIFY_BACKOFF_MAX_MS: '2000',
      // A crashed worker's claim is taken over quickly, so a kill -9 resolves within a scenario.
      NOTIFY_CLAIM_TIMEOUT_MS: '3000',
      NOTIFY_SMTP_TIMEOUT_MS: '5000',
      NOTIFY_METRICS_POLL_MS: '1000',
      NOTIFY_GRACE_MS: String(GRACE_MS['notification-service']),
    },
  };

  // Replicas of a service differ only in their port.
  const serviceEnv = (name: ServiceName, port: number): Record<string, string> => ({
    ...baseEnv(),
    ...common(port),
    ...specific[name],
    ...options.env?.[name],
    PORT: String(port),
  });
  const replicasOf = (name: ServiceName) => Math.max(1, options.replicas?.[name] ?? 1);
  const all = {} as Record<ServiceName, ServiceProcess[]>;
  for (const name of SERVICES) {
    all[name] = [];
    for (let index = 0; index < replicasOf(name); index++) {
      const port = await freePort();
      const proc: ServiceProcess = {
        name,
        index,
        id: index === 0 ? name : `${name}#${index}`,
        port,
        url: `http://127.0.0.1:${port}`,
        env: serviceEnv(name, port),
        child: undefined,
        logs: [],
        running: () =>
          proc.child !== undefined &&
          proc.child.exitCode === null &&
          proc.child.signalCode === null,
      };
      all[name].push(proc);
    }
  }
  const services = Object.fromEntries(SERVICES.map((name) => [name, all[name][0]!])) as Record<
    ServiceName,
    ServiceProcess
  >;
  const resolveTarget = (target: ServiceTarget): ServiceProcess =>
    typeof target === 'string' ? services[target] : target;

  const spawnService = (proc: ServiceProcess) => {
    const { name } = proc;
    const child = spawn(
      process.execPath,
      ['--import=tsx', '--conditions=app-source', 'src/server.ts'],
      { cwd: join(REPO_DIR, 'services', name), env: proc.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    track(child);
    let partial = '';
    const onData = (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line !== '') proc.logs.push(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => {
      if (partial !== '') proc.logs.push(partial);
      partial = '';
    });
    proc.child = child;
  };

  const waitReady = async (target: ServiceTarget, timeoutMs = options.readyTimeoutMs ?? 60_000) => {
    const proc = resolveTarget(target);
    const name = proc.id;
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (!proc.running()) {
        throw new Error(`${name} exited before it was ready:\n${proc.logs.slice(-30).join('\n')}`);
      }
      try {
        const res = await httpRequest(proc.url, { path: '/health/ready', timeoutMs: 1000 });
        if (res.status === 200) return;
        last = `HTTP ${res.status} ${res.body.slice(0, 200)}`;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `${name} not ready within ${timeoutMs} ms (${last}):\n${proc.logs.slice(-30).join('\n')}`,
    );
  };

  const start = async (target: ServiceTarget) => {
    const proc = resolveTarget(target);
    if (proc.running()) return;
    spawnService(proc);
    await waitReady(proc);
  };

  const kill = async (target: ServiceTarget): Promise<ExitInfo> => {
    const proc = resolveTarget(target);
    const child = proc.child;
    if (!child || !proc.running()) return { code: null, signal: null };
    child.kill('SIGKILL');
    return exitOf(child);
  };

  const term = async (target: ServiceTarget) => {
    const proc = resolveTarget(target);
    const child = proc.child;
    if (!child || !proc.running()) return { code: null, signal: null, ms: 0 };
    const started = Date.now();
    child.kill('SIGTERM');
    // Bounded: a service that ignores SIGTERM is killed after twice its grace period.
    const timer = setTimeout(() => child.kill('SIGKILL'), GRACE_MS[proc.name] * 2);
    try {
      const info = await exitOf(child);
      return { ...info, ms: Date.now() - started };
    } finally {
      clearTimeout(timer);
    }
  };

  cleanup.teardown(async () => {
    await Promise.all(SERVICES.flatMap((name) => all[name].map((proc) => kill(proc))));
  });

  // One after another: started together on a busy machine, they slowed each other's start-up
  // past its own deadlines (what is under test is the running system, not a start-up race).
  for (const name of wanted) for (const proc of all[name]) await start(proc);

  let balancer: Haproxy | undefined;
  if (options.balancer) {
    balancer = await startHaproxy({
      backends: wanted.flatMap((name) => {
        const routes = BALANCER_ROUTES[name];
        return routes ? [{ name, ports: all[name].map((p) => p.port), ...routes }] : [];
      }),
    });
    const lb = balancer;
    cleanup.teardown(() => lb.close());
    await lb.waitAllUp(options.readyTimeoutMs ?? 60_000);
  }

  return {
    namespace,
    names: topo.names,
    nats,
    ...(cluster ? { natsCluster: cluster } : {}),
    redis,
    smtp,
    pgProxy,
    databaseUrl: database.url,
    nc,
    js,
    jsm,
    db,
    keys: { privateKey, publicKey },
    adminToken,
    services,
    instances: (name) => [...all[name]],
    ...(balancer ? { balancer } : {}),
    url: (name) => services[name].url,
    api: (name, token) => createApiClient({ baseUrl: services[name].url, token }),
    start,
    kill,
    term,
    restart: start,
    waitReady,
    logs: (name) =>
      (name ? [name] : SERVICES)
        .flatMap((n) => all[n].map((proc) => proc.logs.join('\n')))
        .join('\n'),
    close: () => cleanup.run(),
  };
}
