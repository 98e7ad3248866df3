// The Grafana dashboards of deploy/observability/dashboards as data: every PromQL query they hold
// (panel targets and template-variable queries) with Grafana's variables replaced so that a real
// Prometheus can evaluate it as an instant query, the vector selectors of a query with their label
// matchers, and the metrics each service really registers, read from its sources (and those of the
// workspace packages it depends on) and from the prom-client it runs, so that a check can reject a
// query that reads a metric no service exports or another service's series.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { OBSERVABILITY_DIR } from './observability.js';
import { REPO_ROOT } from './paths.js';

export const DASHBOARDS_DIR = join(OBSERVABILITY_DIR, 'dashboards');

/** The part of Grafana's dashboard JSON model (schemaVersion 39) these checks read. */
export interface DataSourceRef {
  type?: string;
  uid?: string;
}

export interface Target {
  refId?: string;
  expr?: string;
  datasource?: DataSourceRef;
  legendFormat?: string;
}

export interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: DataSourceRef;
  gridPos?: { h: number; w: number; x: number; y: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
  /** A row's panels (a collapsed row keeps them here, an open one leaves them at the top level). */
  panels?: Panel[];
}

export interface TemplateVariable {
  name: string;
  type: string;
  /** A query variable's query: the string of older dashboards or the object Grafana 10+ saves. */
  query?: string | { query?: string; refId?: string };
  datasource?: DataSourceRef;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}

export interface Dashboard {
  uid?: string;
  title?: string;
  tags?: string[];
  schemaVersion?: number;
  templating?: { list?: TemplateVariable[] };
  panels?: Panel[];
}

/** Every dashboard file of the folder, by file name (`signup-service.json`), sorted. */
export function loadDashboards(dir = DASHBOARDS_DIR): Array<{ file: string; json: Dashboard }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({
      file,
      json: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Dashboard,
    }));
}

/** Every panel of a dashboard, rows included, with the panels of collapsed rows. */
export function dashboardPanels(dashboard: Dashboard): Panel[] {
  return (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

/**
 * The Grafana variables a query may use and what they become in an instant query: the step-sized
 * windows a short scrape interval gives, and the `All` value of `$instance` (its `allValue`).
 */
export const QUERY_VARIABLES: Readonly<Record<string, string>> = {
  $__rate_interval: '1m',
  $__interval: '15s',
  $__range: '5m',
  $instance: '.+',
};

/** Every variable reference of a query, in any of Grafana's forms (`$x`, `${x}`, `${x:fmt}`, `[[x]]`). */
export function variableReferences(expr: string): string[] {
  return [...expr.matchAll(/\$\{[^}]*\}|\[\[[^\]]*\]\]|\$\w+/g)].map((m) => m[0]);
}

/** The query with every variable of QUERY_VARIABLES replaced; other references are left as they are. */
export function evaluableQuery(expr: string): string {
  return expr.replace(/\$\w+/g, (name) => QUERY_VARIABLES[name] ?? name);
}

/**
 * The PromQL behind a template variable's query: `label_values(selector, label)` and
 * `query_result(expr)` are Grafana's, not Prometheus's, so their selector or expression is what a
 * Prometheus evaluates; any other query is returned as it is.
 */
export function variablePromql(query: string): string {
  const call = /^\s*(label_values|query_result)\(([\s\S]*)\)\s*$/.exec(query);
  if (!call) return query;
  if (call[1] === 'query_result') return call[2]!.trim();
  const labelValues = /^([\s\S]+),\s*[a-zA-Z_]\w*\s*$/.exec(call[2]!);
  return (labelValues?.[1] ?? call[2]!).trim();
}

export interface DashboardQuery {
  /** The dashboard's file name. */
  dashboard: string;
  /** The panel's title, or `variable $name` for a template variable. */
  panel: string;
  refId: string;
  /** The query as the dashboard holds it. */
  expr: string;
  /** The PromQL a Prometheus can evaluate as an instant query (QUERY_VARIABLES substituted). */
  evaluable: string;
}

/** Every query of every dashboard: each panel target and each query variable. */
export function dashboardQueries(dashboards = loadDashboards()): DashboardQuery[] {
  return dashboards.flatMap(({ file, json }) => [
    ...(json.templating?.list ?? []).flatMap((v) => {
      const query = typeof v.query === 'string' ? v.query : v.query?.query;
      if (v.type !== 'query' || query === undefined) return [];
      const refId = typeof v.query === 'object' ? (v.query.refId ?? v.name) : v.name;
      return [
        {
          dashboard: file,
          panel: `variable $${v.name}`,
          refId,
          expr: query,
          evaluable: evaluableQuery(variablePromql(query)),
        },
      ];
    }),
    ...dashboardPanels(json).flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        dashboard: file,
        panel: p.title ?? `panel ${p.id}`,
        refId: t.refId ?? '',
        expr: t.expr ?? '',
        evaluable: evaluableQuery(t.expr ?? ''),
      })),
    ),
  ]);
}

export interface LabelMatcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface VectorSelector {
  /** The metric name, when the selector names one (`name{...}` or `{__name__="name"}`). */
  metric?: string;
  matchers: LabelMatcher[];
}

/** A PromQL string literal's value (double-quoted ones may hold escapes; single and raw do not). */
function stringValue(literal: string): string {
  return literal.startsWith('"') ? (JSON.parse(literal) as string) : literal.slice(1, -1);
}

/** The vector selectors of a PromQL expression (parsed by Prometheus's grammar), in order. */
export function vectorSelectors(expr: string): VectorSelector[] {
  const text = (node: { from: number; to: number }) => expr.slice(node.from, node.to);
  const selectors: VectorSelector[] = [];
  const cursor = parser.parse(expr).cursor();
  do {
    if (cursor.name !== 'VectorSelector') continue;
    const identifier = cursor.node.getChild('Identifier');
    const matchers: LabelMatcher[] = [];
    for (const m of cursor.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ??
      []) {
      const [label, op, value] = [
        m.getChild('LabelName'),
        m.getChild('MatchOp'),
        m.getChild('StringLiteral'),
      ];
      if (label && op && value) {
        matchers.push({
          label: text(label),
          op: text(op) as LabelMatcher['op'],
          value: stringValue(text(value)),
        });
      }
    }
    const named = matchers.find((m) => m.label === '__name__' && m.op === '=')?.value;
    const metric = identifier ? text(identifier) : named;
    selectors.push({ ...(metric === undefined ? {} : { metric }), matchers });
  } while (cursor.next());
  return selectors;
}

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

const METRIC_CLASS = '(Counter|Gauge|Histogram|Summary)';
const METRIC_NAME = "'([a-zA-Z_:][a-zA-Z0-9_:]*)'";

/**
 * The metrics a TypeScript source registers with prom-client: `new Counter({ name: '...' })` (and
 * Gauge, Histogram, Summary), and the names passed to a local helper that builds one from its
 * `name` parameter (`const gauge = (name: string, ...) => new Gauge({ name, ... })`).
 */
export function registeredMetrics(source: string): Map<string, MetricType> {
  const found = new Map<string, MetricType>();
  if (!source.includes("from 'prom-client'")) return found;
  const typeOf = (cls: string) => cls.toLowerCase() as MetricType;
  const direct = new RegExp(
    `new ${METRIC_CLASS}\\b(?:<[^>]*>)?\\(\\s*\\{[^}]*?\\bname: ${METRIC_NAME}`,
    'g',
  );
  for (const [, cls, name] of source.matchAll(direct)) found.set(name!, typeOf(cls!));
  const helpers = new RegExp(
    `const (\\w+) = \\(name: string[^)]*\\)[^=]*=>\\s*new ${METRIC_CLASS}\\b(?:<[^>]*>)?\\(\\s*\\{\\s*name\\b`,
    'g',
  );
  for (const [, helper, cls] of source.matchAll(helpers)) {
    for (const [, name] of source.matchAll(new RegExp(`\\b${helper}\\(\\s*${METRIC_NAME}`, 'g'))) {
      found.set(name!, typeOf(cls!));
    }
  }
  return found;
}

/** The metrics prom-client's collectDefaultMetrics registers, as the copy `packageDir` uses has them. */
function defaultMetrics(packageDir: string): Map<string, MetricType> {
  interface PromClient {
    Registry: new () => { getMetricsAsArray(): Array<{ name: string; type: MetricType }> };
    collectDefaultMetrics(options: { register: unknown }): void;
  }
  const promClient = createRequire(join(packageDir, 'package.json'))('prom-client') as PromClient;
  const registry = new promClient.Registry();
  promClient.collectDefaultMetrics({ register: registry });
  return new Map(registry.getMetricsAsArray().map((m) => [m.name, m.type]));
}

interface WorkspacePackage {
  dir: string;
  dependencies: string[];
}

/** The workspace's packages and services by package name, with their runtime dependencies. */
function workspacePackages(): Map<string, WorkspacePackage> {
  const found = new Map<string, WorkspacePackage>();
  for (const group of ['packages', 'services']) {
    for (const name of readdirSync(join(REPO_ROOT, group))) {
      const dir = join(REPO_ROOT, group, name);
      const manifest = join(dir, 'package.json');
      if (!existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
        name: string;
        dependencies?: Record<string, string>;
      };
      found.set(pkg.name, { dir, dependencies: Object.keys(pkg.dependencies ?? {}) });
    }
  }
  return found;
}

function sourcesOf(dir: string): string[] {
  const src = join(dir, 'src');
  if (!existsSync(src)) return [];
  return readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => readFileSync(join(src, f), 'utf8'));
}

/**
 * The metrics a service's instances can export: those registered by its sources and by the
 * workspace packages it depends on (at runtime, transitively), and prom-client's default metrics
 * when one of them calls collectDefaultMetrics. Every series of them carries `service`.
 */
export function serviceMetrics(service: string): Map<string, MetricType> {
  const workspace = workspacePackages();
  const start = [...workspace].find(([, p]) => p.dir === join(REPO_ROOT, 'services', service));
  if (!start) throw new Error(`no workspace service at services/${service}`);
  const metrics = new Map<string, MetricType>();
  const seen = new Set<string>();
  const visit = (name: string) => {
    const pkg = workspace.get(name);
    if (!pkg || seen.has(name)) return;
    seen.add(name);
    for (const source of sourcesOf(pkg.dir)) {
      for (const [metric, type] of registeredMetrics(source)) metrics.set(metric, type);
      if (/\bcollectDefaultMetrics\(/.test(source)) {
        for (const [metric, type] of defaultMetrics(pkg.dir)) metrics.set(metric, type);
      }
    }
    pkg.dependencies.forEach(visit);
  };
  visit(start[0]);
  return metrics;
}

const SERIES_SUFFIXES: Record<MetricType, string[]> = {
  counter: [],
  gauge: [],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

/** The series names a query may select for these metrics (a histogram's `_bucket`, `_sum`, `_count`). */
export function seriesNames(metrics: Map<string, MetricType>): Set<string> {
  return new Set(
    [...metrics].flatMap(([name, type]) => [name, ...SERIES_SUFFIXES[type].map((s) => name + s)]),
  );
}
