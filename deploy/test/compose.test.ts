// docker-compose.yml, checked without Docker (there is no engine on this machine): every service
// gets what its config schema needs, every long-running container has a healthcheck, every
// dependency waits on a condition, the published ports are the README's, and every command runs
// compiled JavaScript with plain node.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  bindMounts,
  COMPOSE_CONFIG_HEADER,
  composeGatewayOptions,
  dependencies,
  documentedPorts,
  environmentOf,
  exportedByCommand,
  GATEWAY_COMPOSE_CONFIG,
  GATEWAY_PORT,
  isPinnedImage,
  lastInstruction,
  loadCompose,
  loadServiceEnvSchema,
  parseDockerfile,
  productionCommandProblems,
  publishedPorts,
  renderGatewayConfig,
  REPO_ROOT,
  schemaVariables,
  SERVICES,
  sourceOfImagePath,
  variablesToProvide,
} from '../src/index.js';

const compose = loadCompose(join(REPO_ROOT, 'docker-compose.yml'));
const { file: portsFile, ports } = documentedPorts();
const dockerfile = parseDockerfile(
  readFileSync(join(REPO_ROOT, 'deploy/docker/Dockerfile'), 'utf8'),
);
/** What a container without a `command` runs. */
const imageCmd = JSON.parse(
  lastInstruction(dockerfile.stages.at(-1)!, 'CMD')?.rest ?? '[]',
) as string[];
const ONE_SHOTS = ['keys', 'migrate', 'provision'];
const INFRASTRUCTURE = ['postgres', 'redis', 'nats', 'mailpit'];

void t.test('the expected services are there', async (t) => {
  t.same(
    Object.keys(compose.services).sort(),
    [...INFRASTRUCTURE, ...ONE_SHOTS, ...SERVICES, 'gateway'].sort(),
  );
});

for (const service of SERVICES) {
  void t.test(`${service}: environment, build and ports`, async (t) => {
    const s = compose.services[service]!;
    const schema = await loadServiceEnvSchema(service);
    const env = environmentOf(s);
    const provided = new Set([...env.keys(), ...exportedByCommand(s)]);
    for (const name of variablesToProvide(schema)) {
      t.ok(provided.has(name), `${name} is set`);
      t.not(env.get(name), '', `${name} is not empty`);
    }
    const known = new Set(schemaVariables(schema));
    for (const name of provided) t.ok(known.has(name), `${name} is a variable the service reads`);

    const port = ports.get(service);
    t.ok(port, `${portsFile} documents ${service}'s port`);
    t.equal(Number(env.get('PORT')), port, `PORT is the documented ${port}`);
    t.same(publishedPorts(s), [{ host: port, container: port }], `publishes ${port}:${port}`);
    t.equal(s.build?.args?.SERVICE, service, 'built from the shared Dockerfile for this service');
    t.equal(Number(s.build?.args?.PORT), port, 'with its port (EXPOSE)');
    t.ok(
      existsSync(join(REPO_ROOT, s.build?.context ?? '', s.build?.dockerfile ?? '')),
      'Dockerfile exists',
    );
    t.ok(existsSync(join(REPO_ROOT, 'services', service, 'src', 'server.ts')), 'server.ts exists');
    // PEM keys are read from the keys volume by a shell, which then execs the service
    const command = Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? '');
    const exec = /exec (node [^;&|]+)$/.exec(command)?.[1]?.trim().split(/\s+/);
    const argv = exec ?? (Array.isArray(s.command) ? s.command : imageCmd);
    t.same(argv, ['node', 'dist/server.js'], 'runs the compiled service');
    t.same(productionCommandProblems(argv), [], 'with plain node');
    t.match(s.image, new RegExp(`/${service}:`), 'image named after the service');

    for (const [name, url] of env) {
      if (!/_URL$/.test(name)) continue;
      for (const server of url.split(',')) {
        const { hostname: host, port: urlPort } = new URL(server.trim());
        t.ok(compose.services[host], `${name} points at the compose service "${host}"`);
        // the console reaches the other services: at their documented ports
        if ((SERVICES as readonly string[]).includes(host)) {
          t.equal(Number(urlPort), ports.get(host), `${name} uses ${host}'s documented port`);
        }
      }
    }
  });
}

void t.test('healthchecks and dependency conditions', async (t) => {
  for (const [name, s] of Object.entries(compose.services)) {
    const oneShot = ONE_SHOTS.includes(name);
    if (!oneShot) {
      t.ok(s.healthcheck?.test && !s.healthcheck.disable, `${name} has a healthcheck`);
    } else {
      t.same(s.ports ?? [], [], `${name} is a one-shot: publishes nothing`);
      t.ok(s.command, `${name} runs a command and exits`);
    }
    for (const [dep, condition] of dependencies(s)) {
      const target = compose.services[dep];
      t.ok(target, `${name} -> ${dep} exists`);
      if (ONE_SHOTS.includes(dep)) {
        t.equal(condition, 'service_completed_successfully', `${name} waits for ${dep} to finish`);
      } else {
        t.equal(condition, 'service_healthy', `${name} waits for ${dep} to be healthy`);
        t.ok(target?.healthcheck?.test, `${dep} has the healthcheck ${name} waits on`);
      }
    }
  }
  for (const service of SERVICES) {
    const deps = dependencies(compose.services[service]!);
    for (const needed of ['postgres', 'redis', 'nats', 'keys', 'migrate', 'provision']) {
      t.ok(deps.has(needed), `${service} starts after ${needed}`);
    }
  }
  t.ok(dependencies(compose.services['notification-service']!).has('mailpit'), 'mail first');
});

void t.test('images, NATS, one-shots and secrets', async (t) => {
  for (const [name, s] of Object.entries(compose.services)) {
    t.ok(s.image && isPinnedImage(s.image), `${name}: image ${s.image} is tagged, not latest`);
  }
  const nats = compose.services.nats!;
  const [major, minor] = (/:(\d+)\.(\d+)/.exec(nats.image ?? '') ?? []).slice(1).map(Number);
  t.ok(major! > 2 || (major === 2 && minor! >= 11), 'NATS 2.11 or newer');
  const args = nats.command as string[];
  t.ok(args.includes('-js'), 'JetStream enabled');
  const storeDir = args[args.indexOf('-sd') + 1];
  t.ok(
    (nats.volumes as string[]).some((v) => v.split(':')[1] === storeDir),
    `the store dir ${storeDir} is a volume`,
  );
  t.ok(args.includes('-m') || args.includes('--http_port'), 'monitoring port for the healthcheck');
  t.match(JSON.stringify(nats.healthcheck?.test), /8222\/healthz/);

  const mailpit = compose.services.mailpit!;
  t.same(
    publishedPorts(mailpit).map((p) => p.container),
    [1025, 8025],
    'Mailpit SMTP 1025 and UI 8025',
  );
  t.equal(
    environmentOf(compose.services['notification-service']!).get('SMTP_URL'),
    'smtp://mailpit:1025',
  );

  for (const [job, script] of [
    ['migrate', 'node_modules/@app/db/dist/cli/migrate.js'],
    ['provision', 'node_modules/@app/platform/dist/cli/provision.js'],
  ] as const) {
    const command = compose.services[job]!.command as string[];
    t.equal(command.at(-1), script, `${job} runs ${script}`);
    t.same(productionCommandProblems(command), [], `${job} runs compiled JavaScript with node`);
    const source = sourceOfImagePath(script, 'signup-service');
    t.ok(source && existsSync(source), `${script} is compiled from ${source}`);
  }
  t.ok(environmentOf(compose.services.migrate!).get('DATABASE_URL'), 'migrate has DATABASE_URL');
  t.ok(environmentOf(compose.services.provision!).get('NATS_URL'), 'provision has NATS_URL');

  // Defaults for secrets are acceptable only when they say they are for development.
  for (const [name, s] of Object.entries(compose.services)) {
    for (const [key, value] of environmentOf(s)) {
      if (/PASSWORD|TOKEN|SECRET|PRIVATE/.test(key)) {
        t.match(value, /dev-only/, `${name}: ${key} is a marked dev-only default`);
      }
      const password = /^[a-z]+:\/\/[^:/@]*:([^@]+)@/.exec(value)?.[1];
      if (password) t.match(password, /dev-only/, `${name}: ${key}'s password is dev-only`);
    }
  }
  t.ok(existsSync(join(REPO_ROOT, 'deploy/docker/.env.example')), 'the .env example exists');
});

void t.test('gateway: nginx with the rendered config, after the services', async (t) => {
  const gateway = compose.services.gateway!;
  t.match(gateway.image, /^nginx:1\.27/, 'the nginx image');
  const mount = bindMounts(gateway).find((m) => m.target === '/etc/nginx/nginx.conf');
  t.ok(mount, 'mounts a config as /etc/nginx/nginx.conf');
  t.ok(mount?.readOnly, 'read-only');
  const file = join(REPO_ROOT, mount?.source ?? '(none)');
  t.equal(file, GATEWAY_COMPOSE_CONFIG, 'the compose rendering of the template');
  const options = composeGatewayOptions({
    signup: ports.get('signup-service')!,
    profile: ports.get('profile-service')!,
    notification: ports.get('notification-service')!,
  });
  const expected = COMPOSE_CONFIG_HEADER + renderGatewayConfig(options);
  t.equal(
    existsSync(file) ? readFileSync(file, 'utf8') : '(missing)',
    expected,
    'it is the current template rendered for compose (else: pnpm gateway --write-compose)',
  );
  const fronted = Object.values(options.upstreams).map((address) => address.split(':')[0]!);
  for (const service of fronted) {
    t.ok((SERVICES as readonly string[]).includes(service), `${service} is one of the services`);
    t.match(
      expected,
      new RegExp(`server ${service}:${ports.get(service)};`),
      `proxies to the compose service ${service} on its documented port`,
    );
    t.equal(dependencies(gateway).get(service), 'service_healthy', `starts after ${service}`);
  }
  t.notMatch(expected, /ops-console/, "the operators' console is not on the public entry point");
  t.same(
    publishedPorts(gateway),
    [{ host: GATEWAY_PORT, container: GATEWAY_PORT }],
    `publishes ${GATEWAY_PORT}:${GATEWAY_PORT}`,
  );
  t.match(expected, new RegExp(`listen ${GATEWAY_PORT};`), `listens on ${GATEWAY_PORT}`);
  t.match(JSON.stringify(gateway.healthcheck?.test), new RegExp(`${GATEWAY_PORT}/healthz`));
});
