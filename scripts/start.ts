// `pnpm start`: the one command that runs the whole system on this machine. It checks that
// Postgres, Redis and NATS answer (and says how to start any that does not), migrates the
// database, provisions the JetStream streams and consumers, makes a development JWT key pair if
// none is configured, then runs every service under services/ with prefixed, readable logs and
// stops them all on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { prettyFactory } from 'pino-pretty';
import { ensureDatabase, migrate } from '@app/db';
import { topology } from '@app/contracts';
import { provision } from '@app/platform';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
env.DATABASE_URL ??= 'postgresql://postgres@127.0.0.1:5432/app';
env.REDIS_URL ??= 'redis://127.0.0.1:6379';
env.NATS_URL ??= 'nats://127.0.0.1:4222';

const COLORS = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m'];
const RESET = '\x1b[0m';
const say = (line: string) => process.stdout.write(`\x1b[1m[start]${RESET} ${line}\n`);

const HOW_TO_START: Record<string, string> = {
  Postgres: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  Redis:
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
  NATS: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log',
};

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url.split(',')[0]!);
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: u.hostname, port: Number(u.port || defaultPort) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function checkDependencies(): Promise<void> {
  const deps: Array<[string, string, number]> = [
    ['Postgres', env.DATABASE_URL!, 5432],
    ['Redis', env.REDIS_URL!, 6379],
    ['NATS', env.NATS_URL!, 4222],
  ];
  const down: string[] = [];
  for (const [name, url, port] of deps) {
    if (await reachable(url, port)) say(`${name} answers at ${new URL(url.split(',')[0]!).host}`);
    else
      down.push(`  ${name} is not reachable at ${url}. Start it with:\n    ${HOW_TO_START[name]}`);
  }
  if (down.length > 0) {
    process.stderr.write(
      `Cannot start: \n${down.join('\n')}\n(or point the *_URL variable elsewhere)\n`,
    );
    process.exit(1);
  }
}

/** A development key pair (Ed25519) kept under .local/ (gitignored), made once. */
function ensureJwtKeys(): void {
  if (env.JWT_PRIVATE_KEY && env.JWT_PUBLIC_KEY) return;
  const dir = join(root, '.local', 'jwt');
  const priv = join(dir, 'private.pem');
  const pub = join(dir, 'public.pem');
  if (!existsSync(priv) || !existsSync(pub)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    say(`made a development JWT key pair in ${dir} (never used in production)`);
  }
  env.JWT_PRIVATE_KEY = readFileSync(priv, 'utf8');
  env.JWT_PUBLIC_KEY = readFileSync(pub, 'utf8');
}

/**
 * A development secret kept under .local/ (gitignored), made once, unless the variable is set:
 * notification-service's ADMIN_TOKEN, the ops console's operator token and session secret.
 */
function ensureDevSecret(variable: string, fileName: string): void {
  if (env[variable]) return;
  const file = join(root, '.local', fileName);
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
    say(`made a development ${variable} in ${file} (never used in production)`);
  }
  env[variable] = readFileSync(file, 'utf8').trim();
}

async function provisionStreams(): Promise<void> {
  const nc = await connect({ servers: env.NATS_URL!.split(','), name: 'pnpm-start' });
  try {
    const jsm = await jetstreamManager(nc);
    const result = await provision(
      jsm,
      topology({
        namespace: env.NATS_NAMESPACE ?? '',
        replicas: Number(env.NATS_STREAM_REPLICAS ?? 1),
        welcomeEmail: {
          ...(env.NOTIFY_MAX_ACK_PENDING
            ? { maxAckPending: Number(env.NOTIFY_MAX_ACK_PENDING) }
            : {}),
          ...(env.NOTIFY_MAX_DELIVER ? { maxDeliver: Number(env.NOTIFY_MAX_DELIVER) } : {}),
        },
      }),
      { check: false },
    );
    say(
      `streams and consumers: ${result.created.length} created, ${result.updated.length} updated, ${result.unchanged.length} unchanged`,
    );
  } finally {
    await nc.drain();
  }
}

function servicesToRun(): Array<{ name: string; dir: string }> {
  const dir = join(root, 'services');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => existsSync(join(dir, name, 'src', 'server.ts')))
    .sort()
    .map((name) => ({ name, dir: join(dir, name) }));
}

const pretty = prettyFactory({
  colorize: process.stdout.isTTY,
  singleLine: true,
  translateTime: 'SYS:HH:MM:ss.l',
  ignore: 'pid,hostname,service',
});

function pipeLines(child: ChildProcess, prefix: string): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      let text = line;
      if (line.startsWith('{')) {
        try {
          text = pretty(JSON.parse(line)).trimEnd();
        } catch {
          text = line;
        }
      }
      process.stdout.write(`${prefix} ${text}\n`);
    });
  }
}

async function main(): Promise<void> {
  await checkDependencies();
  if (await ensureDatabase(env.DATABASE_URL!)) say('created the database');
  const { applied, alreadyApplied } = await migrate({
    databaseUrl: env.DATABASE_URL!,
    log: (l) => say(l),
  });
  say(`database: ${applied.length} migration(s) applied, ${alreadyApplied.length} already there`);
  await provisionStreams();
  ensureJwtKeys();
  ensureDevSecret('ADMIN_TOKEN', 'admin-token');
  ensureDevSecret('OPS_OPERATOR_TOKEN', 'ops-operator-token');
  ensureDevSecret('OPS_SESSION_SECRET', 'ops-session-secret');

  const services = servicesToRun();
  if (services.length === 0) {
    say('no service has a src/server.ts yet: nothing more to run');
    return;
  }
  if (services.some((s) => s.name === 'ops-console')) {
    say(
      `the operator console: http://127.0.0.1:3004/ (sign in with the token in ${join(root, '.local', 'ops-operator-token')} unless OPS_OPERATOR_TOKEN is set)`,
    );
  }
  const width = Math.max(...services.map((s) => s.name.length));
  const children = services.map((s, i) => {
    const prefix = `${COLORS[i % COLORS.length]}${s.name.padEnd(width)} |${RESET}`;
    // SIGNUP_SERVICE_PORT etc. move one service off its port (PORT would move them all).
    const portVar = `${s.name.toUpperCase().replace(/-/g, '_')}_PORT`;
    const child = spawn(
      process.execPath,
      ['--import=tsx', '--conditions=app-source', 'src/server.ts'],
      {
        cwd: s.dir,
        env: env[portVar] ? { ...env, PORT: env[portVar] } : env,
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group: Ctrl-C reaches only this script, which then stops each service
        // once, with SIGTERM, instead of every service getting SIGINT and then SIGTERM.
        detached: true,
      },
    );
    pipeLines(child, prefix);
    child.on('exit', (code, signal) => {
      say(`${s.name} exited (${signal ?? `code ${code}`})`);
      if (!stopping) void stop(1);
    });
    return child;
  });
  say(`running ${services.map((s) => s.name).join(', ')}; Ctrl-C stops them all`);

  let stopping = false;
  async function stop(code: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    say('stopping: SIGTERM to every service (they drain, then exit)');
    const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const c of alive) c.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const c of alive) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, 15_000);
    await Promise.all(
      alive.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))),
    );
    clearTimeout(deadline);
    say('all services stopped');
    process.exit(code);
  }
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  // If this script dies some other way, do not leave the services running.
  process.on('exit', () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`pnpm start failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
