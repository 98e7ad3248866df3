// `pnpm observability`: regenerates deploy/k8s/components/monitoring/prometheus-rule.yaml, the
// PrometheusRule of the Kubernetes overlays, from deploy/observability/alerts.yml (its spec.groups
// are the rule file's groups as written; kustomize cannot embed a file in a custom resource, so the
// copy is checked in), formatted by prettier with the repository's configuration. `pnpm
// observability --check` writes nothing and fails (exit 1, with a summary of the differences)
// when the checked-in file is missing or stale; deploy/test/kubernetes.test.ts fails then too.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { PROMETHEUS_RULE_FILE, prometheusRuleFromAlerts } from '../deploy/src/kubernetes.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = relative(ROOT, PROMETHEUS_RULE_FILE);

const options = (await prettier.resolveConfig(PROMETHEUS_RULE_FILE)) ?? {};
const generated = await prettier.format(prometheusRuleFromAlerts(), {
  ...options,
  filepath: PROMETHEUS_RULE_FILE,
});
const current = existsSync(PROMETHEUS_RULE_FILE)
  ? readFileSync(PROMETHEUS_RULE_FILE, 'utf8')
  : undefined;

/**
 * The lines that differ between the checked-in file and the generated one, as `-`/`+` pairs by
 * line number (the first ten), or undefined when they are equal.
 * @param {string | undefined} before
 * @param {string} after
 * @returns {string | undefined}
 */
function difference(before, after) {
  if (before === after) return undefined;
  if (before === undefined) return `${file} does not exist`;
  const a = before.split('\n');
  const b = after.split('\n');
  /** @type {string[]} */
  const lines = [];
  const SHOWN = 10;
  let count = 0;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === b[i]) continue;
    count++;
    if (count > SHOWN) continue;
    if (a[i] !== undefined) lines.push(`  ${i + 1} - ${a[i]}`);
    if (b[i] !== undefined) lines.push(`  ${i + 1} + ${b[i]}`);
  }
  const more = count > SHOWN ? `\n  ... and ${count - SHOWN} more` : '';
  return `${file} differs from the generated file on ${count} line(s):\n${lines.join('\n')}${more}`;
}

const stale = difference(current, generated);
if (process.argv.includes('--check')) {
  process.stdout.write(
    stale === undefined
      ? `observability: ${file} is up to date\n`
      : `${stale}\nobservability: FAILED (run \`pnpm observability\` to regenerate ${file})\n`,
  );
  process.exit(stale === undefined ? 0 : 1);
}

writeFileSync(PROMETHEUS_RULE_FILE, generated);
process.stdout.write(`observability: wrote ${file}${stale === undefined ? ' (unchanged)' : ''}\n`);
