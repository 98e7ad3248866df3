// CI's smoke run: `pnpm bench --smoke` runs every scenario for a second or two against real
// services and must produce numbers, finite and (unless zero is a legitimate outcome) non-zero.
// It asserts nothing about speed, so it never fails on a slow machine; timing lives in `pnpm bench`.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { BenchResults } from '../src/report.js';
import { scenarios } from '../src/scenarios/index.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

function bench(
  t: Test,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import=tsx', '--conditions=app-source', 'src/cli.ts', ...args],
      { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // A timed-out test must not leave the bench (and its services) running.
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

void t.test('an unknown scenario is a usage error that lists the valid ones', async (t) => {
  const { code, stderr } = await bench(t, ['profile-raed', '--smoke']);
  t.equal(code, 2);
  t.match(stderr, 'unknown scenario: profile-raed');
  for (const s of scenarios) t.match(stderr, s.name);
});

// Two groups run at once (each scenario is isolated: its own database, keys, streams and ports),
// which keeps the whole smoke run near a minute on two cores. Numbers are all it checks.
const groups = [
  ['profile-read', 'profile-stampede'],
  ['signup-to-event', 'signup-slow-smtp', 'notify-throughput', 'notify-backlog-memory'],
];

void t.test('every scenario produces numbers in smoke mode', { timeout: 170_000 }, async (t) => {
  t.same(
    groups.flat().sort(),
    scenarios.map((s) => s.name).sort(),
    'the groups cover every scenario',
  );
  const outs = await Promise.all(groups.map(() => mkdtemp(join(tmpdir(), 'bench-smoke-'))));
  t.teardown(() => Promise.all(outs.map((out) => rm(out, { recursive: true, force: true }))));
  const runs = await Promise.all(
    groups.map((group, i) => bench(t, [...group, '--smoke', '--out', outs[i] as string])),
  );
  const entries = [];
  for (const [i, run] of runs.entries()) {
    t.equal(
      run.code,
      0,
      `pnpm bench ${groups[i]?.join(' ')} --smoke exit code\n${run.stderr.slice(-4000)}`,
    );
    const results = JSON.parse(
      await readFile(join(outs[i] as string, 'latest.json'), 'utf8'),
    ) as BenchResults;
    t.same(
      results.scenarios.map((s) => s.name),
      groups[i],
      'one entry per scenario',
    );
    entries.push(...results.scenarios);
    t.match(
      await readFile(join(outs[i] as string, 'latest.md'), 'utf8'),
      '| scenario | metric | median |',
    );
  }
  for (const s of entries) {
    t.equal(s.status, 'ok', `${s.name}: ${s.error ?? ''}`);
    t.ok(s.metrics.length > 0, `${s.name} has metrics`);
    for (const m of s.metrics) {
      t.ok(Number.isFinite(m.median), `${s.name} / ${m.name} is a number (${m.median})`);
      if (!m.allowZero) t.not(m.median, 0, `${s.name} / ${m.name} is not zero`);
    }
  }
  t.match(await readFile(join(outs[0] as string, 'profile-read-throughput.svg'), 'utf8'), /^<svg/);
  t.match(runs[0]?.stdout, '| profile-read |');
});
