// The nginx gateway (deploy/gateway) in front of `pnpm start`'s services, on an isolated slice of
// the shared Postgres, Redis and NATS: `pnpm demo` passes through it, and what a client of the
// gateway sees holds: its X-Request-Id comes back and reaches the service's log; the address a
// service counts (the signup rate limit) is the client's real one through the gateway and the
// direct peer's otherwise, whatever X-Forwarded-For says; a body over 1 MiB, the per-client rate
// limit, an unknown path and a stopped service each answer problem+json from the gateway; each
// service's health passes through. The services trust only the gateway's source address
// (TRUST_PROXY=127.0.0.2, nginx `proxy_bind`), and the test's clients use other loopback
// addresses (Linux routes all of 127/8 to lo), so each has its own rate-limit bucket.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createPrisma } from '@app/db';
import { freePort, isolatedNats, isolatedRedis, serviceUrls } from '@app/testing';
import { Proc, withTimeout } from './processes.js';
import {
  findNginx,
  renderGatewayConfig,
  REPO_ROOT,
  retryAfterSeconds,
  writeGatewayDir,
  type GatewayOptions,
} from '../src/index.js';

const SERVICES = ['signup-service', 'profile-service', 'notification-service'] as const;
type Service = (typeof SERVICES)[number];
/** The gateway's source address towards the services: the one address they trust. */
const GATEWAY_SOURCE = '127.0.0.2';
/** Signups counted per client address per window (SIGNUP_RATE_SIGNUP_MAX). */
const SIGNUP_MAX = 3;
const PROBLEM = 'application/problem+json';
const GATEWAY_TYPE = /^https:\/\/errors\.gateway\.example\//;
interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: Record<string, unknown> | undefined;
}

/**
 * One HTTP request with node's client, from the loopback address `from` (fetch cannot choose its
 * source address). A fresh connection each time, so no request rides on another's socket.
 */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; from?: string } = {},
): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: options.method ?? 'GET',
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
        agent: false,
        timeout: 15_000,
        ...(options.from ? { localAddress: options.from } : {}),
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Record<string, unknown> | undefined;
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 15 s`)));
    // A server that answers before it has read the whole body (413) may reset the rest of it.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.end(options.body);
  });
}

/** Polls `url` until it answers 200, bounded: readiness has no event to subscribe to. */
async function waitOk(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline && alive()) {
    try {
      const res = await send(url);
      last = `${res.status} ${res.text}`;
      if (res.status === 200) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not 200 (${alive() ? `within ${timeoutMs} ms` : 'exited'}): ${last}`);
}

interface System {
  start: Proc;
  base: Record<Service, string>;
  upstreams: GatewayOptions['upstreams'];
  demoEnv: Record<string, string>;
}

/** `pnpm start` on a fresh slice of the shared services, trusting only the gateway's address. */
async function startSystem(t: Test): Promise<System> {
  const urls = await serviceUrls();
  const nats = await isolatedNats(t);
  const redis = await isolatedRedis(t);
  const database = `gateway_${randomBytes(6).toString('hex')}`;
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
  const mailDir = mkdtempSync(join(tmpdir(), 'gateway-mail-'));
  t.teardown(() => rmSync(mailDir, { recursive: true, force: true }));
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const shared = {
    DATABASE_URL: databaseUrl.toString(),
    REDIS_URL: urls.redisUrl,
    NATS_URL: urls.natsUrl,
    NATS_NAMESPACE: nats.namespace,
    PROFILE_REDIS_PREFIX: redis.prefix,
    ADMIN_TOKEN: randomBytes(24).toString('base64url'),
    NOTIFY_MAIL_DIR: mailDir,
  };
  const start = new Proc(
    spawn(process.execPath, ['--import=tsx', '--conditions=app-source', 'scripts/start.ts'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ...shared,
        SIGNUP_REDIS_PREFIX: `${redis.prefix}signup:`,
        JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        HOST: '127.0.0.1',
        SIGNUP_SERVICE_PORT: String(await freePort()),
        PROFILE_SERVICE_PORT: String(await freePort()),
        NOTIFICATION_SERVICE_PORT: String(await freePort()),
        LOG_LEVEL: 'info',
        TRUST_PROXY: GATEWAY_SOURCE,
        SIGNUP_RATE_SIGNUP_MAX: String(SIGNUP_MAX),
        // start.ts runs every service, the ops console too: its port and secrets, so that it
        // starts (nothing here goes through it, and the gateway does not route to it).
        OPS_CONSOLE_PORT: String(await freePort()),
        OPS_OPERATOR_TOKEN: randomBytes(24).toString('base64url'),
        OPS_SESSION_SECRET: randomBytes(32).toString('base64url'),
        OPS_REDIS_PREFIX: `${redis.prefix}ops:`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that a failed run can still take the services down with it.
      detached: true,
    }),
  );
  t.teardown(() => stopSystem(start));
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
  await Promise.all(
    SERVICES.map((s) => waitOk(`${base[s]}/health/ready`, 60_000, () => start.running)),
  );
  const hostPort = (s: Service) => new URL(base[s]).host;
  return {
    start,
    base,
    upstreams: {
      signup: hostPort('signup-service'),
      profile: hostPort('profile-service'),
      notification: hostPort('notification-service'),
    },
    demoEnv: {
      ...shared,
      NOTIFY_URL: base['notification-service'],
      NO_COLOR: '1',
      // Generous bounds: on a busy machine the pipeline is slower, never wrong.
      DEMO_READY_TIMEOUT_MS: '60000',
      DEMO_EVENT_TIMEOUT_MS: '60000',
    },
  };
}

async function stopSystem(start: Proc): Promise<void> {
  if (!start.running) return;
  process.kill(-start.child.pid!, 'SIGINT');
  const stopped = await Promise.race([
    start.exited.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 20_000)),
  ]);
  if (!stopped && start.child.pid) process.kill(-start.child.pid, 'SIGKILL');
}

interface Gateway {
  url: string;
  nginx: Proc;
}

/** nginx on a free port with the template rendered for `system`, every file in a temp dir. */
async function startGateway(
  t: Test,
  nginx: string,
  system: System,
  extra: Partial<Pick<GatewayOptions, 'rate' | 'burst'>> = {},
): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-test-'));
  const port = await freePort();
  const args = writeGatewayDir(dir, {
    upstreams: system.upstreams,
    listen: `127.0.0.1:${port}`,
    proxyBind: GATEWAY_SOURCE,
    ...extra,
  });
  const proc = new Proc(spawn(nginx, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  t.teardown(async () => {
    if (proc.running) {
      proc.child.kill('SIGTERM');
      await withTimeout(proc.exited, 10_000, 'nginx after SIGTERM').catch(() =>
        proc.child.kill('SIGKILL'),
      );
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  await waitOk(`${url}/healthz`, 30_000, () => proc.running).catch((err: Error) => {
    throw new Error(`${err.message}\n${proc.output}`);
  });
  return { url, nginx: proc };
}

/** The answer is the gateway's own problem+json with `code`. */
function gatewayProblem(t: Test, res: Reply, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: ${status}`, { body: res.text });
  t.equal(res.headers['content-type'], PROBLEM, `${what}: problem+json`);
  t.match(res.body, { status, code, type: GATEWAY_TYPE, title: String }, `${what}: ${code}`);
  t.equal(res.body?.requestId, res.headers['x-request-id'], `${what}: with the request id`);
}

void t.test('the renderer refuses what would break or bend the config', async (t) => {
  const good: GatewayOptions = {
    upstreams: {
      signup: '127.0.0.1:3001',
      profile: 'profile-service:3002',
      notification: '[::1]:3003',
    },
    listen: 8080,
    errorLog: '/tmp/x/error.log',
    accessLog: '/dev/stdout',
    tempDir: '/tmp/x/temp',
  };
  const text = renderGatewayConfig(good);
  t.notMatch(text, /\{\{/, 'every placeholder filled');
  t.match(text, 'server [::1]:3003;');
  t.throws(
    () =>
      renderGatewayConfig({
        ...good,
        upstreams: { ...good.upstreams, signup: 'http://x:1' },
        listen: '0.0.0.0:70000',
        accessLog: '/tmp/a.log; include /etc/passwd',
        rate: '20/s',
        burst: -1,
        proxyBind: '127.0.0.2; x',
      }),
    /upstreams\.signup: .*listen: port 70000.*accessLog: .*rate: .*burst: .*proxyBind: /,
    'every bad option, each named',
  );
  t.throws(
    () => renderGatewayConfig(good, 'listen {{LISTEN}}; {{NEW_THING}}'),
    /\{\{NEW_THING\}\} has no value; .* is not a placeholder/,
    'a placeholder without a value, and values without a placeholder',
  );
  t.equal(retryAfterSeconds('20r/s'), 1);
  t.equal(retryAfterSeconds('1r/m'), 60);
  t.equal(retryAfterSeconds('30r/m'), 2);
});

const nginx = findNginx();
if (!nginx) {
  t.fail('nginx is not installed (apt-get install nginx-light): the gateway cannot be tested');
} else {
  void t.test('the gateway in front of pnpm start', async (t) => {
    const system = await startSystem(t);
    const gateway = await startGateway(t, nginx, system);
    const signupDirect = system.base['signup-service'];

    await t.test('pnpm demo passes every step through the gateway', async (t) => {
      const demo = new Proc(
        spawn(process.execPath, ['--import=tsx', '--conditions=app-source', 'scripts/demo.ts'], {
          cwd: REPO_ROOT,
          env: { ...process.env, ...system.demoEnv, DEMO_GATEWAY_URL: gateway.url },
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
      const result = await withTimeout(demo.exited, 120_000, 'pnpm demo').catch((err) => {
        demo.child.kill('SIGKILL');
        throw err;
      });
      const out = demo.output;
      t.equal(result.code, 0, 'the demo exits 0', { output: out });
      for (let step = 1; step <= 7; step++) t.match(out, `✓ step ${step} passed`);
      t.match(out, `gateway ${gateway.url}`, 'it says it goes through the gateway');
      for (const name of ['signup', 'profile', 'notification']) {
        t.match(out, `${gateway.url}/health/${name}/ready -> 200`, `${name}'s readiness via it`);
      }
      t.match(out, `curl -s -XPOST ${gateway.url}/v1/signup`, 'the signup went to the gateway');
      t.match(out, /1st GET .* x-cache: MISS[\s\S]*2nd GET .* x-cache: HIT/, 'MISS, then HIT');
      t.match(out, /all 7 steps passed/);
    });

    await t.test('X-Request-Id: kept when it looks like an id, made up otherwise', async (t) => {
      const id = `gw-test-${randomBytes(6).toString('hex')}`;
      const kept = await send(`${gateway.url}/v1/signup`, {
        method: 'POST',
        body: '{}',
        headers: { 'x-request-id': id },
        from: '127.0.0.20',
      });
      t.equal(kept.status, 400, 'signup-service answered (the body is invalid)');
      t.equal(kept.headers['x-request-id'], id, 'the client gets its id back');
      t.equal(kept.body?.requestId, id, "it is the service's request id");
      const line = await system.start.waitFor('the log line of the request', 30_000, () =>
        system.start.lines.find(
          (l) => l.startsWith('signup-service') && l.includes(id) && l.includes('remoteAddress'),
        ),
      );
      t.match(line, '"remoteAddress":"127.0.0.20"', 'logged with the real client address');

      const made = await send(`${gateway.url}/v1/signup`, {
        method: 'POST',
        body: '{}',
        headers: { 'x-request-id': 'not an id; <script>' },
        from: '127.0.0.20',
      });
      const madeId = made.headers['x-request-id'];
      t.match(madeId, /^[0-9a-f]{32}$/, "a client's non-id is replaced by nginx's request id");
      t.equal(made.body?.requestId, madeId, 'and the service uses that one');

      const own = await send(`${gateway.url}/nowhere`, { headers: { 'x-request-id': id } });
      t.equal(own.headers['x-request-id'], id, "the gateway's own answers carry it too");
    });

    await t.test(
      'request.ip: the real client through the gateway, never X-Forwarded-For',
      async (t) => {
        const signup = (base: string, from: string, forwardedFor: string) =>
          send(`${base}/v1/signup`, {
            method: 'POST',
            body: '{}', // counted before validation, and never creates a user
            headers: { 'x-forwarded-for': forwardedFor },
            from,
          }).then((r) => r.status);
        const over = [...Array<number>(SIGNUP_MAX).fill(400), 429];

        // Straight to the service: the peer is not the gateway, so X-Forwarded-For is ignored and
        // four different forged values share the peer's one bucket.
        const direct: number[] = [];
        for (let i = 1; i <= SIGNUP_MAX + 1; i++) {
          direct.push(await signup(signupDirect, '127.0.0.3', `203.0.113.${i}`));
        }
        t.same(direct, over, 'direct: forged X-Forwarded-For values share the peer address bucket');

        // Through the gateway: the client's own address counts, not what it claims before it.
        const via: number[] = [];
        for (let i = 1; i <= SIGNUP_MAX + 1; i++) {
          via.push(await signup(gateway.url, '127.0.0.5', `198.51.100.${i}`));
        }
        t.same(via, over, 'via the gateway: one client, however it forges X-Forwarded-For');
        t.equal(
          await signup(gateway.url, '127.0.0.6', '198.51.100.1'),
          400,
          "another client through the same gateway has its own budget (not the gateway's address)",
        );
        const limited = await send(`${gateway.url}/v1/signup`, {
          method: 'POST',
          body: '{}',
          from: '127.0.0.5',
        });
        t.match(limited.body, { code: 'RATE_LIMITED', type: /signup-service/ }, "signup's 429");
        t.ok(limited.headers['retry-after'], 'with Retry-After');
      },
    );

    await t.test('a body over 1 MiB is refused by the gateway', async (t) => {
      const big = JSON.stringify({ padding: 'x'.repeat(1024 * 1024) });
      const res = await send(`${gateway.url}/v1/signup`, {
        method: 'POST',
        body: big,
        from: '127.0.0.7',
      });
      gatewayProblem(t, res, 413, 'PAYLOAD_TOO_LARGE', `a ${big.length}-byte body`);
      // Exactly 1 MiB gets through to the service, which judges it (not JSON it accepts: 400).
      const limit = `{"p":"${'x'.repeat(1024 * 1024 - 8)}"}`;
      t.equal(Buffer.byteLength(limit), 1024 * 1024);
      const at = await send(`${gateway.url}/v1/signup`, {
        method: 'POST',
        body: limit,
        from: '127.0.0.8',
      });
      t.equal(at.status, 400, 'a 1 MiB body reaches signup-service');
      t.match(at.body, { type: /signup-service/ }, "signup-service's own answer");
    });

    await t.test('the rate limit answers 429 problem+json with Retry-After', async (t) => {
      // A gateway of its own with the smallest rate nginx has: 1 a minute, a burst of 2.
      const strict = await startGateway(t, nginx, system, { rate: '1r/m', burst: 2 });
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        statuses.push(
          (await send(`${strict.url}/health/profile/live`, { from: '127.0.0.9' })).status,
        );
      }
      t.same(statuses, [200, 200, 200], 'the rate plus the burst get through');
      const over = await send(`${strict.url}/health/profile/live`, { from: '127.0.0.9' });
      gatewayProblem(t, over, 429, 'RATE_LIMITED', 'the next one');
      t.equal(over.headers['retry-after'], '60', 'Retry-After: the minute until the next one');
      t.equal(over.body?.retryAfterSeconds, 60);
      const other = await send(`${strict.url}/health/profile/live`, { from: '127.0.0.10' });
      t.equal(other.status, 200, 'another client is not limited by the first');
      for (let i = 0; i < 4; i++) {
        const healthz = await send(`${strict.url}/healthz`, { from: '127.0.0.9' });
        t.equal(healthz.status, 200, "the gateway's own /healthz is never limited");
      }
    });

    await t.test('anything not public is a 404 problem+json from the gateway', async (t) => {
      for (const path of [
        '/',
        '/nowhere',
        '/admin/deadletters',
        '/metrics',
        '/openapi.json',
        '/v1/signup/extra',
        '/health/unknown/ready',
      ]) {
        gatewayProblem(t, await send(`${gateway.url}${path}`), 404, 'NOT_FOUND', path);
      }
    });

    await t.test('every public route of the services reaches its service', async (t) => {
      const owner = (res: Reply) => (typeof res.body?.type === 'string' ? res.body.type : '');
      const sessions = await send(`${gateway.url}/v1/sessions`, {
        method: 'POST',
        body: '{}',
        from: '127.0.0.11',
      });
      t.equal(sessions.status, 400, 'POST /v1/sessions: 400 for an empty body');
      t.match(owner(sessions), /signup-service/, 'from signup-service');
      const profile = await send(`${gateway.url}/v1/profiles/${randomUUID()}`);
      t.equal(profile.status, 404, 'GET /v1/profiles/:id of nobody: 404');
      t.match(owner(profile), /profile-service/, 'from profile-service');
      const list = await send(`${gateway.url}/v1/profiles`);
      t.notMatch(owner(list), GATEWAY_TYPE, 'GET /v1/profiles: answered by profile-service');
      const jwks = await send(`${gateway.url}/.well-known/jwks.json`);
      t.equal(jwks.status, 200, 'GET /.well-known/jwks.json: 200');
      t.ok(Array.isArray(jwks.body?.keys), "signup-service's JWK Set");

      // And every route a service documents, so that a route added later needs the gateway too.
      const internal = /^\/(health|metrics|openapi\.json|admin)(\/|$)/;
      for (const [service, base] of Object.entries(system.base)) {
        const doc = await send(`${base}/openapi.json`);
        t.equal(doc.status, 200, `${service} serves its OpenAPI document`);
        const paths = (doc.body?.paths ?? {}) as Record<string, Record<string, unknown>>;
        if (service !== 'notification-service') {
          t.ok(
            Object.keys(paths).some((p) => !internal.test(p)),
            `${service} documents public routes`,
          );
        }
        for (const [path, operations] of Object.entries(paths)) {
          if (internal.test(path)) continue;
          for (const method of Object.keys(operations)) {
            if (!/^(get|post|put|patch|delete)$/.test(method)) continue;
            const concrete = path.replace(/\{[^}]+\}/g, randomUUID());
            const res = await send(`${gateway.url}${concrete}`, {
              method: method.toUpperCase(),
              ...(method === 'get' || method === 'delete' ? {} : { body: '{}' }),
              from: '127.0.0.12',
            });
            t.notMatch(owner(res), GATEWAY_TYPE, `${method.toUpperCase()} ${path} (${service})`);
            t.not(res.status, 502, `${method.toUpperCase()} ${path} reaches ${service}`);
          }
        }
      }
    });

    await t.test('health passes through per service; /healthz is the gateway', async (t) => {
      for (const [name, service] of [
        ['signup', 'signup-service'],
        ['profile', 'profile-service'],
        ['notification', 'notification-service'],
      ] as const) {
        for (const probe of ['live', 'ready']) {
          const via = await send(`${gateway.url}/health/${name}/${probe}`);
          const direct = await send(`${system.base[service]}/health/${probe}`);
          t.equal(via.status, 200, `/health/${name}/${probe}: 200`);
          t.same(
            Object.keys(via.body ?? {}).sort(),
            Object.keys(direct.body ?? {}).sort(),
            `/health/${name}/${probe} is ${service}'s /health/${probe}`,
          );
        }
      }
      const healthz = await send(`${gateway.url}/healthz`);
      t.equal(healthz.status, 200);
      t.same(healthz.body, { status: 'ok', service: 'gateway' });
    });

    await t.test('a stopped service answers 502 problem+json', async (t) => {
      await stopSystem(system.start);
      t.notOk(system.start.running, 'the services are stopped');
      for (const path of [`/v1/profiles/${randomUUID()}`, '/health/signup/ready']) {
        const res = await send(`${gateway.url}${path}`);
        gatewayProblem(t, res, 502, 'UPSTREAM_UNAVAILABLE', path);
        t.ok(res.headers['retry-after'], `${path}: with Retry-After`);
      }
      t.equal((await send(`${gateway.url}/healthz`)).status, 200, 'the gateway itself lives on');
    });
  });
}
