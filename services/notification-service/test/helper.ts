// Test harness of notification-service: an isolated database, Redis prefix and NATS namespace per
// test (its topology provisioned as the provision Job would), a real SMTP sink, the app built
// through `build(t, overrides)` with test config (never process.env), helpers that publish signup
// events the way signup-service does, read the dead-letter stream, and run the service as a real
// child process for crash and backpressure tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import {
  makeEnvelope,
  names,
  topologyFromEnv,
  type Names,
  type UserSignedUpV1,
} from '@app/contracts';
import { createPrisma, type PrismaClient } from '@app/db';
import {
  isolatedSystem,
  randomTraceparent,
  serviceBuilder,
  startSmtpSink,
  waitUntil,
  type IsolatedNats,
  type SmtpSink,
  type TestLike,
  type BuildOverrides,
} from '@app/testing';
import { provision, type App } from '@app/platform';
import * as service from '../src/index.js';
import { loadConfig, type Config, type Deps } from '../src/index.js';

export { waitUntil };

export const SERVICE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestEnv {
  databaseUrl: string;
  nats: IsolatedNats;
  names: Names;
  sink: SmtpSink;
  prisma: PrismaClient;
  /** The env a service instance of this test gets (also given to child processes). */
  vars: Record<string, string>;
  /** Whether the streams and consumers exist (the provision Job's work, done here by the helper). */
  provisioned: boolean;
}

export interface Built {
  app: App;
  config: Config;
  env: TestEnv;
}

/**
 * Isolated Postgres database + NATS namespace + Redis prefix + SMTP sink, all removed after the
 * test. The topology is provisioned from `vars` as the provision Job would, unless
 * `provisioned: false` (a test of the service waiting for it).
 */
export async function testEnv(
  t: TestLike,
  vars: Record<string, string> = {},
  options: { provisioned?: boolean } = {},
): Promise<TestEnv> {
  const [{ db, nats, redis, vars: shared }, sink] = await Promise.all([
    isolatedSystem(t),
    startSmtpSink(),
  ]);
  t.teardown(() => sink.close());
  const prisma = createPrisma(db.url, { max: 2 });
  t.teardown(() => prisma.$disconnect());
  const env: TestEnv = {
    databaseUrl: db.url,
    nats,
    names: names(nats.namespace),
    sink,
    prisma,
    vars: {
      ...shared,
      NOTIFY_REDIS_PREFIX: redis.prefix,
      SMTP_URL: sink.url,
      ADMIN_TOKEN,
      LOG_LEVEL: 'warn',
      NOTIFY_BACKOFF_BASE_MS: '200',
      NOTIFY_BACKOFF_MAX_MS: '2000',
      NOTIFY_METRICS_POLL_MS: '200',
      NOTIFY_CONSUMER_RETRY_MS: '200',
      ...vars,
    },
    provisioned: false,
  };
  if (options.provisioned ?? true) await provisionTopology(env);
  return env;
}

/** What the provision Job does, for this env's namespace and consumer settings. */
export async function provisionTopology(env: TestEnv): Promise<void> {
  const result = await provision(env.nats.jsm, topologyFromEnv(loadConfig(env.vars)), {
    check: false,
  });
  if (result.failed.length > 0)
    throw new Error(`provisioning failed: ${JSON.stringify(result.failed)}`);
  env.provisioned = true;
}

/**
 * Builds and starts the app for `env` (a fresh one unless given: several replicas share one), with
 * `vars` over the env's (`undefined` removes a variable); once provisioned, waits until it consumes.
 * Closed in teardown, before the env is torn down.
 */
export const build: (t: TestLike, overrides?: BuildOverrides<TestEnv, Deps>) => Promise<Built> =
  serviceBuilder(service, (t) => testEnv(t), {
    async afterStart({ app, env }) {
      if (!env.provisioned) return;
      let pulling = false;
      void app.notifier.consuming().then(() => (pulling = true));
      await waitUntil('the consumers to be pulling', () => pulling);
    },
  });

/** Resolves once the welcome-email consumer has nothing pending or unacknowledged. */
export function consumerIdle(env: TestEnv, timeoutMs = 30_000): Promise<true> {
  return waitUntil(
    'the consumer to be idle',
    async () => {
      const info = await env.nats.jsm.consumers.info(
        env.names.streams.users,
        env.names.consumers.welcomeEmail,
      );
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    timeoutMs,
  );
}

/** Resolves with every dead letter once there are at least `count`. */
export function deadLetters(env: TestEnv, count: number, timeoutMs = 30_000) {
  return waitUntil(
    `${count} dead letters`,
    async () => {
      const all = await readStream(env.nats.jsm, env.names.streams.deadletter);
      return all.length >= count ? all : undefined;
    },
    timeoutMs,
  );
}

export interface Signup {
  event: UserSignedUpV1;
  traceparent: string;
  seq: number;
}

export function signupEvent(i: number, tag = randomBytes(3).toString('hex')): UserSignedUpV1 {
  return makeEnvelope('user.signed_up', 1, {
    userId: crypto.randomUUID(),
    email: `user${i}-${tag}@example.com`,
    displayName: `User ${i}`,
  });
}

/** Publishes `count` signups as signup-service's relay does (Nats-Msg-Id = event id, traceparent). */
export async function publishSignups(
  js: JetStreamClient,
  n: Names,
  count: number,
  options: { window?: number } = {},
): Promise<Signup[]> {
  const out: Signup[] = [];
  const window = options.window ?? 500;
  for (let start = 0; start < count; start += window) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + window); i++) {
      const event = signupEvent(i);
      const tp = randomTraceparent();
      const h = natsHeaders();
      h.set('traceparent', tp);
      batch.push(
        js
          .publish(n.subjects.userSignedUp, JSON.stringify(event), { msgID: event.id, headers: h })
          .then((ack) => out.push({ event, traceparent: tp, seq: ack.seq })),
      );
    }
    await Promise.all(batch);
  }
  return out;
}

export async function streamCount(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

/** Every message of a stream, in order. */
export async function readStream(jsm: JetStreamManager, stream: string) {
  const { state } = await jsm.streams.info(stream);
  const out = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m) out.push(m);
  }
  return out;
}

export interface Child {
  proc: ChildProcess;
  address: Promise<string>;
  /** Resolves with the exit code (or signal) once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  rssKb(): Promise<number>;
  logs: string[];
}

/** Runs `src/server.ts` as a real child process with the given env (none of the parent's NOTIFY_*). */
export function spawnService(t: TestLike, vars: Record<string, string>): Child {
  const proc = spawn(
    process.execPath,
    ['--import=tsx', '--conditions=app-source', 'src/server.ts'],
    {
      cwd: SERVICE_DIR,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        PORT: '0',
        HOST: '127.0.0.1',
        ...vars,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: string[] = [];
  const exited = once(proc, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const address = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      logs.push(line);
      if (logs.length > 2000) logs.shift();
      if (line.includes('startup: listening')) {
        const m = /"address":"([^"]+)"/.exec(line);
        resolve(m?.[1] ?? '');
      }
    });
    createInterface({ input: proc.stderr }).on('line', (line) => logs.push(line));
    void exited.then(({ code, signal }) =>
      reject(
        new Error(
          `service exited before listening (code ${code}, signal ${signal}):\n${logs.slice(-20).join('\n')}`,
        ),
      ),
    );
  });
  address.catch(() => undefined);
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return {
    proc,
    address,
    exited,
    logs,
    async rssKb() {
      const status = await readFile(`/proc/${proc.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    },
  };
}
