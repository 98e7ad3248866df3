// The README's test runner, in two tiers kept apart by the file list below: `pnpm test` runs the
// unit and integration tests (each file against the real local Postgres, Redis and NATS, two files
// at a time), `pnpm test:system` (`--system`) the tests that run the system itself or its services
// as child processes (bench smoke, reliability scenarios, the demo, crash and backpressure runs, the
// build), one file at a time since each of them loads both cores on its own. Every test file of the
// repository must belong to a tier, so a new one can never be silently skipped. Either way the run
// ends with one line `tests: N passed, N failed` for people and CI, and a non-zero exit on any
// failure. Other arguments go to tap; file paths among them run just those files, in whichever tier
// (`--list` prints each file's tier instead).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The tests that start the system or its services as processes: the system tier. */
const SYSTEM = [
  'packages/bench/test/**',
  'packages/reliability/test/**',
  'deploy/test/demo.test.ts',
  'deploy/test/gateway.test.ts',
  'deploy/test/build.test.ts',
  // Builds every service's image with podman and runs them as the manifests say.
  'deploy/test/containers.test.ts',
  'services/notification-service/test/crash.test.ts',
  'services/notification-service/test/backpressure.test.ts',
  'services/ops-console/test/browser*.test.ts',
  // A private Redis Cluster and Sentinel group each, the cache suites re-run against them.
  'services/profile-service/test/redis-modes.test.ts',
  'services/profile-service/test/redis-failover.test.ts',
];
/** Where unit and integration tests live; a test file anywhere else belongs to no tier. */
const DEFAULT = ['packages/*/test/**', 'services/*/test/**', 'deploy/test/**'];

const TIERS = {
  // Room for a file of several system-sized tests (a redrive of hundreds) on a loaded machine.
  default: { name: 'unit + integration', jobs: 2, timeoutS: 300 },
  // One file at a time, and time for a file that starts a dozen processes on a busy machine.
  system: { name: 'system', jobs: 1, timeoutS: 900 },
};

/**
 * `**` any path, `*` any name part; nothing else is special.
 * @param {string} glob
 */
function globRegExp(glob) {
  const body = glob
    .split('/')
    .map((part) =>
      part === '**' ? '.*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]*'),
    )
    .join('/');
  return new RegExp(`^${body.replaceAll('/.*', '(/.*)?')}$`);
}
/** @param {string[]} globs */
const matches = (globs) => {
  const res = globs.map(globRegExp);
  return (/** @type {string} */ file) => res.some((re) => re.test(file));
};
const isSystem = matches(SYSTEM);
const isDefault = matches(DEFAULT);

/**
 * Every `*.test.ts` of the repository (outside node_modules, dist and dot folders).
 * @returns {string[]}
 */
function testFiles(dir = ROOT) {
  /** @type {string[]} */
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) {
      continue;
    }
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testFiles(path));
    else if (entry.name.endsWith('.test.ts')) found.push(relative(ROOT, path).split(sep).join('/'));
  }
  return found.sort();
}

/** @type {(passed: number, failed: number) => void} */
const closing = (passed, failed) => {
  process.stdout.write(`\ntests: ${passed} passed, ${failed} failed\n`);
};

const argv = process.argv.slice(2);
const systemFlag = argv.includes('--system');
const tapArgs = argv.filter((a) => a !== '--system');
const named = tapArgs
  .filter((a) => !a.startsWith('-') && a.endsWith('.ts') && existsSync(join(ROOT, a)))
  .map((a) => relative(ROOT, join(ROOT, a)).split(sep).join('/'));

const all = testFiles();
const orphans = all.filter((f) => !isSystem(f) && !isDefault(f));
if (orphans.length > 0) {
  process.stderr.write(
    `test files in no tier (add them to scripts/test.mjs):\n${orphans.map((f) => `  ${f}`).join('\n')}\n`,
  );
  closing(0, orphans.length);
  process.exit(1);
}

if (tapArgs.includes('--list')) {
  // `node scripts/test.mjs --list`: which tier each test file is in, without running anything.
  for (const f of all) process.stdout.write(`${isSystem(f) ? 'system ' : 'default'}  ${f}\n`);
  process.exit(0);
}

const tier = systemFlag || named.some(isSystem) ? TIERS.system : TIERS.default;
const files =
  named.length > 0 ? [] : all.filter((f) => (tier === TIERS.system ? isSystem(f) : !isSystem(f)));
if (named.length === 0 && files.length === 0) {
  process.stderr.write(`no test files in the ${tier.name} tier\n`);
  closing(0, 1);
  process.exit(1);
}
process.stderr.write(
  `tests (${tier.name} tier): ${named.length || files.length} file(s), ${tier.jobs} at a time\n`,
);

// The workspace's tap, also when this script runs without pnpm (`node scripts/test.mjs <file>`).
const child = spawn(
  join(ROOT, 'node_modules', '.bin', 'tap'),
  ['--reporter=tap', `--jobs=${tier.jobs}`, `--timeout=${tier.timeoutS}`, ...tapArgs, ...files],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], shell: false },
);
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4000);
});
child.on('exit', (code, signal) => {
  // tap's closing summary: `# { total: 30, pass: 28, fail: 1, skip: 1 }`
  const summary = /^# \{ total: \d+(.*)\}\s*$/m.exec(tail)?.[1];
  const count = (/** @type {string} */ k) =>
    Number(new RegExp(`${k}: (\\d+)`).exec(summary ?? '')?.[1] ?? 0);
  const failed = code !== 0 || signal !== null;
  // No summary means tap itself failed: that is one failure, never a silent pass.
  if (summary === undefined) closing(0, failed ? 1 : 0);
  else closing(count('pass'), Math.max(count('fail'), failed && count('fail') === 0 ? 1 : 0));
  process.exit(code ?? 1);
});
