// `pnpm start` + `pnpm demo`, end to end, on an isolated slice of the shared services (own
// database, NATS namespace, Redis prefix, mail dir, ports and secrets): the demo must pass all its
// steps, and Ctrl-C must stop every service cleanly and free their ports. This is also the
// foundation's acceptance check "pnpm start brings up what exists and Ctrl-C stops it cleanly".
// Then once more with SMTP_URL at a plain SMTP server: the demo shows the delivery from the ledger.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { createPrisma } from '@app/db';
import { freePort, isolatedNats, isolatedRedis, serviceUrls, startSmtpSink } from '@app/testing';
import { Proc, withTimeout } from './processes.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVICES = ['signup-service', 'profile-service', 'notification-service'] as const;
type Service = (typeof SERVICES)[number];
/** Polls `/health/ready` until 200, bounded: readiness has no event to subscribe to. */
async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url}/health/ready not 200 within ${timeoutMs} ms (last: ${last})`);
}

async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  const result = await Promise.race([
    once(server, 'listening').then(() => true),
    once(server, 'error').then(() => false),
  ]);
  if (result) await new Promise<void>((resolve) => server.close(() => resolve()));
  return result;
}

interface Running {
  start: Proc;
  base: Record<Service, string>;
  ports: Record<Service, number>;
  namespace: string;
  adminToken: string;
  /** The variables `pnpm demo` needs to find this slice. */
  demoEnv: Record<string, string>;
}

/** `pnpm start` on a fresh slice of the shared services, with `extra` in its environment. */
async function startAll(t: Test, extra: Record<string, string> = {}): Promise<Running> {
  const urls = await serviceUrls();
  const nats = await isolatedNats(t);
  const redis = await isolatedRedis(t);
  const database = `demo_${randomBytes(6).toString('hex')}`;
  const adminDb = new URL(urls.databaseUrl);
  const databaseUrl = new URL(urls.databaseUrl);
  databaseUrl.pathname = `/${database}`;
  t.teardown(async () => {
    const prisma = createPrisma(adminDb.toString(), { max: 1 });
    try {
      await prisma.$executeRawUnsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } finally {
      await prisma.$disconnect();
    }
  });
  const mailDir = mkdtempSync(join(tmpdir(), 'demo-mail-'));
  t.teardown(() => rmSync(mailDir, { recursive: true, force: true }));

  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const adminToken = randomBytes(24).toString('base64url');
  const ports: Record<Service, number> = {
    'signup-service': await freePort(),
    'profile-service': await freePort(),
    'notification-service': await freePort(),
  };
  const shared = {
    DATABASE_URL: databaseUrl.toString(),
    REDIS_URL: urls.redisUrl,
    NATS_URL: urls.natsUrl,
    NATS_NAMESPACE: nats.namespace,
    PROFILE_REDIS_PREFIX: redis.prefix,
    ADMIN_TOKEN: adminToken,
    NOTIFY_MAIL_DIR: mailDir,
  };
  const startEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...shared,
    SIGNUP_REDIS_PREFIX: `${redis.prefix}signup:`,
    JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    HOST: '127.0.0.1',
    SIGNUP_SERVICE_PORT: String(ports['signup-service']),
    PROFILE_SERVICE_PORT: String(ports['profile-service']),
    NOTIFICATION_SERVICE_PORT: String(ports['notification-service']),
    LOG_LEVEL: 'info',
    ...extra,
  };

  const start = new Proc(
    spawn(process.execPath, ['--import=tsx', '--conditions=app-source', 'scripts/start.ts'], {
      cwd: repo,
      env: startEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that a failed run can still take the services down with it.
      detached: true,
    }),
  );
  t.teardown(async () => {
    if (!start.running) return;
    start.child.kill('SIGINT');
    const stopped = await Promise.race([
      start.exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 20_000)),
    ]);
    if (!stopped && start.child.pid) process.kill(-start.child.pid, 'SIGKILL');
  });

  const listening = (service: Service) => () => {
    const re = new RegExp(`^${service}\\s*\\|.*startup: listening.*"address":"(http://[^"]+)"`);
    for (const line of start.lines) {
      const m = re.exec(line);
      if (m?.[1]) return m[1];
    }
    return undefined;
  };
  const base = {} as Record<Service, string>;
  for (const service of SERVICES) {
    base[service] = await start.waitFor(`${service} listening`, 90_000, listening(service));
  }
  await Promise.all(SERVICES.map((s) => waitReady(base[s], 60_000)));
  t.pass(`all three ready: ${SERVICES.map((s) => base[s]).join(', ')}`);
  return {
    start,
    base,
    ports,
    namespace: nats.namespace,
    adminToken,
    demoEnv: {
      ...shared,
      SIGNUP_URL: base['signup-service'],
      PROFILE_URL: base['profile-service'],
      NOTIFY_URL: base['notification-service'],
      NO_COLOR: '1',
      // Generous bounds: on a busy machine the pipeline is slower, never wrong.
      DEMO_READY_TIMEOUT_MS: '60000',
      DEMO_EVENT_TIMEOUT_MS: '60000',
    },
  };
}

/** Runs `pnpm demo` against `running` and checks that every step passed; resolves with its output. */
async function demoPasses(
  t: Test,
  running: Running,
  extra: Record<string, string> = {},
): Promise<string> {
  const demo = new Proc(
    spawn(process.execPath, ['--import=tsx', '--conditions=app-source', 'scripts/demo.ts'], {
      cwd: repo,
      env: { ...process.env, ...running.demoEnv, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const result = await withTimeout(demo.exited, 120_000, 'pnpm demo').catch((err: unknown) => {
    demo.child.kill('SIGKILL');
    throw err;
  });
  const out = demo.output;
  t.equal(result.code, 0, 'the demo exits 0', { output: out });
  for (let step = 1; step <= 7; step++) {
    t.match(out, `✓ step ${step} passed`, `step ${step} passed`);
  }
  t.match(out, /1st GET .* x-cache: MISS[\s\S]*2nd GET .* x-cache: HIT/, 'MISS, then HIT');
  t.match(
    out,
    new RegExp(`dead-lettered .* ${running.namespace.toUpperCase()}_DEADLETTER seq \\d+`),
    'the poison message reached its namespace dead-letter stream',
  );
  t.match(out, /Dlq-Reason: invalid_payload/, 'with its Dlq-* headers');
  t.match(out, /dry run {2}-> 200: selected 1, redriven 0/, 'the dry run moved nothing');
  t.match(out, /redrive {2}-> 202: job [0-9a-f-]{36}/, 'the redrive runs as a job');
  t.match(out, /job [0-9a-f-]{36} succeeded: moved 1 of 1/, 'which moved exactly one');
  t.match(out, /all 7 steps passed/);
  t.notMatch(out, running.adminToken, 'the admin token is never printed');
  return out;
}

void t.test('pnpm start, then pnpm demo passes every step, then Ctrl-C stops it all', async (t) => {
  const running = await startAll(t);
  const { start, base, ports } = running;
  const out = await demoPasses(t, running);
  t.match(out, /Subject: {5}Welcome, /, 'the email itself, from the local transport');

  // Ctrl-C in a terminal signals the whole foreground process group, not just one process.
  process.kill(-start.child.pid!, 'SIGINT');
  const stopped = await withTimeout(start.exited, 20_000, 'start.ts after SIGINT');
  t.equal(stopped.code, 0, 'start.ts exits 0 on Ctrl-C');
  t.match(start.output, /all services stopped/);
  for (const service of SERVICES) {
    t.match(start.output, new RegExp(`${service} exited \\(code 0\\)`), `${service} exited 0`);
    t.equal(
      Number(new URL(base[service]).port),
      ports[service],
      `${service} used its *_SERVICE_PORT`,
    );
  }
  t.notMatch(start.output, /second SIGTERM/, 'each service was stopped once');
  for (const service of SERVICES) {
    const port = Number(new URL(base[service]).port);
    t.ok(await portIsFree(port), `${service}'s port ${port} is free again`);
  }
});

void t.test(
  'with SMTP_URL at a plain SMTP server and no Mailpit API, the demo shows the delivery from the ledger',
  async (t) => {
    const sink = await startSmtpSink();
    t.teardown(() => sink.close());
    const running = await startAll(t, { SMTP_URL: sink.url });
    // A port nothing listens on: MAILPIT_URL set, but no Mailpit API answers there.
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const out = await demoPasses(t, running, { MAILPIT_URL: nowhere });
    t.match(out, `no Mailpit API at ${nowhere}`, 'it says why it reads the ledger');
    t.match(out, /from the ledger, notification_deliveries/);
    const printed = /Message-ID: {2}(<[^>\s]+>)/.exec(out)?.[1];
    const email = /POST \/v1\/signup (\S+@example\.com)/.exec(out)?.[1];
    const received = sink.messages.find((m) => email && m.envelopeTo.includes(email));
    t.ok(received, `the SMTP server received the welcome email to ${email}`);
    t.equal(
      printed,
      received?.headers['message-id']?.trim(),
      'the Message-ID the demo showed is the one sent',
    );
  },
);
