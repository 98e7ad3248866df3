// The README's two commands start from `node scripts/bootstrap.mjs`, on a machine with Node and
// npm but no pnpm. Here: a PATH that has node and npm and nothing else (no pnpm anywhere on it),
// npm's global prefix in a temp dir (npm_config_prefix) and the bootstrap's own pnpm prefix in
// another, so the machine's pnpm is never touched. `version` is the bootstrap's dry run: it
// installs the pinned pnpm and runs `pnpm --version`, without installing the workspace or
// running a command.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import t from 'tap';
import { REPO_ROOT } from '../src/index.js';

const pinned = /^pnpm@([^+]+)/.exec(
  (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { packageManager: string })
    .packageManager,
)![1]!;

/** The real file behind the first `name` on this process's PATH. */
function fromPath(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const file = join(dir, name);
    if (dir !== '' && existsSync(file)) return realpathSync(file);
  }
  throw new Error(`no ${name} on PATH`);
}

const root = mkdtempSync(join(tmpdir(), 'bootstrap-test-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
// node, npm and npx only: on this kind of machine pnpm sits beside them in /usr/bin.
const bin = join(root, 'bin');
mkdirSync(bin);
symlinkSync(process.execPath, join(bin, 'node'));
symlinkSync(fromPath('npm'), join(bin, 'npm'));
symlinkSync(fromPath('npx'), join(bin, 'npx'));
const npmGlobal = join(root, 'npm-global');
const pnpmPrefix = join(root, 'pnpm');

function bootstrap(
  args: string[],
  path = bin,
): Promise<{ code: number | null; out: string; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'bootstrap.mjs'), ...args], {
      cwd: REPO_ROOT,
      env: {
        PATH: path,
        HOME: process.env.HOME,
        npm_config_prefix: npmGlobal,
        BOOTSTRAP_PNPM_PREFIX: pnpmPrefix,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    // Bounded: npm downloads pnpm from the registry in the first run.
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, lines: out.trim().split('\n') });
    });
  });
}

void t.test('the PATH of the test has node and npm but no pnpm', async (t) => {
  const pnpm = spawnSync('pnpm', ['--version'], { env: { PATH: bin } });
  t.match(pnpm.error, { code: 'ENOENT' }, 'no pnpm');
  const npm = spawnSync('npm', ['--version'], { env: { PATH: bin }, encoding: 'utf8' });
  t.equal(npm.status, 0, `npm ${npm.stdout.trim()} runs`);
});

void t.test('without pnpm, it installs the pinned pnpm and runs it', async (t) => {
  const first = await bootstrap(['version']);
  t.equal(first.code, 0, 'exit 0', { output: first.out });
  t.match(first.out, `pnpm ${pinned} (packageManager): no pnpm on PATH; installing it into`);
  t.match(first.out, `pnpm ${pinned} installed: ${pnpmPrefix}/bin/pnpm`);
  t.equal(first.lines.at(-1), pinned, `pnpm --version ran: ${pinned}`);
  const installed = spawnSync(join(pnpmPrefix, 'bin', 'pnpm'), ['--version'], {
    env: { PATH: bin },
    encoding: 'utf8',
  });
  t.equal(installed.stdout.trim(), pinned, `${pnpmPrefix}/bin/pnpm is ${pinned}`);
  t.notOk(
    existsSync(join(npmGlobal, 'bin', 'pnpm')) ||
      (existsSync(join(npmGlobal, 'lib')) &&
        readdirSync(join(npmGlobal, 'lib', 'node_modules')).includes('pnpm')),
    "nothing went into npm's global prefix",
  );

  const again = await bootstrap(['version']);
  t.equal(again.code, 0, 'the next run: exit 0', { output: again.out });
  t.match(again.out, `pnpm ${pinned} (packageManager): ${pnpmPrefix}/bin/pnpm`);
  t.notMatch(again.out, /installing/, 'uses the one it installed, without installing again');
  t.equal(again.lines.at(-1), pinned);

  // A pnpm of another version first on PATH is passed over for the pinned one.
  const other = join(root, 'other-pnpm');
  mkdirSync(other);
  writeFileSync(join(other, 'pnpm'), '#!/bin/sh\necho 9.0.0\n');
  chmodSync(join(other, 'pnpm'), 0o755);
  const wrong = await bootstrap(['version'], `${other}${delimiter}${bin}`);
  t.equal(wrong.code, 0, 'with pnpm 9.0.0 on PATH: exit 0', { output: wrong.out });
  t.match(wrong.out, `PATH has pnpm 9.0.0 at ${join(other, 'pnpm')}, not ${pinned}`);
  t.equal(wrong.lines.at(-1), pinned, 'and runs the pinned one');
});

void t.test('an unknown command is refused with the usage', async (t) => {
  const r = await bootstrap(['no-such-command']);
  t.equal(r.code, 2);
  t.match(r.out, 'unknown command "no-such-command"');
  t.match(r.out, /usage: node scripts\/bootstrap\.mjs <start\|check\|version\|script>/);
  t.notMatch(r.out, /installing/, 'and nothing is installed for it');
});
