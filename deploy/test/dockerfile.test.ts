// The shared Dockerfile, checked statically (deploy/test/containers.test.ts builds and runs it with
// podman): every COPY source exists (and is not dropped by .dockerignore), every --from names an
// earlier stage, bases are pinned, the three services share every layer up to `pnpm build` (ARG
// SERVICE comes after it), registry credentials only ever arrive as build secrets, the image
// compiles the workspace and runs the compiled service with plain node (no tsx anywhere), and the
// final stage is small, non-root and health-checked (CMD-SHELL), for each SERVICE compose builds.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  copyInstructions,
  documentedPorts,
  isPinnedBase,
  lastInstruction,
  loadCompose,
  parseDockerfile,
  productionCommandProblems,
  REPO_ROOT,
  SERVICES,
} from '../src/index.js';

const DOCKERFILE = join(REPO_ROOT, 'deploy/docker/Dockerfile');
const text = readFileSync(DOCKERFILE, 'utf8');
const dockerfile = parseDockerfile(text);
const stages = dockerfile.stages;
const final = stages.at(-1)!;
const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

void t.test('stages and bases', async (t) => {
  const names = stages.map((s) => s.name);
  t.equal(new Set(names).size, names.length, 'stage names are unique');
  for (const [i, stage] of stages.entries()) {
    const earlier = stages.slice(0, i).map((s) => s.name);
    if (earlier.includes(stage.from)) continue; // built on an earlier stage
    t.ok(isPinnedBase(stage.image), `${stage.name}: base ${stage.image} is pinned`);
    t.match(stage.image, /^node:22\.\d+\.\d+-bookworm-slim$/, `${stage.name}: Node 22 slim`);
  }
  for (const [i, stage] of stages.entries()) {
    for (const c of copyInstructions(stage).filter((c) => c.from)) {
      t.ok(
        stages.slice(0, i).some((s) => s.name === c.from),
        `line ${c.line}: --from=${c.from} names an earlier stage`,
      );
    }
  }
  t.notMatch(text, /pnpm@\d/, 'pnpm version comes from package.json, not the Dockerfile');
  const packageManager = (
    JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { packageManager: string }
  ).packageManager;
  t.match(packageManager, /^pnpm@\d+\.\d+\.\d+$/, 'package.json pins pnpm');
  t.notMatch(text, /corepack (enable|install)/, 'not with corepack (its signature check fails)');
  const runs = stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'RUN'));
  t.ok(
    runs.some((i) => /npm install --global .*"pnpm@\$\(node -p .*packageManager/.test(i.rest)),
    'pnpm installed with npm at the packageManager version',
  );
  const order = [
    /pnpm install --frozen-lockfile/,
    /pnpm --filter @app\/db generate|prisma generate/,
    /^pnpm build$/,
    /deploy --prod --legacy (--prefer-offline )?\/prod\/app/,
  ].map((re) => runs.findIndex((i) => re.test(i.rest)));
  t.ok(
    order.every((i) => i >= 0),
    'install, generate, build and deploy --prod are all there',
  );
  t.same(
    [...order].sort((a, b) => a - b),
    order,
    'in that order: the client is compiled too',
  );
  t.notMatch(text, /--import=tsx|\btsx@|\/opt\/tsx/, 'no tsx in the image');
  const deps = copyInstructions(stages.find((s) => s.name === 'deps')!).flatMap((c) => c.sources);
  t.ok(deps.includes('.pnpmfile.cjs'), 'the install hook is there for the frozen-lockfile check');
});

void t.test('the services share the expensive layers; secrets never reach a layer', async (t) => {
  const build = stages.find((s) => s.name === 'build')!;
  const at = (re: RegExp) => build.instructions.findIndex((i) => re.test(`${i.keyword} ${i.rest}`));
  const argService = at(/^ARG SERVICE$/);
  t.ok(argService > at(/^RUN pnpm build$/), 'ARG SERVICE comes after pnpm build');
  t.ok(at(/^RUN pnpm install/) < argService, 'and after the install');
  for (const stage of stages.slice(0, stages.indexOf(build))) {
    t.notOk(
      stage.instructions.some((i) => /\$\{?SERVICE\b/.test(i.rest) || i.rest === 'SERVICE'),
      `${stage.name} does not depend on SERVICE`,
    );
  }
  const runs = stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'RUN'));
  const online = runs.filter((i) => /\bnpm install|pnpm fetch|pnpm .*deploy/.test(i.rest));
  t.ok(online.length >= 2, 'the steps that reach the registry are there');
  for (const i of online) {
    t.match(
      i.rest,
      /--mount=type=secret,id=ca,target=\/run\/secrets\/ca\.crt/,
      `line ${i.line}: CA secret`,
    );
    t.match(
      i.rest,
      /--mount=type=secret,id=npmrc,target=\/root\/\.npmrc/,
      `line ${i.line}: npmrc secret`,
    );
  }
  const all = stages.flatMap((s) => s.instructions);
  t.notOk(
    all.some(
      (i) => ['ENV', 'ARG'].includes(i.keyword) && /CA_CERTS|cafile|npmrc|_auth/i.test(i.rest),
    ),
    'no ENV or ARG carries a CA or npm credential (they would persist in the image)',
  );
  for (const stage of stages) {
    for (const c of copyInstructions(stage)) {
      t.notOk(
        c.sources.some((s) => /\.(crt|pem|key)$|(^|\/)npmrc$/.test(s)),
        `line ${c.line}: copies no certificate, key or user npmrc`,
      );
    }
  }
  const projectNpmrc = readFileSync(join(REPO_ROOT, '.npmrc'), 'utf8');
  t.notMatch(
    projectNpmrc,
    /_auth|token|cafile|password/i,
    'the copied project .npmrc holds no credential',
  );
});

void t.test('every COPY source exists in the build context and is not ignored', async (t) => {
  for (const stage of stages) {
    for (const c of copyInstructions(stage).filter((c) => !c.from)) {
      for (const source of c.sources) {
        t.ok(existsSync(join(REPO_ROOT, source)), `line ${c.line}: ${source} exists`);
        t.notOk(dockerignore.includes(source), `line ${c.line}: ${source} is not .dockerignored`);
      }
    }
  }
  for (const entry of ['**/node_modules', '.git', '.local', '**/.tap', '**/dist']) {
    t.ok(dockerignore.includes(entry), `.dockerignore drops ${entry}`);
  }
});

void t.test('each SERVICE build argument names a real service', async (t) => {
  const compose = loadCompose(join(REPO_ROOT, 'docker-compose.yml'));
  const built = new Set(
    Object.values(compose.services)
      .map((s) => s.build?.args?.SERVICE)
      .filter((s): s is string => s !== undefined),
  );
  t.same([...built].sort(), [...SERVICES].sort(), 'compose builds each service from it');
  const ports = documentedPorts().ports;
  for (const service of built) {
    // the guard in the build stage needs it, and the CMD's dist/server.js is compiled from it
    t.ok(existsSync(join(REPO_ROOT, 'services', service, 'src/server.ts')), `${service} server.ts`);
    t.ok(existsSync(join(REPO_ROOT, 'services', service, 'package.json')), `${service} package`);
    t.ok(ports.has(service), `${service} has a documented port`);
  }
});

void t.test('the final stage: production output only, non-root, health-checked', async (t) => {
  t.equal(final.from, '${NODE_IMAGE}', 'starts from a fresh Node image, not a build stage');
  const copies = copyInstructions(final);
  t.ok(copies.length > 0 && copies.every((c) => c.from === 'build'), 'copies only build output');
  t.same(copies.map((c) => c.sources).flat(), ['/prod/app'], 'the deployed service, nothing else');
  const user = lastInstruction(final, 'USER')?.rest;
  t.ok(user && !/^(root|0)(:|$)/.test(user), `runs as ${user}, not root`);
  const healthcheck = lastInstruction(final, 'HEALTHCHECK')?.rest ?? '';
  t.match(healthcheck, /\/health\/live/, 'HEALTHCHECK hits /health/live');
  t.match(healthcheck, /fetch\(/, "with node's fetch (no curl in slim images)");
  t.notMatch(
    healthcheck,
    /CMD\s*\[/,
    'shell form (CMD-SHELL): podman and podman-compose run it as written',
  );
  t.equal(lastInstruction(final, 'EXPOSE')?.rest, '${PORT}', 'EXPOSEs the service port');
  t.ok(
    final.instructions.some((i) => i.keyword === 'ARG' && i.rest === 'PORT'),
    'PORT is a build argument of the final stage',
  );
  const cmd = JSON.parse(lastInstruction(final, 'CMD')?.rest ?? '[]') as string[];
  t.same(cmd, ['node', 'dist/server.js'], 'runs the compiled service');
  t.same(productionCommandProblems(cmd), [], 'with plain node');
  t.notOk(
    final.instructions.some((i) => i.keyword === 'RUN' && /install|pnpm/.test(i.rest)),
    'installs nothing in the final stage',
  );
  for (const dir of ['packages', 'services']) {
    for (const name of readdirSync(join(REPO_ROOT, dir))) {
      const file = join(REPO_ROOT, dir, name, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { files?: string[] };
      // pnpm deploy copies `files` only: compiled output, never src/ or test/
      t.ok(pkg.files?.includes('dist'), `${dir}/${name} deploys dist/`);
      t.notOk(
        pkg.files?.some((f) => /^(src|test)\b/.test(f)),
        `${dir}/${name} deploys no src/ or test/`,
      );
    }
  }
});
