// The alert rules as Prometheus's own tool holds them: `promtool check rules` accepts alerts.yml,
// `promtool test rules` passes alerts.test.yml, every alert has a case where it fires and one where
// it stays silent, its annotations name a runbook section that exists, and a changed threshold
// makes the unit tests fail (they test the rules, not themselves). promtool comes from Debian's
// `prometheus` package, which .ci/run installs; without it this test fails, it never skips.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { parse } from 'yaml';
import { ALERTS_FILE, alertRules, OBSERVABILITY_DIR, parsePromql } from '../src/index.js';

const run = promisify(execFile);
const TESTS_FILE = join(OBSERVABILITY_DIR, 'alerts.test.yml');
const RUNBOOK = join(OBSERVABILITY_DIR, 'README.md');
const rules = alertRules();

/** Runs promtool; resolves with its exit code and output (a failing check is a result, not a throw). */
async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('promtool not found: install Debian\'s "prometheus" package (.ci/run does)');
    }
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout}${e.stderr}` };
  }
}

void t.test('promtool accepts the rules file', async (t) => {
  const { code, output } = await promtool('check', 'rules', ALERTS_FILE);
  t.equal(code, 0, output);
  t.match(output, `SUCCESS: ${rules.length} rules found`);
});

void t.test('promtool test rules passes alerts.test.yml', async (t) => {
  const { code, output } = await promtool('test', 'rules', TESTS_FILE);
  t.equal(code, 0, output);
  t.match(output, 'SUCCESS');
});

void t.test('every alert has a firing case and a silent case', async (t) => {
  interface Case {
    alertname: string;
    exp_alerts?: unknown[];
  }
  const file = parse(readFileSync(TESTS_FILE, 'utf8')) as {
    tests: Array<{ alert_rule_test?: Case[] }>;
  };
  const cases = file.tests.flatMap((x) => x.alert_rule_test ?? []);
  for (const { alert } of rules) {
    const mine = cases.filter((c) => c.alertname === alert);
    t.ok(
      mine.some((c) => (c.exp_alerts ?? []).length > 0),
      `${alert}: a case where it fires`,
    );
    t.ok(
      mine.some((c) => (c.exp_alerts ?? []).length === 0),
      `${alert}: a case where it stays silent`,
    );
  }
  const known = new Set(rules.map((r) => r.alert));
  for (const c of cases)
    t.ok(known.has(c.alertname), `test case names a real alert: ${c.alertname}`);
});

void t.test('every alert says what is wrong and where the runbook is', async (t) => {
  const runbook = readFileSync(RUNBOOK, 'utf8');
  const anchors = new Set(
    [...runbook.matchAll(/^#{2,3} (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, '')
        .replace(/ /g, '-'),
    ),
  );
  t.ok(rules.length >= 10, `${rules.length} alerts`);
  t.equal(new Set(rules.map((r) => r.alert)).size, rules.length, 'alert names are unique');
  for (const r of rules) {
    t.match(r.labels.severity, /^(warning|critical)$/, `${r.alert}: severity`);
    t.ok((r.annotations.summary ?? '').length > 10, `${r.alert}: summary`);
    t.ok((r.annotations.description ?? '').length > 40, `${r.alert}: description`);
    const [path, anchor] = (r.annotations.runbook_url ?? '').split('#');
    t.equal(path, 'deploy/observability/README.md', `${r.alert}: runbook in the runbook file`);
    t.ok(anchors.has(anchor ?? ''), `${r.alert}: runbook section #${anchor} exists`);
    t.same(parsePromql(r.expr).errors, [], `${r.alert}: expression parses`);
  }
});

void t.test('a changed threshold fails the unit tests', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'alerts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(TESTS_FILE, join(dir, 'alerts.test.yml'));
  const original = readFileSync(ALERTS_FILE, 'utf8');
  const loosened = original.replace('> 0.1\n', '> 0.5\n');
  t.not(loosened, original, 'the email failure threshold was changed');
  writeFileSync(join(dir, 'alerts.yml'), loosened);
  const { code, output } = await promtool('test', 'rules', join(dir, 'alerts.test.yml'));
  t.not(code, 0, 'promtool test rules fails');
  t.match(output, 'alertname: WelcomeEmailFailureRate', 'on the alert whose threshold changed');
});
