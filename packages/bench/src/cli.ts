// `pnpm bench [scenario...] [--smoke] [--reps N] [--duration S] [--out DIR]`: runs the scenarios
// one after another on this machine, writes results/latest.{json,md} and the plot, and exits 1 if
// any scenario failed (with its error), 2 on a usage error such as an unknown scenario name.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { serviceUrls } from '@app/testing';
import { PACKAGE_DIR } from './environment.js';
import { runScenarios, teardownActive, type Pinning, type Scenario } from './harness.js';
import { machineInfo } from './machine.js';
import { setupPinning } from './processes.js';
import { markdownTable, writeResults } from './report.js';
import { scenarios } from './scenarios/index.js';

const USAGE = `usage: pnpm bench [scenario...] [--smoke] [--reps N] [--duration S] [--out DIR]
  (no scenario)  run every scenario
  --smoke        1 repetition, ~1 s per measurement (CI, numbers only); results go to results/tmp/smoke/ (git-ignored)
  --reps N       repetitions per scenario (default 5)
  --duration S   seconds per measured run (default 5, smoke 1)
  --out DIR      where latest.json / latest.md / the plot are written (default results/)
scenarios: ${scenarios.map((s) => s.name).join(', ')}`;

class UsageError extends Error {}

function positiveNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`--${name} must be a positive number, got "${value}"`);
  return n;
}

function parseCli(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        smoke: { type: 'boolean', default: false },
        reps: { type: 'string' },
        duration: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const requested = positionals.flatMap((p) => p.split(',')).filter((p) => p !== '');
  const unknown = requested.filter((name) => !scenarios.some((s) => s.name === name));
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown scenario${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}. Valid scenarios: ${scenarios.map((s) => s.name).join(', ')}`,
    );
  }
  const selected: Scenario[] =
    requested.length === 0 ? [...scenarios] : scenarios.filter((s) => requested.includes(s.name));
  const smoke = values.smoke;
  const reps = positiveNumber('reps', values.reps);
  if (reps !== undefined && !Number.isInteger(reps))
    throw new UsageError(`--reps must be an integer, got "${values.reps}"`);
  return {
    help: values.help,
    selected,
    smoke,
    reps: reps ?? (smoke ? 1 : 5),
    durationS: positiveNumber('duration', values.duration) ?? (smoke ? 1 : 5),
    warmupS: smoke ? 0 : 2,
    outDir: values.out ?? join(PACKAGE_DIR, 'results', ...(smoke ? ['tmp', 'smoke'] : [])),
  };
}

async function main(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseCli(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const command = ['pnpm bench', ...argv].join(' ');
  // A smoke run measures nothing worth pinning for, and pinning every child of concurrent smoke
  // runs to one core only makes their start-up crawl on a busy machine.
  const pinning: Pinning = options.smoke
    ? {
        applied: false,
        serverCpus: null,
        loadCpus: null,
        reason: 'smoke run: numbers only, nothing pinned',
      }
    : await setupPinning();
  const urls = await serviceUrls();
  const machine = await machineInfo(urls);
  process.stderr.write(
    `bench: ${command}\nbench: pinning ${pinning.applied ? 'applied' : 'not applied'} (${pinning.reason})\n`,
  );
  const results = await runScenarios(options.selected, {
    smoke: options.smoke,
    reps: options.reps,
    durationS: options.durationS,
    warmupS: options.warmupS,
    pinning,
  });
  const merged = await writeResults({
    outDir: options.outDir,
    command,
    machine,
    pinning,
    results,
    order: scenarios.map((s) => s.name),
  });
  const ran = {
    ...merged,
    scenarios: merged.scenarios.filter((s) => results.some((r) => r.name === s.name)),
  };
  process.stdout.write(`${markdownTable(ran)}\nbench: results written to ${options.outDir}\n`);
  const failed = results.filter((r) => r.status === 'failed');
  for (const f of failed)
    process.stderr.write(`\nbench: scenario ${f.name} FAILED:\n${f.error ?? ''}\n`);
  return failed.length > 0 ? 1 : 0;
}

// Ctrl-C / SIGTERM: tear down what the running scenario made (bounded, so a stuck teardown cannot
// keep the process alive), then exit; the exit hook SIGKILLs any child still running.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, tearing down and stopping\n`);
    const timer = setTimeout(() => process.exit(130), 15_000);
    void teardownActive().finally(() => {
      clearTimeout(timer);
      process.exit(130);
    });
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
