// Where the real Postgres, Redis and NATS for tests live. The only module of the harness that reads
// process.env: ambient services (env or local defaults) are probed once per process; a missing
// default is started with testcontainers when a Docker engine answers, otherwise the error says
// exactly which command starts it on this kind of machine.
import { existsSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';

export interface ServiceUrls {
  /** Admin connection (database `postgres`): isolation creates per-test databases from it. */
  databaseUrl: string;
  redisUrl: string;
  /** One or more comma-separated NATS servers. */
  natsUrl: string;
}

export type ServiceEnv = Readonly<Record<string, string | undefined>>;

export type ServiceKind = 'postgres' | 'redis' | 'nats';

interface ServiceSpec {
  label: string;
  envVar: string;
  defaultUrl: string;
  defaultPort: number;
  startCommand: string;
}

const SPECS: Record<ServiceKind, ServiceSpec> = {
  postgres: {
    label: 'Postgres',
    envVar: 'DATABASE_URL',
    defaultUrl: 'postgresql://postgres@127.0.0.1:5432/postgres',
    defaultPort: 5432,
    startCommand: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  },
  redis: {
    label: 'Redis',
    envVar: 'REDIS_URL',
    defaultUrl: 'redis://127.0.0.1:6379',
    defaultPort: 6379,
    startCommand:
      'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
  },
  nats: {
    label: 'NATS',
    envVar: 'NATS_URL',
    defaultUrl: 'nats://127.0.0.1:4222',
    defaultPort: 4222,
    startCommand:
      'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log',
  },
};

const PROBE_TIMEOUT_MS = 1000;

export interface Address {
  host: string;
  port: number;
}

/** host:port of every server in a URL (NATS allows a comma-separated list, scheme optional). */
export function addressesOf(url: string, defaultPort: number): Address[] {
  return url
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const parsed = new URL(part.includes('://') ? part : `tcp://${part}`);
      const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
      return { host, port: parsed.port ? Number(parsed.port) : defaultPort };
    });
}

/** The message a test run shows when a service is missing: what is down and how to start it. */
export function unreachableMessage(kind: ServiceKind, url: string, fromEnv: boolean): string {
  const spec = SPECS[kind];
  const where = addressesOf(url, spec.defaultPort)
    .map((a) => `${a.host}:${a.port}`)
    .join(', ');
  if (fromEnv) {
    return `${spec.label} is not reachable at ${where} (from ${spec.envVar}). Start the server that ${spec.envVar} names, or unset ${spec.envVar} to use the local default.`;
  }
  return `${spec.label} is not reachable at ${where}. Start it with: ${spec.startCommand} (or set ${spec.envVar})`;
}

const probes = new Map<string, Promise<boolean>>();

/** Whether a TCP connection to host:port succeeds within 1 s; memoised per process. */
export function probe(address: Address): Promise<boolean> {
  const key = `${address.host}:${address.port}`;
  let result = probes.get(key);
  if (!result) {
    result = new Promise<boolean>((resolve) => {
      const socket = tcpConnect({ host: address.host, port: address.port });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    });
    probes.set(key, result);
  }
  return result;
}

async function anyReachable(url: string, defaultPort: number): Promise<boolean> {
  const results = await Promise.all(addressesOf(url, defaultPort).map(probe));
  return results.includes(true);
}

function dockerLikelyPresent(env: ServiceEnv): boolean {
  return Boolean(env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

let dockerAnswers: Promise<boolean> | undefined;

async function dockerEngineAnswers(env: ServiceEnv): Promise<boolean> {
  if (!dockerLikelyPresent(env)) return false;
  dockerAnswers ??= import('testcontainers')
    .then(({ getContainerRuntimeClient }) => getContainerRuntimeClient())
    .then(
      () => true,
      () => false,
    );
  return dockerAnswers;
}

const containers = new Map<ServiceKind, Promise<string>>();

// Containers are left to testcontainers' reaper (Ryuk), which removes them when the process ends.
async function startContainer(kind: ServiceKind): Promise<string> {
  switch (kind) {
    case 'postgres': {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const pg = await new PostgreSqlContainer('postgres:16-alpine')
        .withDatabase('postgres')
        .withUsername('postgres')
        .withPassword('postgres')
        .start();
      return pg.getConnectionUri();
    }
    case 'redis': {
      const { RedisContainer } = await import('@testcontainers/redis');
      const redis = await new RedisContainer('redis:7-alpine').start();
      return redis.getConnectionUrl();
    }
    case 'nats': {
      const { GenericContainer, Wait } = await import('testcontainers');
      const nats = await new GenericContainer('nats:2.11-alpine')
        .withCommand(['-js'])
        .withExposedPorts(4222)
        .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
        .start();
      return `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`;
    }
  }
}

async function resolveService(kind: ServiceKind, env: ServiceEnv): Promise<string> {
  const spec = SPECS[kind];
  const fromEnv = Boolean(env[spec.envVar]);
  const url = env[spec.envVar] || spec.defaultUrl;
  if (await anyReachable(url, spec.defaultPort)) return url;
  // An explicit URL is the user's choice: never replace it with a container behind their back.
  if (!fromEnv && (await dockerEngineAnswers(env))) {
    let started = containers.get(kind);
    if (!started) {
      started = startContainer(kind);
      containers.set(kind, started);
    }
    return started;
  }
  throw new Error(unreachableMessage(kind, url, fromEnv));
}

/**
 * URLs of the Postgres (admin), Redis and NATS that tests use. `env` defaults to process.env;
 * tests of the harness pass their own.
 */
export async function serviceUrls(env: ServiceEnv = process.env): Promise<ServiceUrls> {
  const kinds: ServiceKind[] = ['postgres', 'redis', 'nats'];
  const results = await Promise.allSettled(kinds.map((kind) => resolveService(kind, env)));
  const failures = results.flatMap((r) =>
    r.status === 'rejected'
      ? [r.reason instanceof Error ? r.reason.message : String(r.reason)]
      : [],
  );
  if (failures.length > 0) throw new Error(failures.join('\n'));
  const [databaseUrl, redisUrl, natsUrl] = results.map((r) =>
    r.status === 'fulfilled' ? r.value : '',
  ) as [string, string, string];
  return { databaseUrl, redisUrl, natsUrl };
}
