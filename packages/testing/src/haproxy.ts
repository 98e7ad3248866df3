// A private HAProxy in front of several replicas of each service, for tests that restart replicas
// under load. Unlike nginx OSS it checks each server actively (GET /health/ready), so a replica
// that fails readiness while it drains stops getting requests before its listener closes. Its
// config and admin socket live in a temp dir; it runs in the foreground (`-db`) on a free port,
// and the test reads what HAProxy thinks of each server from that socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, killOnExit } from './servers.js';

export interface HaproxyBackend {
  /** Names the backend (letters, digits, - and _), e.g. `signup-service`. */
  name: string;
  /** The replicas, on 127.0.0.1; HAProxy names them `s0`, `s1`... in this order. */
  ports: number[];
  /** Paths routed to it exactly (`/v1/signup`)... */
  paths?: string[];
  /** ...and by prefix (`/v1/profiles/`). */
  prefixes?: string[];
}

export interface HaproxyOptions {
  backends: HaproxyBackend[];
  /** What each server is checked with (default `/health/ready`, which must answer 200). */
  checkPath?: string;
  /** Check interval (default 300 ms); one failed check takes a server out, one passed puts it back. */
  checkIntervalMs?: number;
  /** How long HAProxy waits for a server's answer (default 20 s). */
  serverTimeoutMs?: number;
  /** How long to wait for HAProxy itself to start (default 15 s). */
  readyTimeoutMs?: number;
}

/** One row of HAProxy's `show stat` (its management guide names every column). */
export interface HaproxyStat {
  /** The frontend or backend (`be_<name>`). */
  pxname: string;
  /** `FRONTEND`, `BACKEND`, or a server (`s0`...). */
  svname: string;
  status: string;
  /** Sessions (requests, with a fresh connection each) sent to it. */
  stot: string;
  /** Retries and redispatches. */
  wretr: string;
  wredis: string;
  [column: string]: string;
}

export interface Haproxy {
  /** `http://127.0.0.1:<port>`: the one frontend, routing by path. */
  url: string;
  port: number;
  dir: string;
  /** The server name HAProxy uses for replica `index` of a backend. */
  serverName(index: number): string;
  /** Every row of `show stat` (frontends, backends, servers). */
  stats(): Promise<HaproxyStat[]>;
  /** `UP`, `DOWN`, `MAINT`, `no check`... as HAProxy sees the server right now. */
  status(backend: string, index: number): Promise<string>;
  /** Resolves once HAProxy reports the server in `state` (its checks have seen it). */
  waitFor(backend: string, index: number, state: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>;
  /** Resolves once every server of every backend is UP. */
  waitAllUp(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const NAME = /^[A-Za-z0-9_-]+$/;

function config(o: HaproxyOptions, port: number, socket: string): string {
  const inter = o.checkIntervalMs ?? 300;
  const lines = [
    'global',
    `  stats socket ${socket} mode 600 level admin`,
    '  maxconn 4096',
    '',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    `  timeout server ${o.serverTimeoutMs ?? 20_000}ms`,
    '  timeout check 5s',
    '  timeout http-request 10s',
    // A request that never reached a server (refused, reset before an answer) goes to another
    // one; `redispatch 1` picks a different server on every retry.
    '  retries 3',
    '  option redispatch 1',
    '  retry-on conn-failure empty-response response-timeout',
    '',
    'frontend gateway',
    `  bind 127.0.0.1:${port}`,
    // An empty answer or a timeout may come after a server acted: only requests that are safe to
    // repeat are retried then (a connection failure is always retried: nothing was sent).
    '  http-request disable-l7-retry if !METH_GET !METH_HEAD !{ req.hdr(idempotency-key) -m found }',
  ];
  for (const b of o.backends) {
    const conditions: string[] = [];
    if (b.paths?.length) conditions.push(`{ path ${b.paths.join(' ')} }`);
    if (b.prefixes?.length) conditions.push(`{ path_beg ${b.prefixes.join(' ')} }`);
    for (const c of conditions) lines.push(`  use_backend be_${b.name} if ${c}`);
  }
  lines.push('  default_backend not_found', '');
  lines.push(
    'backend not_found',
    '  http-request return status 404 content-type application/problem+json string ' +
      `'{"type":"about:blank","title":"Not Found","status":404,"code":"NO_ROUTE"}'`,
    '',
  );
  for (const b of o.backends) {
    lines.push(
      `backend be_${b.name}`,
      '  balance roundrobin',
      `  option httpchk GET ${o.checkPath ?? '/health/ready'}`,
      '  http-check expect status 200',
      `  default-server inter ${inter}ms fastinter ${inter}ms downinter ${inter}ms fall 1 rise 1`,
      ...b.ports.map((p, i) => `  server s${i} 127.0.0.1:${p} check`),
      '',
    );
  }
  return lines.join('\n');
}

/** Sends one command to the admin socket and resolves with the whole answer. */
function command(socket: string, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let out = '';
    conn.setEncoding('utf8');
    conn.setTimeout(5000, () => conn.destroy(new Error(`haproxy socket: no answer to ${cmd}`)));
    conn.on('connect', () => conn.write(`${cmd}\n`));
    conn.on('data', (d: string) => (out += d));
    conn.on('end', () => resolve(out));
    conn.on('error', reject);
  });
}

function parseStats(csv: string): HaproxyStat[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines.shift()?.replace(/^#\s*/, '').split(',') ?? [];
  return lines.map((line) => {
    const values = line.split(',');
    const row: Record<string, string> = { pxname: '', svname: '', status: '', stot: '' };
    header.forEach((h, i) => (row[h] = values[i] ?? ''));
    return row as HaproxyStat;
  });
}

export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  for (const b of options.backends) {
    if (!NAME.test(b.name)) throw new Error(`haproxy: bad backend name ${b.name}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'haproxy-'));
  const socket = join(dir, 'admin.sock');
  const cfg = join(dir, 'haproxy.cfg');
  const port = await freePort();
  await writeFile(cfg, config(options, port, socket));

  const child: ChildProcess = spawn('haproxy', ['-f', cfg, '-db'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const running = () => child.exitCode === null && child.signalCode === null && !spawnError;

  const close = async () => {
    if (running()) {
      child.kill('SIGKILL');
      await once(child, 'exit').catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const stats = async () => parseStats(await command(socket, 'show stat'));
  const status = async (backend: string, index: number) => {
    const row = (await stats()).find(
      (r) => r.pxname === `be_${backend}` && r.svname === `s${index}`,
    );
    if (!row) throw new Error(`haproxy: no server s${index} in backend ${backend}`);
    return row.status;
  };
  const poll = async (what: string, ok: () => Promise<boolean>, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (!running()) throw new Error(`haproxy exited: ${spawnError?.message ?? output}`);
      try {
        if (await ok()) return;
      } catch (error) {
        last = `: ${(error as Error).message}`;
      }
      if (Date.now() > deadline)
        throw new Error(`haproxy: ${what} not within ${timeoutMs} ms${last}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  try {
    await poll(
      'admin socket answering',
      async () => (await stats()).length > 0,
      options.readyTimeoutMs ?? 15_000,
    );
  } catch (error) {
    await close();
    throw error;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    serverName: (index) => `s${index}`,
    stats,
    status,
    waitFor: (backend, index, state, timeoutMs = 30_000) =>
      poll(
        `${backend} s${index} ${state}`,
        async () => (await status(backend, index)).startsWith(state),
        timeoutMs,
      ),
    waitAllUp: (timeoutMs = 30_000) =>
      poll(
        'every server UP',
        async () => {
          const rows = await stats();
          return options.backends.every((b) =>
            b.ports.every((_, i) =>
              rows.some(
                (r) => r.pxname === `be_${b.name}` && r.svname === `s${i}` && r.status === 'UP',
              ),
            ),
          );
        },
        timeoutMs,
      ),
    close,
  };
}
