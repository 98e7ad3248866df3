// Test harness of ops-console: an isolated database, Redis prefix and NATS namespace per test (its
// topology provisioned as the provision Job would), the services the console watches started in
// this process from their own buildApp on real ports (notification-service by default, with a
// real SMTP sink; signup- and profile-service when a test asks), and the console built through
// `build(t, overrides)` with test config (never process.env). Helpers sign in through the real
// sign-in form and read the CSRF token from a page, as a browser would.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { makeEnvelope, names, topology, type Names } from '@app/contracts';
import { createPrisma, type PrismaClient } from '@app/db';
import { provision, type App } from '@app/platform';
import {
  isolatedSystem,
  randomTraceparent,
  serviceBuilder,
  startSmtpSink,
  waitUntil,
  type BuildOverrides,
  type IsolatedSystem,
  type SmtpSink,
  type TestLike,
} from '@app/testing';
import * as notification from '@app/notification-service';
import * as profile from '@app/profile-service';
import * as signup from '@app/signup-service';
import * as service from '../src/index.js';
import type { Config, Deps } from '../src/index.js';

export { waitUntil };

export const OPERATOR_TOKEN = 'operator-token-0123456789abcdef';
export const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';
export const SESSION_SECRET = 'session-secret-0123456789abcdef-0123456789';
export const ADMIN_TOKEN = 'test-admin-token-0123456789';
/** The Host and Origin requests through `inject` carry. */
export const HOST = 'console.test';
export const ORIGIN = `http://${HOST}`;
/** A port nothing listens on: a service that is down. */
export const DOWN_URL = 'http://127.0.0.1:9';

export type ServiceName = 'signup' | 'profile' | 'notification';

interface Startable {
  loadConfig(env: Record<string, string | undefined>): unknown;
  buildApp(config: never, deps?: { logger?: boolean }): Promise<App>;
}

const MODULES: Record<ServiceName, Startable> = { signup, profile, notification };

export interface TestEnv {
  system: IsolatedSystem;
  names: Names;
  sink: SmtpSink;
  prisma: PrismaClient;
  /** The services started for this env, each listening on 127.0.0.1. */
  services: Partial<Record<ServiceName, { app: App; url: string }>>;
  /** The console's variables (`build` merges its own over them). */
  vars: Record<string, string>;
}

export interface Built {
  app: App;
  config: Config;
  env: TestEnv;
}

export interface TestEnvOptions {
  /** Which services to start (default: notification-service only). */
  services?: ServiceName[];
  /** Extra variables per service. */
  serviceVars?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Extra console variables. */
  vars?: Record<string, string>;
}

export async function testEnv(t: TestLike, options: TestEnvOptions = {}): Promise<TestEnv> {
  const [system, sink] = await Promise.all([isolatedSystem(t), startSmtpSink()]);
  t.teardown(() => sink.close());
  const { nats, redis, db } = system;
  await provision(nats.jsm, topology({ namespace: nats.namespace }), { check: false });
  const prisma = createPrisma(db.url, { max: 2 });
  t.teardown(() => prisma.$disconnect());
  const keys = generateKeyPairSync('ed25519');
  const common = { ...system.vars, LOG_LEVEL: 'warn' };
  const serviceVars: Record<ServiceName, Record<string, string>> = {
    signup: {
      ...common,
      JWT_PRIVATE_KEY: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      SIGNUP_SCRYPT_LOG_N: '10',
      SIGNUP_REDIS_PREFIX: `${redis.prefix}signup:`,
      SIGNUP_RELAY_POLL_MS: '200',
      ...options.serviceVars?.signup,
    },
    profile: {
      ...common,
      JWT_PUBLIC_KEY: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      PROFILE_REDIS_PREFIX: `${redis.prefix}profile:`,
      PROFILE_OUTBOX_POLL_MS: '200',
      ...options.serviceVars?.profile,
    },
    notification: {
      ...common,
      SMTP_URL: sink.url,
      ADMIN_TOKEN,
      NOTIFY_REDIS_PREFIX: `${redis.prefix}notify:`,
      NOTIFY_BACKOFF_BASE_MS: '200',
      NOTIFY_BACKOFF_MAX_MS: '2000',
      NOTIFY_METRICS_POLL_MS: '200',
      NOTIFY_CONSUMER_RETRY_MS: '200',
      ...options.serviceVars?.notification,
    },
  };
  const services: TestEnv['services'] = {};
  // One after the other: on a loaded machine, three services connecting at once can outlast
  // Fastify's plugin timeout.
  for (const name of options.services ?? ['notification']) {
    const mod = MODULES[name];
    const app = await mod.buildApp(mod.loadConfig(serviceVars[name]) as never, { logger: false });
    t.teardown(() => app.close());
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    services[name] = { app, url };
  }
  return {
    system,
    names: names(nats.namespace),
    sink,
    prisma,
    services,
    vars: {
      ...common,
      OPS_REDIS_PREFIX: `${redis.prefix}ops:`,
      OPS_OPERATOR_TOKEN: OPERATOR_TOKEN,
      OPS_VIEWER_TOKEN: VIEWER_TOKEN,
      OPS_SESSION_SECRET: SESSION_SECRET,
      ADMIN_TOKEN,
      OPS_SIGNUP_URL: services.signup?.url ?? DOWN_URL,
      OPS_PROFILE_URL: services.profile?.url ?? DOWN_URL,
      OPS_NOTIFICATION_URL: services.notification?.url ?? DOWN_URL,
      OPS_HTTP_TIMEOUT_MS: '2000',
      OPS_SAMPLE_INTERVAL_MS: '0',
      ...options.vars,
    },
  };
}

/** Builds and starts the console on `env` (a fresh one unless given); closed in teardown. */
export const build: (t: TestLike, overrides?: BuildOverrides<TestEnv, Deps>) => Promise<Built> =
  serviceBuilder(service, (t) => testEnv(t), {
    async afterStart({ app }) {
      await app.ops.firstSample;
    },
  });

/** Publishes `count` signup events as signup-service's relay does; resolves with their events. */
export async function publishSignups(
  env: TestEnv,
  count: number,
  tag = randomBytes(3).toString('hex'),
) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const event = makeEnvelope('user.signed_up', 1, {
      userId: crypto.randomUUID(),
      email: `user${i}-${tag}@example.com`,
      displayName: `User ${i}`,
    });
    const h = natsHeaders();
    const tp = randomTraceparent();
    h.set('traceparent', tp);
    const ack = await env.system.nats.js.publish(
      env.names.subjects.userSignedUp,
      JSON.stringify(event),
      {
        msgID: event.id,
        headers: h,
      },
    );
    out.push({ event, traceparent: tp, seq: ack.seq });
  }
  return out;
}

/** A payload that can never succeed (not the event schema): terminated, then dead-lettered. */
export async function publishPoison(env: TestEnv, body: string): Promise<number> {
  const ack = await env.system.nats.js.publish(env.names.subjects.userSignedUp, body, {
    msgID: `poison-${randomBytes(6).toString('hex')}`,
  });
  return ack.seq;
}

export async function deadLetterCount(env: TestEnv): Promise<number> {
  return (await env.system.nats.jsm.streams.info(env.names.streams.deadletter)).state.messages;
}

export function waitForDeadLetters(env: TestEnv, count: number, timeoutMs = 60_000) {
  return waitUntil(
    `${count} dead letters`,
    async () => (await deadLetterCount(env)) >= count,
    timeoutMs,
  );
}

/**
 * A page's markup with the layout's whitespace squeezed out (runs of whitespace as one space,
 * none next to a tag's brackets), so a test can match elements however the template wraps them.
 */
export function markup(body: string): string {
  return body
    .replace(/\s+/g, ' ')
    .replace(/\s+>/g, '>')
    .replace(/<\s+/g, '<')
    .replace(/>\s+</g, '><');
}

/** The `_csrf` field of a page. */
export function csrfOf(page: string): string {
  const m = /name="_csrf" value="([^"]*)"/.exec(page);
  if (!m?.[1]) throw new Error('no CSRF field on the page');
  return m[1];
}

export interface Signed {
  cookie: string;
  csrf: string;
}

/** Signs in through the form (urlencoded, same origin) and returns the cookie and CSRF token. */
export async function signIn(app: App, token: string, name = 'ada'): Promise<Signed> {
  const res = await app.inject({
    method: 'POST',
    url: '/signin',
    headers: { host: HOST, origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ token, name }).toString(),
  });
  if (res.statusCode !== 303) throw new Error(`sign-in answered ${res.statusCode}: ${res.body}`);
  const set = String(res.headers['set-cookie']);
  const cookie = set.split(';')[0]!;
  const page = await app.inject({ method: 'GET', url: '/', headers: { host: HOST, cookie } });
  return { cookie, csrf: csrfOf(page.body) };
}

/** A form post as a browser of this origin makes it. */
export function postForm(
  app: App,
  url: string,
  session: Signed | undefined,
  fields: Record<string, string | string[]>,
  headers: Record<string, string> = {},
) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    for (const item of Array.isArray(v) ? v : [v]) body.append(k, item);
  }
  return app.inject({
    method: 'POST',
    url,
    headers: {
      host: HOST,
      origin: ORIGIN,
      accept: 'text/html',
      'content-type': 'application/x-www-form-urlencoded',
      ...(session ? { cookie: session.cookie } : {}),
      ...headers,
    },
    payload: body.toString(),
  });
}

/** A page (GET) with a session. */
export function getPage(
  app: App,
  url: string,
  session?: Signed,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'GET',
    url,
    headers: {
      host: HOST,
      accept: 'text/html',
      ...(session ? { cookie: session.cookie } : {}),
      ...headers,
    },
  });
}
