// `pnpm demo`: a guided tour of the running system (after `pnpm start`, or against docker compose).
// It walks one user through signup, welcome email, cached profile reads, an update, and a poison
// message through the dead-letter stream and back out by redrive, checking each outcome and
// printing the operator command that shows the same thing. Exit 0 only if every step checked out.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { answerText, createApiClient, timed, type RedriveJob, type Result } from '@app/client';
import { names, redactUrl, type Names } from '@app/contracts';
import type { PrismaClient } from '@app/db';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const TOTAL = 7;

// ---------------------------------------------------------------------------------------------
// Output

const useColour = Boolean(process.stdout.isTTY) && !env.NO_COLOR;
const paint = (code: string) => (s: string) => (useColour ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const red = paint('31');
const cyan = paint('36');

const out = (line = '') => process.stdout.write(`${line}\n`);
const info = (line: string) => out(`   ${line}`);
const command = (line: string) => out(`   ${dim('$')} ${cyan(line)}`);

/** A step that did not check out: what it expected and what it saw. */
class StepFailure extends Error {
  constructor(
    readonly expected: string,
    readonly seen: string,
  ) {
    super(`expected ${expected}, saw ${seen}`);
  }
}

function expect(ok: boolean, expected: string, seen: () => string): asserts ok {
  if (!ok) throw new StepFailure(expected, seen());
}

const ms = (since: number) => `${Math.round(performance.now() - since)} ms`;
const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const errorText = (err: unknown): string =>
  err instanceof Error
    ? `${err.message}${err.cause ? ` (${errorText(err.cause)})` : ''}`
    : String(err);

// ---------------------------------------------------------------------------------------------
// Configuration (env only; defaults match `pnpm start`)

// DEMO_GATEWAY_URL: the public routes and every service's health through the gateway (`pnpm
// gateway`, compose's `gateway`) instead of each service's own port. The admin routes are not
// public, so the operator steps still reach notification-service directly (NOTIFY_URL).
const gateway = env.DEMO_GATEWAY_URL?.replace(/\/$/, '');
const urls = {
  signup: gateway ?? (env.SIGNUP_URL ?? 'http://127.0.0.1:3001').replace(/\/$/, ''),
  profile: gateway ?? (env.PROFILE_URL ?? 'http://127.0.0.1:3002').replace(/\/$/, ''),
  notify: (env.NOTIFY_URL ?? 'http://127.0.0.1:3003').replace(/\/$/, ''),
};
/** Where each service's /health/live and /health/ready are: its own port, or the gateway's path. */
const health = {
  signup: gateway ? `${gateway}/health/signup` : `${urls.signup}/health`,
  profile: gateway ? `${gateway}/health/profile` : `${urls.profile}/health`,
  notify: gateway ? `${gateway}/health/notification` : `${urls.notify}/health`,
};
const natsUrl = env.NATS_URL ?? 'nats://127.0.0.1:4222';
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const databaseUrl = env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/app';
const namespace = env.NATS_NAMESPACE ?? '';
const profilePrefix = env.PROFILE_REDIS_PREFIX ?? '';
const cacheVersion = env.PROFILE_CACHE_SCHEMA_VERSION ?? '1';
const mailpitUrl = env.MAILPIT_URL?.replace(/\/$/, '');
const mailDir = env.NOTIFY_MAIL_DIR ?? join(root, '.local', 'mail');
const readyTimeoutMs = Number(env.DEMO_READY_TIMEOUT_MS ?? 30_000);
const eventTimeoutMs = Number(env.DEMO_EVENT_TIMEOUT_MS ?? 20_000);

function adminToken(): string {
  if (env.ADMIN_TOKEN) return env.ADMIN_TOKEN;
  const file = join(root, '.local', 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new StepFailure(
    'an admin token for notification-service',
    `neither ADMIN_TOKEN nor ${file} (pnpm start writes it; with compose set ADMIN_TOKEN)`,
  );
}

let n: Names;
try {
  n = names(namespace);
} catch (err) {
  process.stderr.write(`NATS_NAMESPACE: ${errorText(err)}\n`);
  process.exit(1);
}
// Operator commands carry the namespace only when there is one, so the common case reads plainly.
const nsEnv = namespace ? `NATS_NAMESPACE=${namespace} ` : '';
const natsFlag = natsUrl === 'nats://127.0.0.1:4222' ? '' : ` -s ${natsUrl.split(',')[0]}`;
const redisCli =
  redisUrl === 'redis://127.0.0.1:6379' ? 'redis-cli' : `redis-cli -u ${redactUrl(redisUrl)}`;

// ---------------------------------------------------------------------------------------------
// HTTP: the documented routes through the typed client of the API document (@app/client); `http`
// for what the document leaves out (each service's health, Mailpit's API).

const api = {
  signup: createApiClient({ baseUrl: urls.signup }),
  profile: createApiClient({ baseUrl: urls.profile }),
  // The token is looked up at the first admin call: only the operator steps need one.
  notify: createApiClient({ baseUrl: urls.notify, token: () => adminToken() }),
};

/** A typed call's answer as a failed step shows it: status, one header if named, body. */
const seen = (a: Result, header?: string) =>
  `${a.response.status}${header ? ` ${header}: ${a.response.headers.get(header)}` : ''} ${short(answerText(a.data ?? a.error))}`;

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
  ms: number;
}

async function http(
  method: string,
  url: string,
  options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(url, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  const elapsed = Math.round(performance.now() - started);
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body, text, ms: elapsed };
}

const short = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}…` : text);

// ---------------------------------------------------------------------------------------------
// Redis: one PTTL is all the demo needs, so a few lines of RESP instead of a client library.

function redisPttl(url: string, key: string): Promise<number> {
  const u = new URL(url);
  const encode = (args: string[]) =>
    `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const commands: string[][] = [];
  if (u.password) {
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    commands.push(user ? ['AUTH', user, pass] : ['AUTH', pass]);
  }
  const db = u.pathname.replace('/', '');
  if (db) commands.push(['SELECT', db]);
  commands.push(['PTTL', key]);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: u.hostname, port: Number(u.port || 6379) });
    let buffer = '';
    const replies: string[] = [];
    socket.setTimeout(3000, () => {
      socket.destroy();
      reject(new Error(`Redis at ${u.host} did not answer within 3 s`));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(commands.map(encode).join('')));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let at: number;
      while ((at = buffer.indexOf('\r\n')) >= 0) {
        replies.push(buffer.slice(0, at));
        buffer = buffer.slice(at + 2);
      }
      if (replies.length < commands.length) return;
      socket.end();
      const failed = replies.find((r) => r.startsWith('-'));
      if (failed) reject(new Error(`Redis: ${failed.slice(1)}`));
      else resolve(Number(replies[replies.length - 1]!.slice(1)));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Waiting with a bound: poll a probe until it yields a value or the deadline passes.

async function until<T>(
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  intervalMs = 200,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ---------------------------------------------------------------------------------------------
// The dead-letter stream, watched with an ordered consumer from a given sequence, so the demo
// waits on the dead letter itself rather than polling the admin route.

interface DeadLetterSeen {
  seq: number;
  subject: string;
  headers: Map<string, string>;
}

class DeadLetterWatch {
  private readonly seen: DeadLetterSeen[] = [];
  private waiters: Array<() => void> = [];
  private messages: ConsumerMessages | undefined;

  static async start(nc: NatsConnection, jsm: JetStreamManager): Promise<DeadLetterWatch> {
    const watch = new DeadLetterWatch();
    const { state } = await jsm.streams.info(n.streams.deadletter);
    const consumer = await jetstream(nc).consumers.get(n.streams.deadletter, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: state.last_seq + 1,
    });
    watch.messages = await consumer.consume();
    const messages = watch.messages;
    void (async () => {
      for await (const m of messages) watch.add(m);
    })().catch(() => undefined);
    return watch;
  }

  private add(m: JsMsg): void {
    const headers = new Map<string, string>();
    for (const [k, values] of m.headers ?? []) headers.set(k, values.join(', '));
    this.seen.push({ seq: m.seq, subject: m.subject, headers });
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  async waitFor(
    match: (d: DeadLetterSeen) => boolean,
    timeoutMs: number,
  ): Promise<DeadLetterSeen | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.seen.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    await this.messages?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Welcome email: from Mailpit's API, or the local transport's .eml files (the ledger is below).

interface Email {
  subject: string;
  to: string;
  messageId: string;
  traceparent: string;
  where: string;
}

function parseEml(text: string): Map<string, string> {
  const head = text.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const fields = new Map<string, string>();
  for (const line of unfolded.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0) fields.set(line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim());
  }
  return fields;
}

function emailFromDir(dir: string, to: string, checked: Set<string>): Email | undefined {
  if (!existsSync(dir)) return undefined;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.eml') || checked.has(name)) continue;
    const path = join(dir, name);
    const fields = parseEml(readFileSync(path, 'utf8'));
    // Files not for our user are never ours: skip them on the next pass.
    if (!(fields.get('to') ?? '').includes(to)) {
      checked.add(name);
      continue;
    }
    return {
      subject: fields.get('subject') ?? '',
      to: fields.get('to') ?? '',
      messageId: fields.get('message-id') ?? '',
      traceparent: fields.get('traceparent') ?? '',
      where: path,
    };
  }
  return undefined;
}

async function emailFromMailpit(base: string, to: string): Promise<Email | undefined> {
  const search = await http('GET', `${base}/api/v1/search?query=${encodeURIComponent(`to:${to}`)}`);
  const messages = (search.body as { messages?: Array<{ ID: string }> } | undefined)?.messages;
  const id = messages?.[0]?.ID;
  if (search.status !== 200 || !id) return undefined;
  const message = await http('GET', `${base}/api/v1/message/${id}`);
  const headers = await http('GET', `${base}/api/v1/message/${id}/headers`);
  const m = message.body as {
    Subject?: string;
    MessageID?: string;
    To?: Array<{ Address: string }>;
  };
  const h = (headers.body ?? {}) as Record<string, string[]>;
  const header = (name: string) =>
    Object.entries(h).find(([k]) => k.toLowerCase() === name)?.[1]?.[0] ?? '';
  return {
    subject: m.Subject ?? '',
    to: (m.To ?? []).map((a) => a.Address).join(', '),
    messageId: m.MessageID ? `<${m.MessageID.replace(/^<|>$/g, '')}>` : header('message-id'),
    traceparent: header('traceparent'),
    where: `${base}/view/${id}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The database, for what only the ledger and the audit table show; opened at first use, best effort.

let prisma: PrismaClient | undefined;
async function database(): Promise<PrismaClient> {
  if (!prisma) {
    const { createPrisma } = await import('@app/db');
    prisma = createPrisma(databaseUrl, { max: 1 });
  }
  return prisma;
}

/** What notification-service recorded for a welcome email it sent (`notification_deliveries`). */
interface Delivery {
  messageId: string;
  sentAt: Date;
  attempts: number;
}

async function deliveryFromLedger(to: string): Promise<Delivery | undefined> {
  const db = await database();
  const rows = await db.$queryRaw<
    Array<{ smtp_message_id: string | null; sent_at: Date | null; attempts: number }>
  >`SELECT smtp_message_id, sent_at, attempts FROM notification_deliveries
     WHERE recipient = ${to} AND kind = 'welcome_email' AND status = 'sent'`;
  const row = rows[0];
  if (!row?.sent_at) return undefined;
  return { messageId: row.smtp_message_id ?? '', sentAt: row.sent_at, attempts: row.attempts };
}

// ---------------------------------------------------------------------------------------------
// The steps

interface State {
  email: string;
  displayName: string;
  traceId: string;
  userId: string;
  accessToken: string;
  nc?: NatsConnection;
  jsm?: JetStreamManager;
  watch?: DeadLetterWatch;
  poisonSeq?: number;
  deadLetterSeq?: number;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const state: State = {
  email: `demo-${hex(6)}@example.com`,
  displayName: `Demo ${hex(2)}`,
  traceId: hex(16),
  userId: '',
  accessToken: '',
};

async function stepReady(): Promise<void> {
  const services = [
    ['signup-service', health.signup],
    ['profile-service', health.profile],
    ['notification-service', health.notify],
  ] as const;
  const results = await Promise.all(
    services.map(async ([name, base]) => {
      const started = performance.now();
      let last = 'no answer yet';
      const answer = await until(readyTimeoutMs, async () => {
        try {
          const a = await http('GET', `${base}/ready`, { timeoutMs: 3000 });
          last = `${a.status} ${short(a.text)}`;
          return a.status === 200 ? a : undefined;
        } catch (err) {
          last = errorText(err);
          return undefined;
        }
      });
      return { name, base, answer, last, took: ms(started) };
    }),
  );
  for (const r of results) {
    info(
      `${r.name.padEnd(21)} ${r.base}/ready -> ${r.answer ? `200 ${short(r.answer.text)}` : red(r.last)} (${r.took})`,
    );
  }
  const notReady = results.filter((r) => !r.answer);
  expect(
    notReady.length === 0,
    `every service to answer 200 on /health/ready within ${readyTimeoutMs / 1000} s`,
    () => notReady.map((r) => `${r.name} (${r.base}) not ready: ${r.last}`).join('; '),
  );
  command(`curl -s ${health.signup}/ready`);
}

async function stepSignup(): Promise<void> {
  const traceparent = `00-${state.traceId}-${hex(8)}-01`;
  const password = `demo-${hex(8)}-Pw1`;
  const a = await timed(
    api.signup.POST('/v1/signup', {
      body: { email: state.email, password, displayName: state.displayName },
      params: { header: { traceparent, 'idempotency-key': `demo-${hex(8)}` } },
    }),
  );
  expect(
    a.response.status === 201 && a.data !== undefined,
    '201 with { userId, accessToken }',
    () => seen(a),
  );
  state.userId = a.data.userId;
  state.accessToken = a.data.accessToken;
  info(`POST /v1/signup ${state.email} -> ${a.response.status} in ${a.ms} ms`);
  info(`userId      ${bold(state.userId)}`);
  info(`accessToken (a JWT, ${state.accessToken.length} chars; not printed)`);
  info(`traceparent ${traceparent} (follow it through the logs, NATS headers and the email)`);
  command(
    `curl -s -XPOST ${urls.signup}/v1/signup -H 'content-type: application/json' -H 'traceparent: ${traceparent}' -d '{"email":"${state.email}","password":"<password>","displayName":"${state.displayName}"}'`,
  );
  command(`nats stream info ${n.streams.users}${natsFlag}`);
  command(`nats stream view ${n.streams.users}${natsFlag}   # Nats-Msg-Id = event id, traceparent`);
}

async function stepEmail(): Promise<void> {
  const started = performance.now();
  const checked = new Set<string>();
  let lastError = '';
  // Mailpit's API when it answers; otherwise the local transport's files, and for any other SMTP
  // server (nothing to read the email back from) the delivery notification-service recorded.
  let mailpit = mailpitUrl;
  const found = await until(eventTimeoutMs, async () => {
    if (mailpit) {
      try {
        const email = await emailFromMailpit(mailpit, state.email);
        return email && { email };
      } catch (err) {
        info(dim(`(no Mailpit API at ${mailpit}: ${errorText(err)}; reading the ledger instead)`));
        mailpit = undefined;
      }
    }
    try {
      const email = emailFromDir(mailDir, state.email, checked);
      if (email) return { email };
      const delivery = await deliveryFromLedger(state.email);
      // The local transport writes its file before the row says sent: look once more.
      if (delivery) return { email: emailFromDir(mailDir, state.email, checked), delivery };
    } catch (err) {
      lastError = errorText(err);
    }
    return undefined;
  });
  expect(
    found !== undefined,
    `a welcome email to ${state.email} within ${eventTimeoutMs / 1000} s in ${mailpit ?? `${mailDir} or notification_deliveries`}`,
    () => (lastError ? `none (${lastError})` : 'no such email'),
  );
  info(
    `${found.email ? 'arrived' : 'sent'} ${ms(started)} after the signup answered (outbox -> JetStream -> consumer -> mail)`,
  );
  if (found.email) showEmail(found.email);
  else showDelivery(found.delivery!);
  if (mailpit) command(`curl -s '${mailpit}/api/v1/search?query=to:${state.email}'`);
  else if (found.email) command(`ls -t ${mailDir} | head -3`);
  else {
    command(
      `psql ${shellQuote(redactUrl(databaseUrl))} -c "select status, smtp_message_id, sent_at from notification_deliveries where recipient = '${state.email}'"`,
    );
  }
  command(`nats consumer info ${n.streams.users} ${n.consumers.welcomeEmail}${natsFlag}`);
}

const MESSAGE_ID = /^<welcome_email\.[0-9a-f-]{36}@[^>]+>$/;

function showEmail(email: Email): void {
  info(`Subject:     ${email.subject}`);
  info(`To:          ${email.to}`);
  info(`Message-ID:  ${email.messageId}`);
  info(`traceparent: ${email.traceparent}`);
  info(`where:       ${email.where}`);
  expect(
    email.subject === `Welcome, ${state.displayName}!`,
    `subject "Welcome, ${state.displayName}!"`,
    () => `"${email.subject}"`,
  );
  expect(
    MESSAGE_ID.test(email.messageId),
    'Message-ID <welcome_email.<event id>@domain>',
    () => email.messageId || '(none)',
  );
  expect(
    email.traceparent.split('-')[1] === state.traceId,
    `traceparent with the signup's trace id ${state.traceId}`,
    () => email.traceparent || '(none)',
  );
}

function showDelivery(delivery: Delivery): void {
  info(`delivered over SMTP (from the ledger, notification_deliveries):`);
  info(`status:      sent (attempt ${delivery.attempts})`);
  info(`Message-ID:  ${delivery.messageId}`);
  info(`sent at:     ${delivery.sentAt.toISOString()}`);
  info(dim('(set MAILPIT_URL to a Mailpit API to see the email itself: subject, traceparent)'));
  expect(
    MESSAGE_ID.test(delivery.messageId),
    'Message-ID <welcome_email.<event id>@domain>',
    () => delivery.messageId || '(none)',
  );
}

/** The demo user's profile, as anyone reads it (no token). */
const readProfile = () =>
  timed(api.profile.GET('/v1/profiles/{id}', { params: { path: { id: state.userId } } }));

async function stepCache(): Promise<void> {
  const url = `${urls.profile}/v1/profiles/${state.userId}`;
  const key = `${profilePrefix}profile:v${cacheVersion}:{${state.userId}}`;
  const first = await readProfile();
  const second = await readProfile();
  for (const [label, a] of [
    ['1st', first],
    ['2nd', second],
  ] as const) {
    info(
      `${label} GET /v1/profiles/:id -> ${a.response.status}  x-cache: ${bold(a.response.headers.get('x-cache') ?? '-')}  ${a.ms} ms  etag ${a.response.headers.get('etag') ?? '-'}`,
    );
  }
  expect(
    first.response.status === 200 && first.response.headers.get('x-cache') === 'MISS',
    '1st read: 200 with x-cache: MISS',
    () => seen(first, 'x-cache'),
  );
  expect(
    second.response.status === 200 && second.response.headers.get('x-cache') === 'HIT',
    '2nd read: 200 with x-cache: HIT',
    () => seen(second, 'x-cache'),
  );
  expect(second.data?.displayName === state.displayName, `displayName "${state.displayName}"`, () =>
    seen(second),
  );
  try {
    const pttl = await redisPttl(redisUrl, key);
    info(`Redis key ${key}: TTL ${pttl > 0 ? `${(pttl / 1000).toFixed(1)} s` : String(pttl)}`);
    expect(pttl > 0, `the cache key ${key} to carry a TTL`, () => `PTTL ${pttl}`);
  } catch (err) {
    if (err instanceof StepFailure) throw err;
    info(dim(`(could not read the TTL from Redis at ${redisCli}: ${errorText(err)})`));
  }
  command(`curl -s -o /dev/null -D - ${url} | grep -i -E 'x-cache|etag'`);
  command(`${redisCli} --scan --pattern '${profilePrefix}profile:*'`);
  command(`${redisCli} TTL ${key}`);
}

async function stepUpdate(): Promise<void> {
  const url = `${urls.profile}/v1/profiles/${state.userId}`;
  const bio = `Updated by pnpm demo at ${new Date().toISOString()}`;
  const patch = await timed(
    api.profile.PATCH('/v1/profiles/{id}', {
      params: { path: { id: state.userId } },
      body: { bio },
      headers: { authorization: `Bearer ${state.accessToken}` },
    }),
  );
  info(`PATCH /v1/profiles/:id {"bio": "${bio}"} -> ${patch.response.status} in ${patch.ms} ms`);
  expect(patch.response.status === 200 && patch.data?.bio === bio, '200 with the new bio', () =>
    seen(patch),
  );
  const read = await readProfile();
  const body = read.data;
  info(
    `GET right after -> ${read.response.status}  x-cache: ${bold(read.response.headers.get('x-cache') ?? '-')}  ${read.ms} ms  version ${body?.version ?? '-'}  bio "${body?.bio ?? ''}"`,
  );
  expect(
    read.response.status === 200 && body?.bio === bio,
    'the next read to show the new bio at once (the update fixed the cache, no stale value)',
    () => seen(read, 'x-cache'),
  );
  command(
    `curl -s -X PATCH ${url} -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"bio":"hello"}'`,
  );
  command(`curl -s ${url}`);
}

async function stepPoison(): Promise<void> {
  const nc = await connect({ servers: natsUrl.split(','), name: 'pnpm-demo' });
  state.nc = nc;
  const jsm = await jetstreamManager(nc);
  state.jsm = jsm;
  state.watch = await DeadLetterWatch.start(nc, jsm);

  // A well-formed envelope whose email is not an email: the consumer can never process it, so it
  // terminates it at once instead of retrying.
  const poison = {
    id: randomUUID(),
    type: 'user.signed_up',
    version: 1,
    occurredAt: new Date().toISOString(),
    data: { userId: randomUUID(), email: 'not-an-email', displayName: 'Poison' },
  };
  const h = natsHeaders();
  h.set('traceparent', `00-${hex(16)}-${hex(8)}-01`);
  const started = performance.now();
  const ack = await jetstream(nc).publish(n.subjects.userSignedUp, JSON.stringify(poison), {
    headers: h,
    msgID: `demo-poison-${hex(8)}`,
  });
  state.poisonSeq = ack.seq;
  info(
    `published an invalid envelope (bad email) to ${n.subjects.userSignedUp}: ${n.streams.users} seq ${ack.seq}`,
  );
  info(dim(JSON.stringify(poison)));

  const dl = await state.watch.waitFor(
    (d) =>
      d.headers.get('Dlq-Original-Stream') === n.streams.users &&
      d.headers.get('Dlq-Original-Seq') === String(ack.seq) &&
      d.headers.get('Dlq-Consumer') === n.consumers.welcomeEmail,
    eventTimeoutMs,
  );
  expect(
    dl !== undefined,
    `a dead letter for ${n.streams.users} seq ${ack.seq} from ${n.consumers.welcomeEmail} in ${n.streams.deadletter} within ${eventTimeoutMs / 1000} s`,
    () => 'none (is notification-service running its dead-letter worker?)',
  );
  state.deadLetterSeq = dl.seq;
  info(
    `dead-lettered ${ms(started)} after publishing: ${n.streams.deadletter} seq ${bold(String(dl.seq))} on ${dl.subject}`,
  );
  for (const [k, v] of dl.headers) if (/^dlq-/i.test(k)) info(`  ${k}: ${v}`);
  expect(
    (dl.headers.get('Dlq-Reason') ?? '').startsWith('invalid_payload'),
    'Dlq-Reason invalid_payload: ...',
    () => dl.headers.get('Dlq-Reason') ?? '(none)',
  );

  // What an operator sees through the admin route: every dead letter of this one message (the
  // profile-cache consumer terminates it too, and gets its own dead letter).
  const list = await api.notify.GET('/admin/deadletters', {
    params: { query: { subject: n.subjects.userSignedUp, limit: 10000 } },
  });
  const ours = (list.data?.items ?? []).filter((i) => i.originalSeq === ack.seq);
  info(
    `GET /admin/deadletters?subject=${n.subjects.userSignedUp} -> ${list.response.status}: ${ours.length} for seq ${ack.seq}`,
  );
  for (const i of ours) {
    info(`  seq ${i.seq} ${String(i.consumer)} "${String(i.reason)}"`);
  }
  expect(
    list.response.status === 200 && ours.some((i) => i.seq === dl.seq),
    `the admin route to list dead letter seq ${dl.seq}`,
    () => seen(list),
  );
  command(`nats stream view ${n.streams.deadletter}${natsFlag}`);
  command(`nats stream get ${n.streams.deadletter} ${dl.seq}${natsFlag}`);
  command(
    `curl -s -H "authorization: Bearer $ADMIN_TOKEN" '${urls.notify}/admin/deadletters?subject=${n.subjects.userSignedUp}'`,
  );
}

async function stepRedrive(): Promise<void> {
  const seq = state.deadLetterSeq!;
  const jsm = state.jsm!;
  const redrive = (dryRun: boolean) =>
    api.notify.POST('/admin/deadletters/redrive', {
      body: {
        filter: { seqs: [seq] },
        dryRun,
        actor: 'pnpm-demo',
        ...(dryRun ? {} : { rate: 10 }),
      },
    });

  // The route answers a dry run (200) and a job (202): which one is told by its fields.
  const dry = await redrive(true);
  const d = dry.data && 'selected' in dry.data ? dry.data : undefined;
  info(
    `dry run  -> ${dry.response.status}: selected ${d?.selected ?? '-'}, redriven ${d?.redriven ?? '-'}, batch ${d?.batchId ?? '-'}`,
  );
  expect(
    dry.response.status === 200 && d?.selected === 1 && d.redriven === 0 && d.items[0]?.seq === seq,
    `dry run selecting exactly dead letter ${seq} and moving nothing`,
    () => seen(dry),
  );
  const still = await jsm.streams.getMessage(n.streams.deadletter, { seq });
  expect(still !== null, `dead letter ${seq} still there after the dry run`, () => 'gone');

  // A real redrive is a background job: 202 with the job, then its status route until it ends.
  const real = await redrive(false);
  const started = real.data && 'status' in real.data ? real.data : undefined;
  info(
    `redrive  -> ${real.response.status}: job ${started?.id ?? '-'} ${started?.status ?? ''}, status at ${real.response.headers.get('location') ?? '-'}`,
  );
  expect(
    real.response.status === 202 && started !== undefined,
    'a redrive job started: 202 with its id',
    () => seen(real),
  );
  let job: RedriveJob = started;
  const ended = await until(eventTimeoutMs, async () => {
    const a = await api.notify.GET('/admin/redrives/{id}', {
      params: { path: { id: started.id } },
    });
    if (a.data) job = a.data;
    return a.data?.finishedAt ? a.data : undefined;
  });
  info(
    `job ${job.id} ${job.status}: moved ${job.moved} of ${job.total}, failed ${job.failed}, skipped ${job.skipped}`,
  );
  expect(
    ended?.status === 'succeeded' && ended.moved === 1 && ended.total === 1,
    `the job to succeed within ${eventTimeoutMs / 1000} s, moving dead letter ${seq}`,
    () => `${job.status} ${JSON.stringify(job)}`,
  );
  const gone = await jsm.streams.getMessage(n.streams.deadletter, { seq });
  expect(
    gone === null,
    `dead letter ${seq} moved out of ${n.streams.deadletter}`,
    () => 'still there',
  );
  info(`  dead letter ${seq} is no longer in ${n.streams.deadletter} (moved, not copied)`);

  // The payload is still invalid, so the consumer terminates the redriven copy again: proof the
  // redrive really went back through the pipeline (a fixed cause would have sent an email instead).
  const again = await state.watch!.waitFor(
    (x) =>
      x.headers.get('Dlq-Redrive-Batch') === ended.id &&
      x.headers.get('Dlq-Consumer') === n.consumers.welcomeEmail,
    eventTimeoutMs,
  );
  expect(
    again !== undefined,
    `the redriven copy to reach ${n.consumers.welcomeEmail} again (still invalid: dead-lettered again)`,
    () => `nothing within ${eventTimeoutMs / 1000} s`,
  );
  info(
    `  the consumer got it again (${n.streams.users} seq ${again.headers.get('Dlq-Original-Seq')}), still invalid: back as ${n.streams.deadletter} seq ${again.seq}`,
  );

  await showAudit([d.batchId, ended.id]);
  command(
    `${nsEnv}pnpm --filter @app/notification-service redrive list --subject ${n.subjects.userSignedUp}`,
  );
  command(`${nsEnv}pnpm --filter @app/notification-service redrive redrive --seq ${seq} --dry-run`);
  command(`${nsEnv}pnpm --filter @app/notification-service redrive redrive --seq ${seq}`);
  command(
    `psql ${shellQuote(redactUrl(databaseUrl))} -c "select batch_id, deadletter_seq, new_msg_id, actor, dry_run, created_at from deadletter_redrives order by id desc limit 5"`,
  );
}

/** The audit rows of both batches; best effort, since the demo may not reach the database. */
async function showAudit(batchIds: string[]): Promise<void> {
  try {
    const db = await database();
    const rows = await db.$queryRaw<
      Array<{
        batch_id: string;
        deadletter_seq: bigint;
        original_subject: string;
        new_msg_id: string;
        actor: string;
        dry_run: boolean;
      }>
    >`SELECT batch_id::text, deadletter_seq, original_subject, new_msg_id, actor, dry_run
        FROM deadletter_redrives
       WHERE batch_id::text = ANY(${batchIds}) ORDER BY id`;
    info(`audit (deadletter_redrives): ${rows.length} row(s)`);
    for (const row of rows) {
      info(
        `  batch ${row.batch_id} seq ${row.deadletter_seq} actor ${row.actor} ${row.dry_run ? 'dry run' : `redriven to ${row.original_subject} as Nats-Msg-Id ${row.new_msg_id}`}`,
      );
    }
    expect(
      rows.some((x) => x.dry_run) && rows.some((x) => !x.dry_run),
      'one dry-run row and one redrive row in deadletter_redrives',
      () => `${rows.length} row(s)`,
    );
  } catch (err) {
    if (err instanceof StepFailure) throw err;
    info(dim(`(audit table not read: ${errorText(err)}; set DATABASE_URL to see it here)`));
  }
}

// ---------------------------------------------------------------------------------------------

const steps: Array<[string, () => Promise<void>]> = [
  ['Wait until every service is ready', stepReady],
  ['Sign up a fresh user', stepSignup],
  ['The welcome email', stepEmail],
  ['Read the profile twice: cache MISS, then HIT', stepCache],
  ['Update the profile; the next read shows it at once', stepUpdate],
  ['A message that can never be processed lands in the dead-letter stream', stepPoison],
  ['Redrive that dead letter: dry run, then for real', stepRedrive],
];

async function main(): Promise<number> {
  out(bold(`pnpm demo${namespace ? ` (namespace ${namespace})` : ''}`));
  out(
    dim(
      gateway
        ? `gateway ${gateway} (signup, profile, health)  notification admin ${urls.notify}  NATS ${natsUrl}`
        : `signup ${urls.signup}  profile ${urls.profile}  notification ${urls.notify}  NATS ${natsUrl}`,
    ),
  );
  let failed = false;
  for (const [i, [title, run]] of steps.entries()) {
    const number = i + 1;
    out();
    out(bold(`${number}/${TOTAL}  ${title}`));
    const started = performance.now();
    try {
      await run();
      out(`   ${green('✓')} step ${number} passed (${ms(started)})`);
    } catch (err) {
      const failure =
        err instanceof StepFailure ? err : new StepFailure('the step to run', errorText(err));
      out(`   ${red('✗')} step ${number} FAILED`);
      out(`     expected: ${failure.expected}`);
      out(`     saw:      ${failure.seen}`);
      failed = true;
      break;
    }
  }
  await state.watch?.stop().catch(() => undefined);
  await state.nc?.close().catch(() => undefined);
  await prisma?.$disconnect().catch(() => undefined);
  out();
  if (failed) {
    out(red(bold('demo failed')));
    return 1;
  }
  out(green(bold(`all ${TOTAL} steps passed`)));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`pnpm demo failed: ${errorText(err)}\n`);
    process.exit(1);
  },
);
