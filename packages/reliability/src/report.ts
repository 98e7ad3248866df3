// The run's results as JSON and as the Markdown table the README's "Reliability" section shows:
// one row per fault scenario with the figures the issue asks for, then the fuzzing, bad-message
// and security summaries, and the command that reproduces it.
import type { FuzzResult } from './fuzz.js';
import type { BadMessageResult } from './messages.js';
import type { ScenarioResult, Size } from './scenarios.js';
import type { Check } from './security.js';

export interface RunReport {
  size: Size;
  startedAt: string;
  durationMs: number;
  node: string;
  seed: number;
  scenarios: ScenarioResult[];
  fuzz: FuzzResult[];
  badMessages: { results: BadMessageResult[]; validEmailArrived: boolean };
  security: Check[];
}

export const COMMAND =
  'pnpm reliability  # RELIABILITY_SIZE=full (default for the command); ci for the reduced size';

export function scenarioTable(scenarios: ScenarioResult[]): string {
  const rows = [
    '| scenario | requests | 5xx (unexpected) | no answer (unexpected) | signups 201 | emails | dead letters | duplicates | lost | recovery | fault to next email | invariants |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const s of scenarios) {
    const exit = s.exit ? `; exit ${s.exit.code ?? s.exit.signal} in ${s.exit.ms} ms` : '';
    rows.push(
      `| ${s.name} | ${s.requests} | ${s.status5xx} (${s.unexpected5xx}) | ${s.unanswered} (${s.unexpectedUnanswered}) | ${s.signups} | ${s.emails} | ${s.deadLetters} | ${s.duplicates} | ${s.lost} | ${(s.recoveryMs / 1000).toFixed(1)} s | ${(s.faultToEmailMs / 1000).toFixed(1)} s | ${s.ok ? `hold${exit}` : `**violated**: ${s.violations.join('; ')}${exit}`} |`,
    );
  }
  return rows.join('\n');
}

export function renderMarkdown(r: RunReport): string {
  const fuzzCases = r.fuzz.reduce((n, f) => n + f.cases, 0);
  const fuzzFailures = r.fuzz.flatMap((f) => f.failures);
  const bad = r.badMessages.results;
  return [
    `# Reliability run (${r.size})`,
    '',
    `${r.startedAt}, ${(r.durationMs / 1000).toFixed(0)} s, Node ${r.node}, fuzz seed ${r.seed}. Reproduce: \`${COMMAND}\`.`,
    '',
    '## Fault scenarios (steady signup + profile-read load)',
    '',
    "Recovery: from the fault's removal to the welcome email of the first new signup. Fault to next email:",
    "from the fault's start to the first email of a signup made after it. The JetStream-cluster scenarios",
    'run on a system of their own with a 3-node cluster and R3 streams. "No answer" counts',
    'requests refused or reset by a service that was down (allowed only for that service, during the fault).',
    '',
    scenarioTable(r.scenarios),
    '',
    'What each scenario allows:',
    '',
    ...r.scenarios.map((s) => `- **${s.name}** (${s.fault}): ${s.allows}.`),
    '',
    `## Bad input: ${fuzzCases} fuzzed requests over ${r.fuzz.length} routes, ${fuzzFailures.length} failing kinds`,
    '',
    '| route | cases | answers | failing kinds |',
    '|---|---:|---|---|',
    ...r.fuzz.map(
      (f) =>
        `| ${f.route} | ${f.cases} | ${Object.entries(f.statuses)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')} | ${f.failures.map((x) => `${x.kind} x${x.count}`).join('; ') || 'none'} |`,
    ),
    '',
    ...fuzzFailures.flatMap((f) => [
      `- ${f.route}: **${f.kind}** (${f.count}), e.g. \`${f.example.slice(0, 240).replace(/`/g, "'")}\``,
    ]),
    '',
    `## Bad messages on USERS: ${bad.filter((b) => b.deadLettered).length}/${bad.length} dead-lettered, valid event after them emailed: ${r.badMessages.validEmailArrived ? 'yes' : 'NO'}`,
    '',
    ...bad.map(
      (b) =>
        `- ${b.name}: ${b.deadLettered ? `dead letter (${(b.reason ?? '').slice(0, 100)})` : '**no dead letter**'}`,
    ),
    '',
    `## Security: ${r.security.filter((c) => c.ok).length}/${r.security.length} checks pass`,
    '',
    ...r.security.map(
      (c) =>
        `- ${c.ok ? 'pass' : '**FAIL**'}: ${c.name}${c.ok ? '' : ` (${c.detail.slice(0, 200).replace(/\n/g, ' ')})`}`,
    ),
    '',
  ].join('\n');
}
