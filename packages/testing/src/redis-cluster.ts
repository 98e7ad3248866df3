// A private Redis Cluster (3 masters, 3 replicas) and a private Sentinel group (a master, its
// replica, 3 sentinels) for tests that run a service in those modes and kill a master under it.
// Every node is a redis-server of the test's own on a free loopback port, its files in a temp dir,
// killed if the test process dies; start-up waits on what each step promises (a node answering
// PING, every node reporting cluster_state:ok, replicas in sync, sentinels seeing each other),
// polled with generous bounds for a loaded machine, never a fixed sleep.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort, killOnExit } from './servers.js';
import { waitUntil } from './wait.js';

const run = promisify(execFile);
const START_TIMEOUT_MS = 60_000;

/** One redis-server process of a private topology. */
interface Node {
  port: number;
  child: ChildProcess;
  /** The last output, for the error when it dies before it answers. */
  output(): string;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function sigkill(child: ChildProcess): Promise<void> {
  if (!alive(child)) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

/** A short-lived client that answers or fails at once (for polling). */
async function ask<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 5000,
  });
  // A refused connection rejects connect(); the 'error' event would only repeat it.
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/**
 * Starts `redis-server` with `args(port)` on a free port and resolves once it answers PING; a port
 * taken between probe and bind (the server exits) is retried on another.
 */
async function startNode(
  args: (port: number) => string[],
  what: string,
  prepare?: (port: number) => Promise<void>,
): Promise<Node> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await prepare?.(port);
    const child = spawn('redis-server', args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-4000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    try {
      await waitUntil(
        `${what} on port ${port} to answer PING`,
        async () => {
          if (!alive(child)) throw new Error(`${what} exited:\n${output}`);
          return (await ask(port, (r) => r.ping())) === 'PONG';
        },
        START_TIMEOUT_MS,
      );
      return { port, child, output: () => output };
    } catch (error) {
      await sigkill(child);
      if (attempt >= 3) throw error;
    }
  }
}

/** Fields of an INFO section or CLUSTER INFO reply (`key:value` lines). */
function fields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return out;
}

const baseArgs = (port: number, dir: string) => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
  '--dir',
  dir,
  // A replica syncs straight from the master's memory, at once.
  '--repl-diskless-sync',
  'yes',
  '--repl-diskless-sync-delay',
  '0',
];

/** A client of the topology in `env` (REDIS_CLUSTER_NODES or REDIS_SENTINELS), connected. */
export async function connectRedisTopology(env: Record<string, string>): Promise<Redis | Cluster> {
  const list = (value: string) =>
    value.split(',').map((entry) => {
      const colon = entry.trim().lastIndexOf(':');
      return { host: entry.trim().slice(0, colon), port: Number(entry.trim().slice(colon + 1)) };
    });
  let client: Redis | Cluster;
  if (env.REDIS_CLUSTER_NODES) {
    client = new Cluster(list(env.REDIS_CLUSTER_NODES), { lazyConnect: true });
  } else if (env.REDIS_SENTINELS && env.REDIS_SENTINEL_MASTER) {
    client = new Redis({
      sentinels: list(env.REDIS_SENTINELS),
      name: env.REDIS_SENTINEL_MASTER,
      lazyConnect: true,
      failoverDetector: true,
    });
  } else {
    throw new Error('connectRedisTopology: neither REDIS_CLUSTER_NODES nor REDIS_SENTINELS');
  }
  // A test's client outlives nothing it needs to hear about: commands still reject on errors.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Every key matching `pattern`, from each master of a Cluster (SCAN, never KEYS). */
export async function scanKeys(client: Redis | Cluster, pattern: string): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

export interface PrivateRedisCluster {
  /** Ports of the six nodes (masters and replicas as `redis-cli --cluster create` chose). */
  ports: number[];
  /** `{ REDIS_CLUSTER_NODES: '127.0.0.1:p1,...' }`, for a service's environment. */
  env: Record<string, string>;
  /** The port of the master serving `key`'s slot now (asked of a live node). */
  masterOf(key: string): Promise<number>;
  /** SIGKILLs the node on `port` (a crash); resolves once it has exited. */
  kill(port: number): Promise<void>;
  /** Resolves when every live node reports cluster_state:ok (after a failover, say). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes their directories. */
  close(): Promise<void>;
}

/** A Redis Cluster of 3 masters and 3 replicas (one each), ready: all slots served, replicas synced. */
export async function startRedisCluster(): Promise<PrivateRedisCluster> {
  const root = await mkdtemp(join(tmpdir(), 'redis-cluster-'));
  const nodes: Node[] = [];
  const close = async () => {
    await Promise.all(nodes.map((n) => sigkill(n.child)));
    await rm(root, { recursive: true, force: true });
  };
  const live = () => nodes.filter((n) => alive(n.child));
  const waitHealthy = (timeoutMs = START_TIMEOUT_MS) =>
    waitUntil(
      'every cluster node to report cluster_state:ok',
      async () => {
        const infos = await Promise.all(
          live().map((n) => ask(n.port, async (r) => fields(await r.cluster('INFO')))),
        );
        return infos.every((i) => i.cluster_state === 'ok' && i.cluster_slots_ok === '16384');
      },
      timeoutMs,
    ).then(() => undefined);

  try {
    for (let i = 0; i < 6; i++) {
      const dir = join(root, `node-${i}`);
      await mkdir(dir);
      nodes.push(
        await startNode(
          (port) => [
            ...baseArgs(port, dir),
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, 'nodes.conf'),
            '--cluster-node-timeout',
            '2000',
            // A replica may take over however long it has been cut off from its master.
            '--cluster-replica-validity-factor',
            '0',
          ],
          `redis cluster node ${i}`,
        ),
      );
    }
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: START_TIMEOUT_MS },
    );
    await waitHealthy();
    await waitUntil(
      'every replica to be in sync with its master',
      async () => {
        const roles = await Promise.all(
          nodes.map((n) => ask(n.port, async (r) => fields(await r.info('replication')))),
        );
        const replicas = roles.filter((r) => r.role === 'slave');
        return replicas.length === 3 && replicas.every((r) => r.master_link_status === 'up');
      },
      START_TIMEOUT_MS,
    );
  } catch (error) {
    await close();
    throw error;
  }

  const ports = nodes.map((n) => n.port);
  return {
    ports,
    env: { REDIS_CLUSTER_NODES: ports.map((p) => `127.0.0.1:${p}`).join(',') },
    async masterOf(key) {
      const [node] = live();
      if (!node) throw new Error('no cluster node is running');
      return ask(node.port, async (r) => {
        const slot = Number(await r.cluster('KEYSLOT', key));
        const ranges = await r.cluster('SLOTS');
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        const master = range?.[2];
        if (!master) throw new Error(`slot ${slot} is served by no master`);
        return Number(master[1]);
      });
    },
    async kill(port) {
      const node = nodes.find((n) => n.port === port);
      if (!node) throw new Error(`no cluster node on port ${port}`);
      await sigkill(node.child);
    },
    waitHealthy,
    close,
  };
}

export interface PrivateRedisSentinel {
  /** The master name the sentinels monitor. */
  name: string;
  /** `{ REDIS_SENTINELS: '127.0.0.1:s1,...', REDIS_SENTINEL_MASTER: name }`. */
  env: Record<string, string>;
  /** The port of the current master, as the sentinels say. */
  masterPort(): Promise<number>;
  /** SIGKILLs the current master; resolves with its port once it has exited. */
  killMaster(): Promise<number>;
  /** Kills every process and removes their directories. */
  close(): Promise<void>;
}

/** A master, one replica and 3 sentinels (quorum 2) that fail over 1 s after the master dies. */
export async function startRedisSentinel(name = 'app'): Promise<PrivateRedisSentinel> {
  const root = await mkdtemp(join(tmpdir(), 'redis-sentinel-'));
  const data: Node[] = [];
  const sentinels: Node[] = [];
  const close = async () => {
    await Promise.all([...sentinels, ...data].map((n) => sigkill(n.child)));
    await rm(root, { recursive: true, force: true });
  };
  const askSentinel = async <T>(fn: (r: Redis) => Promise<T>): Promise<T> => {
    let last: unknown;
    for (const s of sentinels.filter((n) => alive(n.child))) {
      try {
        return await ask(s.port, fn);
      } catch (error) {
        last = error;
      }
    }
    throw last instanceof Error ? last : new Error('no sentinel answered');
  };
  const masterPort = () =>
    askSentinel(async (r) => {
      const addr = (await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[] | null;
      if (!addr) throw new Error(`the sentinels do not know ${name}`);
      return Number(addr[1]);
    });

  try {
    const masterDir = join(root, 'master');
    await mkdir(masterDir);
    const master = await startNode((port) => baseArgs(port, masterDir), 'redis master');
    data.push(master);
    const replicaDir = join(root, 'replica');
    await mkdir(replicaDir);
    data.push(
      await startNode(
        (port) => [...baseArgs(port, replicaDir), '--replicaof', '127.0.0.1', String(master.port)],
        'redis replica',
      ),
    );
    await waitUntil(
      'the replica to be in sync',
      async () =>
        fields(await ask(data[1]!.port, (r) => r.info('replication'))).master_link_status === 'up',
      START_TIMEOUT_MS,
    );
    for (let i = 0; i < 3; i++) {
      const dir = join(root, `sentinel-${i}`);
      await mkdir(dir);
      // Sentinel rewrites its config file (what it learned), so each has its own.
      const conf = join(dir, 'sentinel.conf');
      const config = (port: number) =>
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          '',
        ].join('\n');
      sentinels.push(
        await startNode(
          () => [conf, '--sentinel'],
          `redis sentinel ${i}`,
          (port) => writeFile(conf, config(port)),
        ),
      );
    }
    // Sentinels find the replica and each other through the master (hello messages every 2 s).
    await waitUntil(
      'every sentinel to see the replica and the 2 other sentinels',
      async () => {
        const views = await Promise.all(
          sentinels.map((s) =>
            ask(s.port, async (r) => {
              const flat = (await r.call('SENTINEL', 'MASTER', name)) as string[];
              const view: Record<string, string> = {};
              for (let k = 0; k + 1 < flat.length; k += 2) view[flat[k]!] = flat[k + 1]!;
              return view;
            }),
          ),
        );
        return views.every(
          (v) =>
            v['num-slaves'] === '1' && v['num-other-sentinels'] === '2' && v.flags === 'master',
        );
      },
      START_TIMEOUT_MS,
    );
  } catch (error) {
    await close();
    throw error;
  }
  return {
    name,
    env: {
      REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      REDIS_SENTINEL_MASTER: name,
    },
    masterPort,
    async killMaster() {
      const port = await masterPort();
      const node = data.find((n) => n.port === port);
      if (!node) throw new Error(`the master's port ${port} is none of this group's`);
      await sigkill(node.child);
      return port;
    },
    close,
  };
}
