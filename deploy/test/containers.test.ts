// The images for real (#15), with podman: the local base image (deploy/docker/base-images.sh, as
// no registry can be pulled from here), every service's image built from deploy/docker/Dockerfile,
// the migrate and provision Jobs and every Deployment run from those images exactly as the dev
// overlay's rendered manifests say (command, args, the variable names, user, read-only root, the
// /tmp volume, dropped capabilities, the probes' paths and ports) against the local Postgres, Redis
// and NATS (reached from the containers at 10.0.2.2, slirp4netns's address of the host's
// loopback), and then, from outside: readiness, `podman healthcheck run`, a signup emailed by the
// notification container and read back as a HIT from the profile container, `podman stop` under
// load, and what the image holds (uid 1000, no TypeScript sources or tooling, no secrets). Sizes,
// build and start-up times are printed as `# image ...` comments.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import {
  freePort,
  isolatedNats,
  isolatedRedis,
  serviceUrls,
  startSmtpSink,
  waitUntil,
} from '@app/testing';
import {
  containerEnvironment,
  podSpecOf,
  probePort,
  renderKustomize,
  REPO_ROOT,
  SERVICES,
  type Container,
  type K8sObject,
  type PodSpec,
} from '../src/index.js';

type Service = (typeof SERVICES)[number];
/** The file's own test, for what outlives a subtest (each subtest's `t` shadows it). */
const root = t;

// Building four images and running them takes minutes; the tier's default is for one file of tests.
t.setTimeout(40 * 60_000);

/** The host's loopback as slirp4netns shows it to a container (`allow_host_loopback=true`). */
const HOST_FROM_CONTAINER = '10.0.2.2';
const NETWORK = 'slirp4netns:allow_host_loopback=true';
const RUN_ID = randomBytes(4).toString('hex');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** podman's lines about the systemd timers of health checks, which this machine has no systemd for. */
const SYSTEMD_NOISE = /^.*unable to get systemd connection.*\n?/gm;

interface ExecOptions {
  timeoutMs?: number;
  /** Added to this process's environment (podman reads `--env NAME` values from it). */
  env?: Record<string, string>;
  /** Stderr appended to stdout, in the order written (a command whose story is one log). */
  mergeStderr?: boolean;
}

/** Runs a command from the repository's root to its exit (killed past the timeout). */
function exec(command: string, args: string[], options: ExecOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const toStdout = (c: Buffer) => (stdout = (stdout + c.toString()).slice(-200_000));
    child.stdout.on('data', toStdout);
    child.stderr.on(
      'data',
      options.mergeStderr
        ? toStdout
        : (c: Buffer) => (stderr = (stderr + c.toString()).slice(-20_000)),
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: stderr.replace(SYSTEMD_NOISE, '') });
    });
  });
}

const podman = (args: string[], options?: ExecOptions) => exec('podman', args, options);

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function devDependenciesOf(dir: string): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  return pkg.devDependencies ?? {};
}

// --- the manifests -------------------------------------------------------------------------------

const objects = await renderKustomize(join(REPO_ROOT, 'deploy', 'k8s', 'overlays', 'dev'));

function workload(kind: string, name: string): { spec: PodSpec; container: Container } {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  const spec = o && podSpecOf(o);
  const container = spec?.containers[0];
  if (!spec || !container)
    throw new Error(`the dev overlay has no ${kind}/${name} with a container`);
  return { spec, container };
}

const configMap = objects.find(
  (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('app-config'),
);
const configData = (configMap?.data ?? {}) as Record<string, string>;

/** The image a manifest names, as podman stores a local build of it. */
const localImage = (image: string) => `localhost/${image}`;

// --- what the containers are given ---------------------------------------------------------------

const { databaseUrl: adminUrl } = await serviceUrls();
const database = `containers_${RUN_ID}`;
const redis = await isolatedRedis(t);
// A namespace of its own on the shared NATS: its streams are deleted in teardown.
const nats = await isolatedNats(t);
const { namespace, jsm } = nats;
const smtp = await startSmtpSink();
t.teardown(() => smtp.close());
// An empty database: the migrate Job gives it its schema.
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE "${database}"`);
t.teardown(async () => {
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.end();
});

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const hostPorts = Object.fromEntries(
  await Promise.all(SERVICES.map(async (s) => [s, await freePort()] as const)),
) as Record<Service, number>;

function reachableFromContainer(url: string): string {
  const u = new URL(url);
  u.hostname = HOST_FROM_CONTAINER;
  return u.toString();
}
const containerDbUrl = (() => {
  const u = new URL(reachableFromContainer(adminUrl));
  u.pathname = `/${database}`;
  return u.toString();
})();

/** The values of app-secrets' keys (the manifests ship only a template). */
const secrets: Record<string, string> = {
  DATABASE_URL: containerDbUrl,
  REDIS_URL: reachableFromContainer(redis.url),
  SMTP_URL: `smtp://${HOST_FROM_CONTAINER}:${smtp.port}`,
  ADMIN_TOKEN: randomBytes(24).toString('base64url'),
  JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  OPS_OPERATOR_TOKEN: randomBytes(24).toString('base64url'),
  OPS_VIEWER_TOKEN: randomBytes(24).toString('base64url'),
  OPS_SESSION_SECRET: randomBytes(32).toString('base64url'),
};

/**
 * ConfigMap values this test must change, each for a reason: the cluster's DNS names become the
 * host's services, the namespace is this run's own, one nats-server holds R1 streams only.
 */
const configOverrides: Record<string, string> = {
  NATS_URL: reachableFromContainer(nats.url),
  NATS_NAMESPACE: namespace,
  NATS_STREAM_REPLICAS: '1',
  OPS_SIGNUP_URL: `http://${HOST_FROM_CONTAINER}:${hostPorts['signup-service']}`,
  OPS_PROFILE_URL: `http://${HOST_FROM_CONTAINER}:${hostPorts['profile-service']}`,
  OPS_NOTIFICATION_URL: `http://${HOST_FROM_CONTAINER}:${hostPorts['notification-service']}`,
};

/** Variables the manifests do not set, added to keep this run's Redis keys apart from others'. */
const isolation: Record<string, string> = {
  SIGNUP_REDIS_PREFIX: `${redis.prefix}signup:`,
  PROFILE_REDIS_PREFIX: `${redis.prefix}profile:`,
  NOTIFY_REDIS_PREFIX: `${redis.prefix}notify:`,
  OPS_REDIS_PREFIX: `${redis.prefix}ops:`,
};

/** Every variable the manifest gives the container, with its value here; throws on any it cannot. */
function environmentOf(container: Container): Record<string, string> {
  const { variables, problems } = containerEnvironment(container, objects, [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-secrets' }, stringData: secrets },
  ] as K8sObject[]);
  if (problems.length > 0) throw new Error(`${container.name}: ${problems.join('; ')}`);
  const env: Record<string, string> = {};
  for (const [name, source] of variables) {
    if (source === 'literal') env[name] = container.env!.find((e) => e.name === name)!.value!;
    else if (source.startsWith('Secret/')) env[name] = secrets[source.split('#')[1]!]!;
    else if (source.startsWith('ConfigMap/')) {
      env[name] = configOverrides[name] ?? configData[source.split('#')[1]!] ?? '';
    } else throw new Error(`${container.name}: ${name} from ${source}, which podman cannot give`);
  }
  return env;
}

/**
 * `podman run` arguments for a pod's container as its manifests say: its user and group, a
 * read-only root, an emptyDir as a tmpfs at each mount path, capabilities dropped, no privilege
 * escalation, an init as PID 1 (the kubelet's pause process is not there to reap), and the
 * container's ports published on the host.
 */
function runArgs(
  spec: PodSpec,
  container: Container,
  published: Array<[host: number, container: number]> = [],
): string[] {
  const sc = { ...spec.securityContext, ...container.securityContext };
  const args = ['--network', NETWORK, '--init'];
  if (sc.runAsUser !== undefined) {
    const group = (spec.securityContext as { runAsGroup?: number } | undefined)?.runAsGroup;
    args.push('--user', group === undefined ? `${sc.runAsUser}` : `${sc.runAsUser}:${group}`);
  }
  if (sc.readOnlyRootFilesystem) args.push('--read-only');
  for (const cap of sc.capabilities?.drop ?? []) args.push(`--cap-drop=${cap}`);
  if (sc.allowPrivilegeEscalation === false) args.push('--security-opt=no-new-privileges');
  for (const mount of container.volumeMounts ?? []) {
    const volume = spec.volumes?.find((v) => v.name === mount.name);
    if (!volume?.emptyDir)
      throw new Error(`${container.name}: volume ${mount.name} is not an emptyDir`);
    args.push('--tmpfs', `${mount.mountPath}:rw,size=64m,mode=1777`);
  }
  for (const [host, port] of published) args.push('-p', `127.0.0.1:${host}:${port}`);
  return args;
}

/** podman reads `--env NAME` from its own environment: no secret on a command line. */
function envArgs(env: Record<string, string>): string[] {
  return Object.keys(env).flatMap((name) => ['--env', name]);
}

// --- the base image and the builds ---------------------------------------------------------------

/** Build secrets for the registry behind a TLS-intercepting proxy; none is written to a layer. */
const buildSecrets: string[] = [];
const caFile = process.env.NODE_EXTRA_CA_CERTS ?? '/etc/ssl/certs/ca-certificates.crt';
if (existsSync(caFile)) buildSecrets.push('--secret', `id=ca,src=${caFile}`);
if (existsSync(join(homedir(), '.npmrc'))) {
  buildSecrets.push('--secret', `id=npmrc,src=${join(homedir(), '.npmrc')}`);
}

let nodeImage = '';
const images = new Map<Service, string>();

// Subtests run in order, each after the one before has ended: the builds come first.
void t.test('the base images are there or built', async (t) => {
  const version = await podman(['--version']).catch((err: Error) => ({
    code: null,
    stdout: '',
    stderr: err.message,
  }));
  if (version.code !== 0) {
    t.fail(
      `podman does not run (${version.stderr.trim()}): .ci/run installs it (apt-get install podman buildah runc debootstrap)`,
    );
    return;
  }
  const started = Date.now();
  const base = await exec(
    'bash',
    [join(REPO_ROOT, 'deploy', 'docker', 'base-images.sh'), '--stand-ins'],
    { timeoutMs: 20 * 60_000 },
  );
  t.equal(
    base.code,
    0,
    `deploy/docker/base-images.sh succeeds${base.code === 0 ? '' : `\n${base.stderr}`}`,
  );
  nodeImage = base.stdout.trim().split('\n').at(-1) ?? '';
  t.match(nodeImage, /^localhost\/node:/, `it names the local Node image (${nodeImage})`);
  t.comment(
    `base images: ${seconds(Date.now() - started)} (${base.stderr.trim().split('\n').join('; ')})`,
  );
});

void t.test("every service's image builds from deploy/docker/Dockerfile", async (t) => {
  for (const service of SERVICES) {
    const { container } = workload('Deployment', service);
    const port = container.ports?.[0]?.containerPort;
    const image = localImage(container.image ?? '');
    const started = Date.now();
    const build = await podman(
      [
        'build',
        '--format',
        'docker',
        '-f',
        'deploy/docker/Dockerfile',
        '--build-arg',
        `NODE_IMAGE=${nodeImage}`,
        '--build-arg',
        `SERVICE=${service}`,
        '--build-arg',
        `PORT=${port}`,
        ...buildSecrets,
        '-t',
        image,
        '.',
      ],
      { timeoutMs: 20 * 60_000 },
    );
    t.equal(
      build.code,
      0,
      `${service}: the image builds${build.code === 0 ? '' : `\n${build.stdout.slice(-6000)}\n${build.stderr}`}`,
    );
    if (build.code !== 0) return;
    images.set(service, image);
    const size = await podman(['image', 'inspect', '--format', '{{.Size}}', image]);
    t.comment(
      `image ${image}: built in ${seconds(Date.now() - started)}, ${(Number(size.stdout) / 1e6).toFixed(0)} MB`,
    );
  }
});

// --- what an image holds -------------------------------------------------------------------------

void t.test('each image: uid 1000, compiled code only, no dev tooling, no secrets', async (t) => {
  t.equal(images.size, SERVICES.length, 'every image was built');
  for (const [service, image] of images) {
    const inside = await podman([
      'run',
      '--rm',
      '--network',
      'none',
      image,
      'sh',
      '-c',
      [
        'id -u',
        'echo ---',
        "find /app -name '*.ts' ! -name '*.d.ts' -not -path '*/node_modules/*'",
        'echo ---',
        "find /app/node_modules -maxdepth 3 \\( -path '*/node_modules/tsx' -o -path '*/node_modules/esbuild' -o -path '*/node_modules/typescript' -o -path '*/node_modules/prisma' -o -path '*/node_modules/tap' \\)",
        'echo ---',
        'ls -a /run/secrets /root/.npmrc /usr/local/etc/npmrc /app/.npmrc /app/.env 2>/dev/null',
        'echo ---',
        'test -f /app/dist/server.js && echo server',
        'echo ---',
        'ls /app/node_modules/.pnpm',
      ].join('; '),
    ]);
    t.equal(inside.code, 0, `${service}: the checks ran\n${inside.stderr}`);
    const [uid, sources, tooling, secretFiles, server, store] = inside.stdout.split('---\n');
    t.equal(uid?.trim(), '1000', `${service}: runs as uid 1000 by default`);
    t.equal(sources?.trim(), '', `${service}: no TypeScript sources`);
    t.equal(tooling?.trim(), '', `${service}: no tsx, esbuild, TypeScript, Prisma CLI or tap`);
    t.equal(
      secretFiles?.trim(),
      '',
      `${service}: no build secret, npmrc or .env left in the image`,
    );
    t.equal(server?.trim(), 'server', `${service}: dist/server.js is there`);
    // The packages in the image (`@scope+name@version...` in pnpm's store) against every
    // development dependency of the service and of the workspace. Type packages are left out:
    // production dependencies bring some (@opentelemetry/instrumentation-pg depends on @types/pg).
    const installed = new Set(
      (store ?? '')
        .split('\n')
        .filter(Boolean)
        .map((id) => id.replace(/^(@[^+]+)\+/, '$1/').replace(/^(@?[^@]+)@.*$/, '$1')),
    );
    const devOnly = [REPO_ROOT, join(REPO_ROOT, 'services', service)]
      .flatMap((dir) => Object.keys(devDependenciesOf(dir)))
      .filter((name) => !name.startsWith('@types/'));
    t.ok(installed.has('fastify'), `${service}: the production dependencies are there`);
    t.same(
      devOnly.filter((name) => installed.has(name)),
      [],
      `${service}: none of its or the workspace's ${devOnly.length} development dependencies`,
    );

    const config = await podman(['image', 'inspect', '--format', '{{json .Config}}', image]);
    const { Env = [], User } = JSON.parse(config.stdout) as { Env?: string[]; User?: string };
    t.equal(User, 'node', `${service}: USER node`);
    const baked = Env.map((e) => e.split('=')[0]).filter((n) => n && n in secrets);
    t.same(baked, [], `${service}: no secret variable in the image's environment`);
    const history = await podman(['history', '--no-trunc', '--format', '{{.CreatedBy}}', image]);
    t.notMatch(
      history.stdout,
      /BEGIN [A-Z ]*(CERTIFICATE|PRIVATE KEY)|_authToken|npm_config__auth/,
      `${service}: no certificate, key or registry token in the image's history`,
    );
  }
});

// --- the Jobs and the Deployments, run as the manifests say --------------------------------------

/** Runs a Job's container to its end; returns its exit code and output. */
async function runJob(name: string): Promise<Run> {
  const { spec, container } = workload('Job', name);
  const env = environmentOf(container);
  return podman(
    [
      'run',
      '--rm',
      ...runArgs(spec, container),
      ...envArgs(env),
      localImage(container.image ?? ''),
      ...(container.command ?? []),
      ...(container.args ?? []),
    ],
    { timeoutMs: 180_000, env },
  );
}

void t.test('the migrate and provision Jobs run from the image', async (t) => {
  const migrate = await runJob('migrate');
  t.equal(
    migrate.code,
    0,
    `migrate exits 0${migrate.code === 0 ? '' : `\n${migrate.stdout}\n${migrate.stderr}`}`,
  );
  const db = new pg.Client({ connectionString: new URL(`/${database}`, adminUrl).toString() });
  await db.connect();
  const users = await db.query<{ t: string | null }>(
    `SELECT to_regclass('public.users')::text AS t`,
  );
  await db.end();
  t.equal(users.rows[0]?.t, 'users', 'the schema is in the new database');

  const provision = await runJob('provision');
  t.equal(
    provision.code,
    0,
    `provision exits 0${provision.code === 0 ? '' : `\n${provision.stdout}\n${provision.stderr}`}`,
  );
  const streams: string[] = [];
  for await (const name of jsm.streams.names()) streams.push(name);
  t.ok(
    streams.some((s) => s.startsWith(`${namespace.toUpperCase()}_`)),
    `provision created this namespace's streams (${streams.filter((s) => s.startsWith(namespace.toUpperCase())).join(', ')})`,
  );
});

interface Running {
  service: Service;
  name: string;
  url: string;
  container: Container;
  spec: PodSpec;
  startupMs: number;
}
const running = new Map<Service, Running>();
/** What the stop test loads: a cached profile once the signup test has made one. */
let readPath = '/health/live';

async function logsOf(name: string): Promise<string> {
  const logs = await podman(['logs', '--tail', '60', name]);
  return `${logs.stdout}${logs.stderr}`.slice(-6000);
}

void t.test('every Deployment runs from its image and gets ready', async (t) => {
  for (const service of SERVICES) {
    const { spec, container } = workload('Deployment', service);
    const port = container.ports?.[0]?.containerPort ?? 0;
    const env = { ...environmentOf(container), ...isolation };
    t.equal(env.PORT, String(port), `${service}: PORT is the manifest's containerPort (${port})`);
    const name = `jf-${RUN_ID}-${service}`;
    const startedAt = Date.now();
    const run = await podman(
      [
        'run',
        '--detach',
        '--name',
        name,
        ...runArgs(spec, container, [[hostPorts[service], port]]),
        ...envArgs(env),
        localImage(container.image ?? ''),
        ...(container.command ?? []),
        ...(container.args ?? []),
      ],
      { env },
    );
    // The containers outlive this subtest: the ones after it use them.
    root.teardown(() => podman(['rm', '--force', '--time', '0', name]));
    t.equal(run.code, 0, `${service}: podman run starts it\n${run.stderr}`);
    const url = `http://127.0.0.1:${hostPorts[service]}`;
    const readiness = container.readinessProbe?.httpGet;
    t.equal(
      probePort(container, container.readinessProbe ?? {}),
      port,
      `${service}: readiness probes the container port`,
    );
    let last = '';
    const ready = await waitUntil(
      `${service} readiness`,
      async () => {
        try {
          const res = await fetch(`${url}${readiness?.path ?? '/health/ready'}`, {
            signal: AbortSignal.timeout(2000),
          });
          last = `${res.status}`;
          return res.status === 200;
        } catch (err) {
          last = (err as Error).message;
          return false;
        }
      },
      120_000,
    ).catch(() => false);
    if (ready !== true) {
      t.fail(`${service}: never ready (${last})\n${await logsOf(name)}`);
      continue;
    }
    const startupMs = Date.now() - startedAt;
    t.pass(`${service}: readiness ${readiness?.path} answers 200`);
    t.comment(`image ${service}: ready ${seconds(startupMs)} after podman run`);
    for (const [kind, probe] of [
      ['liveness', container.livenessProbe],
      ['startup', container.startupProbe],
    ] as const) {
      if (!probe?.httpGet) continue;
      t.equal(
        probePort(container, probe),
        port,
        `${service}: the ${kind} probe targets the container port`,
      );
      const res = await fetch(`${url}${probe.httpGet.path}`);
      t.equal(res.status, 200, `${service}: the ${kind} probe's ${probe.httpGet.path} answers 200`);
    }
    const health = await podman(['healthcheck', 'run', name]);
    t.equal(
      health.code,
      0,
      `${service}: podman healthcheck run: healthy\n${health.stdout}${health.stderr}`,
    );
    running.set(service, { service, name, url, container, spec, startupMs });
  }
});

void t.test(
  'a signup: 201 from the signup container, the welcome email from the notification container, a HIT from the profile container',
  async (t) => {
    const signup = running.get('signup-service');
    const profile = running.get('profile-service');
    if (!signup || !profile || !running.has('notification-service')) {
      t.fail('the services did not all get ready');
      return;
    }
    const email = `container-${RUN_ID}@example.com`;
    const res = await fetch(`${signup.url}/v1/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email,
        password: 'correct horse battery staple',
        displayName: 'Contained',
      }),
    });
    t.equal(res.status, 201, 'signup answers 201');
    const { userId } = (await res.json()) as { userId: string };
    const mails = await smtp.waitFor(1, 60_000).catch(() => []);
    t.ok(
      mails.some((m) => m.envelopeTo.includes(email)),
      `the welcome email reached the SMTP sink (${mails.length} message(s))`,
    );
    const reads: string[] = [];
    await waitUntil(
      'a HIT',
      async () => {
        const read = await fetch(`${profile.url}/v1/profiles/${userId}`);
        reads.push(`${read.status} ${read.headers.get('x-cache')}`);
        return read.status === 200 && read.headers.get('x-cache') === 'HIT';
      },
      30_000,
    ).catch(() => undefined);
    readPath = `/v1/profiles/${userId}`;
    t.equal(
      reads.at(-1),
      '200 HIT',
      `the profile is read back, then from the cache (${reads.join(', ')})`,
    );
  },
);

void t.test(
  'podman stop under load: every request in flight answered, exit 0 within the grace period',
  async (t) => {
    const profile = running.get('profile-service');
    if (!profile) {
      t.fail('profile-service did not get ready');
      return;
    }
    const grace = profile.spec.terminationGracePeriodSeconds ?? 30;
    interface Outcome {
      startedAt: number;
      endedAt: number;
      result: string;
    }
    const outcomes: Outcome[] = [];
    let stopAt = Number.POSITIVE_INFINITY;
    let exited = false;
    const worker = async () => {
      while (!exited) {
        const startedAt = Date.now();
        let result: string;
        try {
          const res = await fetch(`${profile.url}${readPath}`, {
            signal: AbortSignal.timeout(5000),
          });
          await res.arrayBuffer();
          result = String(res.status);
        } catch (err) {
          result = `error: ${(err as Error).cause ? String((err as Error).cause) : (err as Error).message}`;
          if (Date.now() >= stopAt) await new Promise((r) => setTimeout(r, 20));
        }
        outcomes.push({ startedAt, endedAt: Date.now(), result });
      }
    };
    // Keep-alive clients that, once the stop has begun, send each request on a connection of its
    // own and then leave it open and idle, as a balancer's upstream pool can: the connection of
    // one still in flight when the service closes its listener must not hold the shutdown open (it
    // did, for node's 72 s keep-alive timeout, past the grace period: exit 1).
    const pool = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const parked: http.Agent[] = [pool];
    t.teardown(() => parked.forEach((agent) => agent.destroy()));
    const get = (agent: http.Agent) =>
      new Promise<string>((resolve) => {
        http
          .get(`${profile.url}${readPath}`, { agent, timeout: 5000 }, (res) => {
            res.resume();
            res.once('end', () => resolve(String(res.statusCode)));
          })
          .once('error', (err) => resolve(`error: ${err.message}`));
      });
    const holder = async () => {
      while (!exited) {
        const startedAt = Date.now();
        const stopping = startedAt >= stopAt;
        const agent = stopping ? new http.Agent({ keepAlive: true }) : pool;
        if (stopping) parked.push(agent);
        const result = await get(agent);
        outcomes.push({ startedAt, endedAt: Date.now(), result });
        if (stopping && result.startsWith('error')) await new Promise((r) => setTimeout(r, 20));
      }
    };
    const workers = [...Array.from({ length: 8 }, worker), ...Array.from({ length: 4 }, holder)];
    await new Promise((r) => setTimeout(r, 1000));
    stopAt = Date.now();
    const stop = await podman(['stop', '--time', String(grace), profile.name], {
      timeoutMs: (grace + 30) * 1000,
    });
    const stoppedMs = Date.now() - stopAt;
    exited = true;
    await Promise.all(workers);
    t.equal(stop.code, 0, `podman stop returns\n${stop.stderr}`);
    const state = await podman(['inspect', '--format', '{{.State.ExitCode}}', profile.name]);
    const code = state.stdout.trim();
    t.equal(
      code,
      '0',
      `exit code 0 (not 137: SIGTERM reached node through --init)${code === '0' ? '' : `\n${await logsOf(profile.name)}`}`,
    );
    t.ok(
      stoppedMs < grace * 1000,
      `stopped in ${seconds(stoppedMs)}, within the ${grace} s grace period`,
    );
    const before = outcomes.filter((o) => o.startedAt < stopAt);
    const inFlight = before.filter((o) => o.endedAt >= stopAt);
    t.ok(before.length > 50, `load ran before the stop (${before.length} requests)`);
    t.same(
      before.filter((o) => o.result !== '200').map((o) => o.result),
      [],
      `every request sent before the stop was answered 200 (${inFlight.length} of them still in flight at the stop)`,
    );
    const after = outcomes.filter((o) => o.startedAt >= stopAt);
    const statuses = after.filter((o) => !o.result.startsWith('error')).map((o) => o.result);
    t.same(
      statuses.filter((s) => s !== '200' && s !== '503'),
      [],
      `after the stop, answers are 200 or 503 only (${statuses.length} answered, ${after.length - statuses.length} refused once the listener closed)`,
    );
    t.comment(`image profile-service: podman stop under load took ${seconds(stoppedMs)}`);
  },
);

// --- the compose file itself, under podman-compose ------------------------------------------------

/** Runs podman-compose on docker-compose.yml with the stand-ins' override, as `project`. */
function compose(
  project: string,
  env: Record<string, string>,
  args: string[],
  timeoutMs = 300_000,
) {
  return exec(
    'podman-compose',
    [
      '-p',
      project,
      '-f',
      'docker-compose.yml',
      '-f',
      'deploy/docker/compose.stand-ins.yml',
      ...args,
    ],
    { env, timeoutMs },
  );
}

/** `podman healthcheck run`, polled until healthy (podman runs no periodic checks here). */
async function healthy(container: string, timeoutMs: number): Promise<boolean> {
  return waitUntil(
    `${container} healthy`,
    async () => (await podman(['healthcheck', 'run', container])).code === 0,
    timeoutMs,
  ).catch(() => false);
}

void t.test(
  'docker-compose.yml under podman-compose with the stand-ins: up, the one-shots, pnpm demo, down -v',
  async (t) => {
    const project = `jfc${RUN_ID}`;
    // The datastores' host ports are variables of the compose file: free ones, beside the shared
    // Postgres, Redis and NATS. The services' (3001-3004) and the gateway's (8080) are fixed.
    const ports = {
      POSTGRES_HOST_PORT: await freePort(),
      REDIS_HOST_PORT: await freePort(),
      NATS_HOST_PORT: await freePort(),
      NATS_MONITOR_HOST_PORT: await freePort(),
      MAILPIT_SMTP_HOST_PORT: await freePort(),
      MAILPIT_UI_HOST_PORT: await freePort(),
    };
    const env = Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)]));
    const container = (service: string) => `${project}_${service}_1`;
    let down = false;
    root.teardown(async () => {
      if (!down) await compose(project, env, ['down', '-v']);
      await podman(['network', 'rm', '--force', `${project}_default`]);
    });

    // podman-compose 1.0.3 ignores `depends_on: condition:` and starts everything at once, so the
    // test brings the file up in the order the conditions say, waiting on each health check.
    const stages: Array<{ services: string[]; until: 'healthy' | 'exit 0' }> = [
      { services: ['postgres', 'redis', 'nats', 'mailpit'], until: 'healthy' },
      { services: ['keys', 'migrate', 'provision'], until: 'exit 0' },
      {
        services: ['signup-service', 'profile-service', 'notification-service', 'ops-console'],
        until: 'healthy',
      },
      { services: ['gateway'], until: 'healthy' },
    ];
    const started = Date.now();
    for (const stage of stages) {
      const up = await compose(project, env, ['up', '-d', ...stage.services]);
      t.equal(
        up.code,
        0,
        `podman-compose up -d ${stage.services.join(' ')}${up.code === 0 ? '' : `\n${up.stderr}`}`,
      );
      for (const service of stage.services) {
        if (stage.until === 'healthy') {
          const ok = await healthy(container(service), 120_000);
          const logs = ok ? '' : `\n${await logsOf(container(service))}`;
          t.ok(ok, `${service}: its compose health check passes${logs}`);
        } else {
          const wait = await podman(['wait', container(service)], { timeoutMs: 180_000 });
          const code = wait.stdout.trim();
          const logs = code === '0' ? '' : `\n${await logsOf(container(service))}`;
          t.equal(code, '0', `${service}: the one-shot exits 0${logs}`);
        }
      }
      if (t.counts.fail > 0) return;
    }
    t.comment(`compose: up and healthy in ${seconds(Date.now() - started)}`);

    // `pnpm demo` through the gateway, as the README tells a user to run it. MailDev has no
    // Mailpit API, so MAILPIT_URL stays unset and the demo finds the email in the ledger.
    const demo = await exec('pnpm', ['demo'], {
      env: {
        DEMO_GATEWAY_URL: 'http://127.0.0.1:8080',
        NOTIFY_URL: 'http://127.0.0.1:3003',
        DATABASE_URL: `postgresql://app:dev-only-postgres-password@127.0.0.1:${ports.POSTGRES_HOST_PORT}/app`,
        REDIS_URL: `redis://127.0.0.1:${ports.REDIS_HOST_PORT}`,
        NATS_URL: `nats://127.0.0.1:${ports.NATS_HOST_PORT}`,
        NATS_NAMESPACE: '',
        ADMIN_TOKEN: 'dev-only-admin-token-change-me',
        NO_COLOR: '1',
      },
      mergeStderr: true,
      timeoutMs: 300_000,
    });
    t.equal(
      demo.code,
      0,
      `pnpm demo passes against the compose system${demo.code === 0 ? '' : `\n${demo.stdout.slice(-8000)}`}`,
    );
    t.match(demo.stdout, /step 7 passed/, 'all seven steps ran');

    const removed = await compose(project, env, ['down', '-v']);
    down = true;
    t.equal(
      removed.code,
      0,
      `podman-compose down -v${removed.code === 0 ? '' : `\n${removed.stderr}`}`,
    );
    const left = await podman([
      'ps',
      '-a',
      '--filter',
      `label=io.podman.compose.project=${project}`,
      '--format',
      '{{.Names}}',
    ]);
    t.equal(left.stdout.trim(), '', 'down -v leaves no container');
    const volumes = await podman(['volume', 'ls', '--format', '{{.Name}}']);
    t.same(
      volumes.stdout.split('\n').filter((v) => v.startsWith(`${project}_`)),
      [],
      'down -v leaves no volume of the project',
    );
    const network = await podman(['network', 'exists', `${project}_default`]);
    // podman-compose 1.0.3 does not remove the project's network on `down` (later versions do):
    // reported here, removed in teardown.
    t.comment(
      `compose: the project network ${network.code === 0 ? 'was left behind by podman-compose 1.0.3 (removed by the test)' : 'was removed'}`,
    );
  },
);

// A hint when a test fails before the summary: the containers' own output.
t.teardown(async () => {
  for (const r of running.values()) {
    const logs = await logsOf(r.name);
    if (/"level":"(error|fatal)"/.test(logs)) t.comment(`${r.name} logged errors:\n${logs}`);
  }
});
