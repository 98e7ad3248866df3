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

// One `pnpm bench --smoke` of every scenario, one after another as a user runs it: two runs at once
// made their services race each other for the cores at start-up. Numbers are all it checks.
void t.test('every scenario produces numbers in smoke mode', { timeout: 600_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const run = await bench(t, ['--smoke', '--out', out]);
  // A crash's cause can sit far above the tail (pg's errors carry the whole client): the lines
  // that name an error or a stack frame come first, then the tail.
  const causes = run.stderr
    .split('\n')
    .filter((line) => /Error|error:|^\s+at |^== /.test(line))
    .slice(-40)
    .map((line) => line.slice(0, 300));
  t.equal(
    run.code,
    0,
    `pnpm bench --smoke exit code\n${causes.join('\n')}\n...\n${run.stderr.slice(-2000)}`,
  );
  const results = JSON.parse(await readFile(join(out, 'latest.json'), 'utf8')) as BenchResults;
  t.same(
    results.scenarios.map((s) => s.name),
    scenarios.map((s) => s.name),
    'one entry per scenario',
  );
  t.match(await readFile(join(out, 'latest.md'), 'utf8'), '| scenario | metric | median |');
  for (const s of results.scenarios) {
    t.equal(s.status, 'ok', `${s.name}: ${s.error ?? ''}`);
    t.ok(s.metrics.length > 0, `${s.name} has metrics`);
    for (const m of s.metrics) {
      t.ok(Number.isFinite(m.median), `${s.name} / ${m.name} is a number (${m.median})`);
      if (!m.allowZero) t.not(m.median, 0, `${s.name} / ${m.name} is not zero`);
    }
  }
  t.match(await readFile(join(out, 'profile-read-throughput.svg'), 'utf8'), /^<svg/);
  t.match(run.stdout, '| profile-read |');
});
