// The README's two commands on a machine with Node but no pnpm (or another pnpm):
//   node scripts/bootstrap.mjs start   # pnpm install --frozen-lockfile, then pnpm start
//   node scripts/bootstrap.mjs check   # pnpm install --frozen-lockfile, then each phase of pnpm check
// It uses the exact pnpm of package.json's `packageManager`: the one on PATH if it is that version,
// else one it installs with npm into a prefix inside the repository (.local/pnpm, gitignored;
// BOOTSTRAP_PNPM_PREFIX moves it), never touching the machine's global packages, needing no root,
// and leaving any other pnpm the user has alone. Corepack is not used: its signature check of
// the download fails on machines of this kind. `version` stops after finding or installing pnpm
// and prints its version (a dry run: no install, no command); any other word runs that pnpm
// script with the pinned pnpm. Every step prints one progress line (BOOTSTRAP_LOG_TAG names it).
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const tag = process.env.BOOTSTRAP_LOG_TAG || 'bootstrap';
/** @param {string} line */
const log = (line) => process.stdout.write(`[${tag}] ${line}\n`);
/** @param {string} line @returns {never} */
const fail = (line) => {
  process.stderr.write(`[${tag}] ${line}\n`);
  process.exit(1);
};

/** @type {{ packageManager?: string, engines?: { node?: string }, scripts?: Record<string, string> }} */
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const USAGE =
  'usage: node scripts/bootstrap.mjs <start|check|version|script> [args...]\n' +
  '  start    install the workspace, then pnpm start (the whole system; Ctrl-C stops it)\n' +
  "  check    install the workspace, then each phase of package.json's check script, timed\n" +
  '  version  only make sure the pinned pnpm is there, and print its version\n' +
  '  <script> any other package.json script, with the pinned pnpm';

/** `pnpm@10.34.8` or `pnpm@10.34.8+sha512.<hash>` -> `10.34.8`. */
function wantedPnpm() {
  const m = /^pnpm@(\d+\.\d+\.\d+[^+]*)(\+.*)?$/.exec(pkg.packageManager ?? '');
  if (!m?.[1]) fail(`package.json's packageManager is not pnpm@<version>: ${pkg.packageManager}`);
  return m[1];
}

/** Node as new as `engines.node` (a `>=X.Y[.Z]` range) asks, or a clear refusal. */
function checkNode() {
  const range = pkg.engines?.node ?? '';
  const m = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range);
  const have = process.versions.node.split('.').map(Number);
  if (!m) return log(`node ${process.version}`);
  const want = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
  for (let i = 0; i < 3; i++) {
    if ((have[i] ?? 0) > (want[i] ?? 0)) break;
    if ((have[i] ?? 0) < (want[i] ?? 0)) {
      fail(`node ${process.version} is too old: package.json's engines wants node ${range}`);
    }
  }
  log(`node ${process.version} (package.json wants ${range})`);
}

/** @param {string} file */
function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `name` on PATH, or undefined. @param {string} name */
function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** What `<pnpm> --version` says, or undefined when it does not run (a broken corepack shim). */
function versionOf(/** @type {string} */ pnpm) {
  const r = spawnSync(pnpm, ['--version'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: '0' },
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The pinned pnpm: on PATH at that version, in the local prefix, or installed there now. */
function ensurePnpm(/** @type {string} */ wanted) {
  const prefix = process.env.BOOTSTRAP_PNPM_PREFIX || join(ROOT, '.local', 'pnpm');
  const local = join(prefix, 'bin', 'pnpm');
  const shown = (/** @type {string} */ p) => (p.startsWith(ROOT) ? relative(ROOT, p) : p);

  const fromPath = onPath('pnpm');
  const pathVersion = fromPath && versionOf(fromPath);
  if (fromPath && pathVersion === wanted) {
    log(`pnpm ${wanted} (packageManager): ${fromPath}`);
    return fromPath;
  }
  if (fromPath)
    log(`PATH has pnpm ${pathVersion ?? '(not runnable)'} at ${fromPath}, not ${wanted}`);
  if (executable(local) && versionOf(local) === wanted) {
    log(`pnpm ${wanted} (packageManager): ${shown(local)}`);
    return local;
  }
  const why = fromPath ? `not on PATH at that version` : 'no pnpm on PATH';
  const npm = onPath('npm') ?? join(dirname(process.execPath), 'npm');
  if (!executable(npm)) fail(`pnpm ${wanted} is needed (${why}) and there is no npm to install it`);
  const args = ['install', '--global', '--prefix', prefix, '--no-fund', '--no-audit'];
  // --prefer-offline: a pnpm already in npm's cache is not fetched again.
  args.push('--prefer-offline', '--loglevel=error', `pnpm@${wanted}`);
  log(`pnpm ${wanted} (packageManager): ${why}; installing it into ${shown(prefix)}`);
  log(`  npm ${args.join(' ')}`);
  const r = spawnSync(npm, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) fail(`npm could not install pnpm@${wanted} (exit ${r.status ?? r.signal})`);
  const installed = executable(local) ? versionOf(local) : undefined;
  if (installed !== wanted) {
    fail(`after npm install, ${local} reports ${installed ?? 'nothing'}, not ${wanted}`);
  }
  log(`pnpm ${wanted} installed: ${shown(local)}`);
  log(`  to type pnpm yourself: export PATH="${dirname(local)}${delimiter}$PATH"`);
  return local;
}

/**
 * Runs `command` (inheriting the terminal) and resolves with its exit code. Ctrl-C reaches the
 * child from the terminal anyway; a signal sent to this process alone is passed on, and this
 * process waits for the child (pnpm start stops the services, then exits) instead of dying first.
 * @param {string} command @param {string[]} args @param {NodeJS.ProcessEnv} env @param {boolean} [shell]
 * @returns {Promise<number>}
 */
function run(command, args, env, shell = false) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: 'inherit', shell });
    /** @param {NodeJS.Signals} signal */
    const pass = (signal) => child.kill(signal);
    process.on('SIGINT', pass);
    process.on('SIGTERM', pass);
    child.once('error', (err) => {
      process.stderr.write(`[${tag}] could not run ${command}: ${err.message}\n`);
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      process.off('SIGINT', pass);
      process.off('SIGTERM', pass);
      resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 130 : 1));
    });
  });
}

/** Runs `label` and prints how long it took, also when it fails. @returns {Promise<number>} */
async function phase(/** @type {string} */ label, /** @type {() => Promise<number>} */ body) {
  const started = Date.now();
  log(label);
  const code = await body();
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`${label}: ${seconds}s${code === 0 ? '' : `, FAILED (exit ${code})`}`);
  return code;
}

async function main() {
  const [mode, ...rest] = process.argv.slice(2);
  if (!mode || mode === '--help' || mode === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return mode ? 0 : 2;
  }
  const scripts = pkg.scripts ?? {};
  if (!['version', 'start', 'check'].includes(mode) && !(mode in scripts)) {
    process.stderr.write(`unknown command "${mode}"\n${USAGE}\n`);
    return 2;
  }
  const started = Date.now();
  checkNode();
  const pnpm = ensurePnpm(wantedPnpm());
  // Scripts call pnpm again (`pnpm check` runs `pnpm typecheck`): the same pnpm, first on PATH.
  const env = {
    ...process.env,
    PATH: `${dirname(pnpm)}${delimiter}${process.env.PATH ?? ''}`,
  };
  if (mode === 'version') return run(pnpm, ['--version'], env);

  const install = ['install', '--frozen-lockfile'];
  if (!process.stdout.isTTY) install.push('--reporter=append-only');
  if (mode === 'start' || mode === 'check' || !existsSync(join(ROOT, 'node_modules'))) {
    const code = await phase(`pnpm ${install.join(' ')}`, () => run(pnpm, install, env));
    if (code !== 0) return code;
  }

  if (mode === 'check') {
    // One phase at a time as package.json's check lists them: one definition, timed per phase.
    const steps = (scripts.check ?? '').split(/\s*&&\s*/).filter((s) => s !== '');
    if (steps.length === 0) fail('package.json has no check script');
    for (const step of steps) {
      const code = await phase(step, () => run(step, [], env, true));
      if (code !== 0) return code;
    }
    log(`all phases passed in ${Math.round((Date.now() - started) / 1000)}s`);
    return 0;
  }
  log(`pnpm ${[mode, ...rest].join(' ')}`);
  return run(pnpm, [mode, ...rest], env);
}

main().then(
  (code) => process.exit(code),
  (/** @type {unknown} */ err) => fail(err instanceof Error ? err.message : String(err)),
);
