// Private brokers and a fault-injecting TCP proxy for failure tests. A test that stops, kills or cuts
// a server must own it: these start their own nats-server / redis-server on a free port (never the
// shared ones) and a proxy that can add latency or drop every connection on demand; and a
// Prometheus of the test's own, for tests that hold alert rules and dashboards to a real scrape.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

export interface PrivateServer {
  url: string;
  port: number;
  /** Data directory (JetStream store, Redis dir); removed by close(). */
  dir: string;
  /** Whether the process is running. */
  running(): boolean;
  /** SIGTERM, resolves once the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), resolves once the process has exited. */
  kill(): Promise<void>;
  /** Starts again on the same port and directory (JetStream streams survive). */
  start(): Promise<void>;
  /** Kills the process if running and removes its directory. */
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * SIGKILLs `child` if this process exits first: a test, bench or suite that dies must not leave
 * brokers or services behind holding ports and temp dirs.
 */
export function killOnExit(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

/** A port nobody listens on right now: listen on 0, read it, close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return once(child, 'exit').then(() => undefined);
}

/** Spawns and resolves when `ready` appears in the output; rejects with the output on early exit. */
function spawnUntilReady(
  command: string,
  args: string[],
  ready: RegExp,
  what: string,
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    let output = '';
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        child.kill('SIGKILL');
        reject(error);
      } else {
        resolve(child);
      }
    };
    const onData = (chunk: Buffer) => {
      // Keep reading after ready so a full pipe never blocks the server; only the tail is kept.
      if (settled) return;
      output = (output + chunk.toString('utf8')).slice(-4000);
      if (ready.test(output)) finish();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error) =>
      finish(new Error(`${what}: cannot run ${command}: ${error.message}`)),
    );
    child.once('exit', (code, signal) =>
      finish(new Error(`${what} exited (${signal ?? code}) before it was ready:\n${output}`)),
    );
    const timer = setTimeout(
      () => finish(new Error(`${what} not ready within ${READY_TIMEOUT_MS} ms:\n${output}`)),
      READY_TIMEOUT_MS,
    );
  });
}

interface ServerRecipe {
  what: string;
  command: string;
  /** A port chosen by the caller (a cluster's members name each other's); else a free one. */
  port?: number;
  args(port: number, dir: string): string[];
  ready: RegExp;
  url(port: number): string;
  /** Writes what the server reads at start (its config) into its temp dir, before each launch. */
  prepare?(port: number, dir: string): Promise<void>;
  afterReady?(url: string): Promise<void>;
}

async function startPrivate(recipe: ServerRecipe): Promise<PrivateServer> {
  const dir = await mkdtemp(join(tmpdir(), `${recipe.what.replace(/\W+/g, '-')}-`));
  let child: ChildProcess | undefined;
  let port = 0;

  const launch = async () => {
    await recipe.prepare?.(port, dir);
    child = await spawnUntilReady(
      recipe.command,
      recipe.args(port, dir),
      recipe.ready,
      recipe.what,
    );
    await recipe.afterReady?.(recipe.url(port));
  };

  // The free port can be taken between probe and bind by another process; try a few.
  for (let attempt = 1; ; attempt++) {
    port = recipe.port ?? (await freePort());
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt >= 3 || recipe.port !== undefined) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  const isRunning = () =>
    child !== undefined && child.exitCode === null && child.signalCode === null;
  const signal = async (sig: NodeJS.Signals) => {
    if (!child || !isRunning()) return;
    const current = child;
    current.kill(sig);
    await exited(current);
  };

  return {
    url: recipe.url(port),
    port,
    dir,
    running: isRunning,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    start: async () => {
      if (isRunning()) return;
      await launch();
    },
    close: async () => {
      await signal('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForJetStream(url: string): Promise<void> {
  const nc = await connect({ servers: url, reconnect: false, timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    await jsm.getAccountInfo();
  } finally {
    await nc.close();
  }
}

/** A nats-server of the test's own on 127.0.0.1 (JetStream on by default, store in a temp dir). */
export function startNatsServer(options: { jetstream?: boolean } = {}): Promise<PrivateServer> {
  const js = options.jetstream ?? true;
  return startPrivate({
    what: 'nats-server',
    command: '/usr/sbin/nats-server',
    args: (port, dir) => [
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      ...(js ? ['-js', '-sd', dir] : []),
    ],
    ready: /Server is ready/,
    url: (port) => `nats://127.0.0.1:${port}`,
    ...(js ? { afterReady: waitForJetStream } : {}),
  });
}

export interface NatsNodeOptions {
  /** `--server_name`, unique in the cluster. */
  name: string;
  port: number;
  /** This node's cluster (route) port, and the other members' route URLs. */
  clusterPort: number;
  routes: string[];
  clusterName: string;
}

/** One member of a JetStream cluster (see nats-cluster.ts): store in its own temp dir. */
export function startNatsNode(o: NatsNodeOptions): Promise<PrivateServer> {
  return startPrivate({
    what: `nats-server ${o.name}`,
    command: '/usr/sbin/nats-server',
    port: o.port,
    args: (port, dir) => [
      ...['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir],
      ...['--server_name', o.name, '--cluster_name', o.clusterName],
      ...['--cluster', `nats://127.0.0.1:${o.clusterPort}`, '--routes', o.routes.join(',')],
    ],
    ready: /Server is ready/,
    url: (port) => `nats://127.0.0.1:${port}`,
  });
}

/** A redis-server of the test's own on 127.0.0.1, without persistence. */
export function startRedisServer(): Promise<PrivateServer> {
  return startPrivate({
    what: 'redis-server',
    command: 'redis-server',
    args: (port, dir) => [
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
    ],
    ready: /Ready to accept connections/,
    url: (port) => `redis://127.0.0.1:${port}`,
  });
}

export interface PrometheusOptions {
  /** prometheus.yml as an object (written as JSON, which is YAML); relative paths are in `files`. */
  config: Record<string, unknown>;
  /** Files next to the config (rule files), by name. */
  files?: Record<string, string>;
}

/**
 * Debian's Prometheus of the test's own on 127.0.0.1 (`url` is its HTTP API and UI), its TSDB in a
 * temp dir; the config and rule files are written there before it starts.
 */
export function startPrometheusServer(options: PrometheusOptions): Promise<PrivateServer> {
  return startPrivate({
    what: 'prometheus',
    command: 'prometheus',
    prepare: async (_port, dir) => {
      await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(options.config, null, 2));
      for (const [name, text] of Object.entries(options.files ?? {})) {
        await writeFile(join(dir, name), text);
      }
    },
    args: (port, dir) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    ready: /Server is ready to receive web requests/,
    url: (port) => `http://127.0.0.1:${port}`,
  });
}

export interface TcpProxy {
  host: string;
  port: number;
  /** `url` with its host and port replaced by the proxy's (e.g. a DATABASE_URL through the proxy). */
  urlFor(url: string): string;
  /** Delay every chunk, both directions, by `ms` (order kept). 0 turns it off. */
  setLatency(ms: number): void;
  /** Reset every open connection and refuse new ones until restore(). */
  cut(): void;
  restore(): void;
  /** Open client connections. */
  connections(): number;
  close(): Promise<void>;
}

interface Pending {
  due: number;
  chunk: Buffer;
}

/** Forwards from one socket to another, each chunk held back by the current latency. */
function delayedPipe(from: Socket, to: Socket, latency: () => number): void {
  const queue: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let ended = false;

  const flush = () => {
    timer = undefined;
    const now = Date.now();
    while (queue.length > 0 && queue[0]!.due <= now) to.write(queue.shift()!.chunk);
    if (queue.length > 0) timer = setTimeout(flush, queue[0]!.due - now);
    else if (ended) to.end();
  };

  from.on('data', (chunk: Buffer) => {
    const ms = latency();
    if (ms <= 0 && queue.length === 0) {
      to.write(chunk);
      return;
    }
    // Never earlier than the chunk before it, even if latency was lowered meanwhile.
    const last = queue.at(-1)?.due ?? 0;
    queue.push({ due: Math.max(Date.now() + ms, last), chunk });
    timer ??= setTimeout(flush, Math.max(0, queue[0]!.due - Date.now()));
  });
  from.on('end', () => {
    ended = true;
    if (queue.length === 0) to.end();
  });
  from.on('close', () => {
    if (timer) clearTimeout(timer);
  });
}

/** A TCP proxy to targetHost:targetPort on 127.0.0.1 and a free port, for latency and outage tests. */
export async function startTcpProxy(options: {
  targetHost: string;
  targetPort: number;
}): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let latencyMs = 0;
  let isCut = false;

  const server: Server = createServer((client) => {
    if (isCut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = tcpConnect({ host: options.targetHost, port: options.targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const teardown = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', teardown);
    upstream.on('close', teardown);
    delayedPipe(client, upstream, () => latencyMs);
    delayedPipe(upstream, client, () => latencyMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const host = '127.0.0.1';

  return {
    host,
    port,
    urlFor(url) {
      const parsed = new URL(url);
      parsed.hostname = host;
      parsed.port = String(port);
      return parsed.toString();
    },
    setLatency(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new Error(`latency must be >= 0 ms, got ${ms}`);
      latencyMs = ms;
    },
    cut() {
      isCut = true;
      for (const [client, upstream] of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    restore() {
      isCut = false;
    },
    connections: () => pairs.size,
    close: async () => {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
