// The compiled build, run the way production runs it: `pnpm build` (tsc -b, incremental, so a
// fresh dist/ is left as it is), then every service as `node services/<svc>/dist/server.js` (plain
// node: no tsx, no source condition, none of this process's NODE_OPTIONS) on its own database,
// Redis prefix and NATS namespace, ready, SIGTERM, exit 0; the CLIs from dist; and each service's
// `pnpm deploy --prod` output, which must hold no tsx, esbuild, TypeScript or Prisma CLI and
// must serve on its own.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { topology } from '@app/contracts';
import { provision } from '@app/platform';
import { freePort, isolatedDatabase, isolatedNats, isolatedRedis } from '@app/testing';
import { REPO_ROOT, SERVICES } from '../src/index.js';

type Service = (typeof SERVICES)[number];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs a command to its end, bounded; the output is kept for the failure message. */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** Only what a container would have: no NODE_OPTIONS, no loader, nothing of this test's env. */
function bareEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', ...vars };
}

/** The variables one service needs on an isolated slice of the shared Postgres, Redis, NATS. */
async function serviceVars(t: Test, service: Service): Promise<Record<string, string>> {
  const [db, redis, nats] = await Promise.all([
    isolatedDatabase(t),
    isolatedRedis(t),
    isolatedNats(t),
  ]);
  await provision(nats.jsm, topology({ namespace: nats.namespace }), { check: false });
  const common = {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    NATS_URL: nats.url,
    NATS_NAMESPACE: nats.namespace,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
  };
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  switch (service) {
    case 'signup-service':
      return {
        ...common,
        JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        JWT_PUBLIC_KEY: publicPem,
        SIGNUP_REDIS_PREFIX: redis.prefix,
      };
    case 'profile-service':
      return { ...common, JWT_PUBLIC_KEY: publicPem, PROFILE_REDIS_PREFIX: redis.prefix };
    case 'notification-service': {
      const mailDir = mkdtempSync(join(tmpdir(), 'build-test-mail-'));
      t.teardown(() => rmSync(mailDir, { recursive: true, force: true }));
      return {
        ...common,
        NOTIFY_REDIS_PREFIX: redis.prefix,
        NOTIFY_MAIL_DIR: mailDir,
        ADMIN_TOKEN: randomBytes(24).toString('base64url'),
      };
    }
    case 'ops-console':
      return {
        ...common,
        OPS_REDIS_PREFIX: redis.prefix,
        OPS_OPERATOR_TOKEN: randomBytes(24).toString('base64url'),
        OPS_SESSION_SECRET: randomBytes(32).toString('base64url'),
      };
  }
}

/** Polls `/health/ready` until 200, bounded: readiness has no event to subscribe to. */
async function waitReady(url: string, exited: () => boolean, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline && !exited()) {
    try {
      const res = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return last;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}/health/ready not 200 (${exited() ? 'exited' : 'timed out'}): ${last}`);
}

/** Starts `node dist/server.js` in `dir`, waits for readiness, SIGTERMs it, expects exit 0. */
async function serveAndStop(t: Test, dir: string, service: Service): Promise<void> {
  const vars = await serviceVars(t, service);
  const child = spawn(process.execPath, ['dist/server.js'], {
    cwd: dir,
    env: bareEnv(vars),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  t.teardown(() => {
    if (running()) child.kill('SIGKILL');
  });
  const url = `http://127.0.0.1:${vars.PORT}`;
  try {
    await waitReady(url, () => !running(), 120_000);
    t.pass(`${service} is ready from ${join(dir, 'dist/server.js')}`);
  } catch (err) {
    t.fail(`${service} never got ready: ${(err as Error).message}\n${output}`);
    return;
  }
  const live = await fetch(`${url}/health/live`);
  t.equal(live.status, 200, `${service}: /health/live 200`);
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    exit,
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 60_000))),
  ]);
  clearTimeout(timer);
  t.same(result, { code: 0, signal: null }, `${service} exits 0 on SIGTERM\n${output}`);
}

/** Every package of a pnpm `node_modules` (top level and the virtual store), as `name@...`. */
function installedPackages(nodeModules: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(nodeModules)) {
    if (entry === '.pnpm') {
      // `<name>@<version>[_peers]`, scoped ones as `@scope+name@...`
      for (const id of readdirSync(join(nodeModules, entry))) {
        if (id.includes('@')) found.push(id.replace(/^@([^+]+)\+/, '@$1/'));
      }
    } else if (entry.startsWith('@')) {
      for (const name of readdirSync(join(nodeModules, entry))) found.push(`${entry}/${name}@`);
    } else if (!entry.startsWith('.')) {
      found.push(`${entry}@`);
    }
  }
  return found;
}

/** TypeScript tooling that must never reach a production tree. */
const DEV_ONLY = /^(tsx|esbuild|@esbuild\/[^@]+|typescript|prisma)@/;

const build = await run('pnpm', ['build'], {
  cwd: REPO_ROOT,
  env: process.env,
  timeoutMs: 600_000,
});
t.equal(build.code, 0, `pnpm build succeeds\n${build.output}`);

void t.test('the compiled output is what package.json exports', async (t) => {
  for (const dir of ['packages', 'services']) {
    for (const name of readdirSync(join(REPO_ROOT, dir))) {
      const file = join(REPO_ROOT, dir, name, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as {
        exports?: Record<string, Record<string, string>>;
      };
      const root = pkg.exports?.['.'];
      t.ok(root, `${dir}/${name} exports "."`);
      for (const condition of ['types', 'default'] as const) {
        const target = root?.[condition] ?? '';
        t.match(target, /^\.\/dist\//, `${dir}/${name}: ${condition} is under dist/`);
        t.ok(existsSync(join(REPO_ROOT, dir, name, target)), `${dir}/${name}: ${target} built`);
      }
      t.notOk(existsSync(join(REPO_ROOT, dir, name, 'dist', 'test')), `${dir}/${name}: no tests`);
    }
  }
});

for (const service of SERVICES) {
  void t.test(`${service} serves from dist with plain node`, async (t) => {
    await serveAndStop(t, join(REPO_ROOT, 'services', service), service);
  });
}

void t.test('the CLIs run from dist', async (t) => {
  const db = await isolatedDatabase(t);
  const migrate = await run(process.execPath, ['packages/db/dist/cli/migrate.js'], {
    cwd: REPO_ROOT,
    env: bareEnv({ DATABASE_URL: db.url }),
    timeoutMs: 120_000,
  });
  t.equal(migrate.code, 0, `migrate exits 0\n${migrate.output}`);

  const nats = await isolatedNats(t);
  const provisioned = await run(process.execPath, ['packages/platform/dist/cli/provision.js'], {
    cwd: REPO_ROOT,
    env: bareEnv({ NATS_URL: nats.url, NATS_NAMESPACE: nats.namespace }),
    timeoutMs: 120_000,
  });
  t.equal(provisioned.code, 0, `provision exits 0\n${provisioned.output}`);
  const streams: string[] = [];
  for await (const name of nats.jsm.streams.names()) streams.push(name);
  t.ok(
    streams.some((s) => s.startsWith(`${nats.namespace.toUpperCase()}_`)),
    'provision created the namespace streams',
  );

  const vars = await serviceVars(t, 'notification-service');
  const redrive = await run(process.execPath, ['dist/cli/redrive.js', 'list', '--json'], {
    cwd: join(REPO_ROOT, 'services', 'notification-service'),
    env: bareEnv(vars),
    timeoutMs: 120_000,
  });
  t.equal(redrive.code, 0, `redrive list exits 0\n${redrive.output}`);
});

for (const service of SERVICES) {
  void t.test(`${service}: pnpm deploy --prod holds no dev tooling and serves`, async (t) => {
    const out = mkdtempSync(join(tmpdir(), `build-test-${service}-`));
    t.teardown(() => rmSync(out, { recursive: true, force: true }));
    const deploy = await run(
      'pnpm',
      ['--filter', `@app/${service}`, 'deploy', '--prod', '--legacy', join(out, 'app')],
      { cwd: REPO_ROOT, env: process.env, timeoutMs: 300_000 },
    );
    t.equal(deploy.code, 0, `pnpm deploy --prod succeeds\n${deploy.output}`);
    const app = join(out, 'app');
    t.ok(existsSync(join(app, 'dist', 'server.js')), 'dist/server.js deployed');
    t.notOk(existsSync(join(app, 'src')), 'no sources deployed');
    t.notOk(existsSync(join(app, 'test')), 'no tests deployed');
    const packages = installedPackages(join(app, 'node_modules'));
    t.ok(
      packages.some((p) => p.startsWith('fastify@')),
      'the runtime dependencies are there',
    );
    t.same(
      packages.filter((p) => DEV_ONLY.test(p)),
      [],
      'no tsx, esbuild, TypeScript or Prisma CLI',
    );
    await serveAndStop(t, app, service);
  });
}
