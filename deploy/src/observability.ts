// The observability files of deploy/observability as data: the alert rules (alerts.yml, also the
// groups of the Kubernetes PrometheusRule) and the PromQL they hold, parsed by Prometheus's own
// grammar (@prometheus-io/lezer-promql, the parser of Prometheus's UI) so that a check can list
// the metric names an expression reads and reject one that does not parse.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { parse } from 'yaml';
import { DEPLOY_DIR } from './paths.js';

export const OBSERVABILITY_DIR = join(DEPLOY_DIR, 'observability');
export const ALERTS_FILE = join(OBSERVABILITY_DIR, 'alerts.yml');

export interface AlertRule {
  group: string;
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RuleGroups {
  groups: Array<{ name: string; interval?: string; rules: Array<Record<string, unknown>> }>;
}

/** alerts.yml as Prometheus reads it (`groups:`). */
export function loadRuleGroups(file = ALERTS_FILE): RuleGroups {
  return parse(readFileSync(file, 'utf8')) as RuleGroups;
}

/** Every alerting rule of the file, flattened, with its group's name. */
export function alertRules(groups = loadRuleGroups()): AlertRule[] {
  return groups.groups.flatMap((g) =>
    g.rules.flatMap((r) =>
      typeof r.alert === 'string'
        ? [
            {
              group: g.name,
              alert: r.alert,
              expr: String(r.expr),
              ...(typeof r.for === 'string' ? { for: r.for } : {}),
              labels: (r.labels ?? {}) as Record<string, string>,
              annotations: (r.annotations ?? {}) as Record<string, string>,
            },
          ]
        : [],
    ),
  );
}

export interface ParsedQuery {
  /** The metric names the expression selects (vector and range selectors), sorted, unique. */
  metrics: string[];
  /** Where the grammar found no valid expression, with the text around it; empty when it parses. */
  errors: string[];
}

/** Parses a PromQL expression with Prometheus's grammar. */
export function parsePromql(expr: string): ParsedQuery {
  const metrics = new Set<string>();
  const errors: string[] = [];
  const cursor = parser.parse(expr).cursor();
  do {
    if (cursor.type.isError) {
      errors.push(
        `syntax error at ${cursor.from}: "${expr.slice(Math.max(0, cursor.from - 20), cursor.to + 20)}"`,
      );
    } else if (cursor.name === 'VectorSelector') {
      const selector = cursor.node;
      const identifier = selector.getChild('Identifier');
      if (identifier) metrics.add(expr.slice(identifier.from, identifier.to));
      // `{__name__="x"}` names a metric too.
      const named = /__name__\s*=\s*"([^"]+)"/.exec(expr.slice(selector.from, selector.to));
      if (named?.[1]) metrics.add(named[1]);
    }
  } while (cursor.next());
  return { metrics: [...metrics].sort(), errors };
}
