// `pnpm reliability`: the whole suite at full size (RELIABILITY_SIZE=ci for the reduced one): fault
// scenarios under load, HTTP fuzzing and bad bus messages, security checks, each on a fresh system.
// Writes results/latest.json and results/latest.md. The only module that reads the environment.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fuzzContext, fuzzRoutes } from './fuzz.js';
import { publishBadMessages } from './messages.js';
import { renderMarkdown, type RunReport } from './report.js';
import { runScenario, SCENARIOS, sizeParams, type Size } from './scenarios.js';
import { SECURITY_LIMITS, securityChecks, startSecuritySystem } from './security.js';
import { PACKAGE_DIR, startSystem } from './system.js';

const sizeArg = process.argv.find((a) => a.startsWith('--size='))?.slice(7);
const size = (sizeArg ?? process.env.RELIABILITY_SIZE ?? 'full') as Size;
const params = sizeParams(size);
const only = process.argv.filter((a) => !a.startsWith('--')).slice(2);
const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);
const log = (line: string) => process.stderr.write(`[reliability] ${line}\n`);
const started = Date.now();

const report: RunReport = {
  size: size === 'full' ? 'full' : 'ci',
  startedAt: new Date(started).toISOString(),
  durationMs: 0,
  node: process.version,
  seed,
  scenarios: [],
  fuzz: [],
  badMessages: { results: [], validEmailArrived: false },
  security: [],
};

log(`size ${size}, seed ${seed}`);
// One system for the single-broker scenarios, then one on a 3-node JetStream cluster for theirs.
for (const natsCluster of [false, true]) {
  const chosen = [...SCENARIOS.entries()].filter(
    ([, s]) =>
      (s.natsCluster ?? false) === natsCluster &&
      (!only.length || only.some((o) => s.name.includes(o))),
  );
  if (chosen.length === 0) continue;
  const faults = await startSystem({ natsCluster });
  try {
    for (const [i, scenario] of chosen) {
      report.scenarios.push(await runScenario(faults, scenario, i, { params, log }));
    }
  } finally {
    await faults.close();
  }
}

log('fuzzing');
const fuzz = await startSystem({ logLevel: 'warn' });
try {
  report.fuzz = await fuzzRoutes(fuzz, await fuzzContext(fuzz, 'fuzz-owner@reliability.example'), {
    runsPerRoute: params.fuzzRunsPerRoute,
    seed,
  });
  log('bad messages');
  report.badMessages = await publishBadMessages(fuzz, 60_000);
} finally {
  await fuzz.close();
}

log('security');
const secure = await startSecuritySystem();
try {
  report.security = await securityChecks(secure, SECURITY_LIMITS);
} finally {
  await secure.close();
}

report.durationMs = Date.now() - started;
const dir = join(PACKAGE_DIR, 'results');
await mkdir(dir, { recursive: true });
await writeFile(join(dir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
const md = renderMarkdown(report);
await writeFile(join(dir, 'latest.md'), md);
process.stdout.write(md);
const failed =
  report.scenarios.some((s) => !s.ok) ||
  report.fuzz.some((f) => f.failures.length > 0) ||
  report.security.some((c) => !c.ok) ||
  !report.badMessages.validEmailArrived ||
  report.badMessages.results.some((b) => !b.deadLettered);
process.exitCode = failed ? 1 : 0;
