// Holds the Grafana dashboards of deploy/observability/dashboards to what makes them importable and
// true: valid dashboard JSON (uid, title, schemaVersion, tags) with unique uids and panel ids, the
// `datasource` and `instance` variables, every panel on the `${datasource}` variable with a place
// on the grid and a query, and every query real PromQL once Grafana's variables are replaced, using
// only the variables an instant query can stand in for, and reading only metrics the services
// register (their sources and prom-client's defaults) on series of the service the dashboard is
// about. Typos in a metric name, a label of another service and unknown variables are shown to fail.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  dashboardPanels,
  dashboardQueries,
  DASHBOARDS_DIR,
  evaluableQuery,
  loadDashboards,
  parsePromql,
  QUERY_VARIABLES,
  REPO_ROOT,
  serviceMetrics,
  seriesNames,
  variablePromql,
  variableReferences,
  vectorSelectors,
  type DashboardQuery,
  type Panel,
} from '../src/index.js';

/** The services with a dashboard of their own (`<service>.json`); the pipeline spans them all. */
const SERVICES = ['signup-service', 'profile-service', 'notification-service'] as const;
const PIPELINE = 'signup-pipeline.json';
const TAG = 'jetstream-fastify';
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** Grafana unit ids the dashboards use; a misspelt one shows raw numbers. */
const UNITS = new Set(['reqps', 'ops', 's', 'percentunit', 'short', 'bytes']);
/** The only form `$instance` may take: a regex matcher, since the variable is multi-valued. */
const INSTANCE_MATCHER = 'instance=~"$instance"';

const dashboards = loadDashboards();
const queries = dashboardQueries(dashboards);
const series = new Map<string, Set<string>>(
  SERVICES.map((s) => [s, seriesNames(serviceMetrics(s))]),
);
/** Each service's TypeScript sources, where its route patterns are. */
const sources = new Map<string, string>(
  SERVICES.map((s) => {
    const src = join(REPO_ROOT, 'services', s, 'src');
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.ts'),
    );
    return [s, files.map((f) => readFileSync(join(src, f), 'utf8')).join('\n')];
  }),
);

const serviceOf = (file: string) => SERVICES.find((s) => file === `${s}.json`);

/**
 * What is wrong with one query: a variable other than QUERY_VARIABLES (or another form of one), an
 * `$instance` not used as `instance=~"$instance"`, PromQL that does not parse once substituted, a
 * selector without a metric name, a metric the service does not register, a selector not filtered
 * on `service` (the dashboard's own service, or on the pipeline one that registers the metric) and
 * `$instance`, and a `route` that the service defines nowhere.
 */
function queryProblems(
  q: Pick<DashboardQuery, 'expr' | 'evaluable'>,
  file: string,
  variable = false,
): string[] {
  const problems: string[] = [];
  for (const ref of variableReferences(q.expr)) {
    if (!(ref in QUERY_VARIABLES)) problems.push(`variable ${ref} is not one of the allowed`);
  }
  if (q.expr.split(INSTANCE_MATCHER).join('').includes('$instance')) {
    problems.push(`$instance used other than as ${INSTANCE_MATCHER}`);
  }
  const { errors } = parsePromql(q.evaluable);
  problems.push(...errors);
  if (errors.length > 0) return problems;
  const own = serviceOf(file);
  // The selectors as written, with only the range variables replaced: `$instance` stays the value
  // of its matcher, so a literal `instance=~".+"` is told apart from the variable.
  const written = variablePromql(q.expr).replace(/\$__\w+/g, (v) => QUERY_VARIABLES[v] ?? v);
  const selectors = vectorSelectors(written);
  if (selectors.length === 0) problems.push('no selector');
  for (const { metric, matchers } of selectors) {
    if (metric === undefined) {
      problems.push('a selector without a metric name');
      continue;
    }
    const service = matchers.filter((m) => m.label === 'service');
    const named =
      service.length === 1 && service[0]!.op === '='
        ? [service[0]!.value]
        : service.length === 1 && service[0]!.op === '=~'
          ? service[0]!.value.split('|')
          : [];
    if (named.length === 0) problems.push(`${metric}: no single service="..." matcher`);
    if (own !== undefined && (named.length !== 1 || named[0] !== own)) {
      problems.push(`${metric}: filters service=${service.map((m) => m.value).join()}, not ${own}`);
    }
    for (const s of named) {
      const known = series.get(s);
      if (!known) problems.push(`${metric}: service "${s}" has no dashboard metrics`);
      else if (!known.has(metric)) problems.push(`${metric}: not a metric ${s} registers`);
    }
    // A template variable lists the instances; everything else shows the ones it selects.
    const instance = matchers.filter((m) => m.label === 'instance');
    const byInstance =
      instance.length === 1 && instance[0]!.op === '=~' && instance[0]!.value === '$instance';
    if (!variable && !byInstance) problems.push(`${metric}: not filtered by ${INSTANCE_MATCHER}`);
    for (const route of matchers.filter((m) => m.label === 'route')) {
      const defined = named.some((s) => sources.get(s)?.includes(`'${route.value}'`));
      if (route.op !== '=' || !defined)
        problems.push(`route "${route.value}" is no route of ${named.join()}`);
    }
  }
  return problems;
}

void t.test('the four dashboards, each valid dashboard JSON', async (t) => {
  t.same(
    dashboards.map((d) => d.file),
    [...SERVICES.map((s) => `${s}.json`), PIPELINE].sort(),
    `the files of ${DASHBOARDS_DIR}`,
  );
  for (const { file, json } of dashboards) {
    t.match(json.uid, /^[a-zA-Z0-9_-]{1,40}$/, `${file}: uid`);
    t.ok((json.title ?? '').length > 0, `${file}: title`);
    t.equal(json.schemaVersion, 39, `${file}: schemaVersion`);
    t.ok(json.tags?.includes(TAG), `${file}: tagged ${TAG}`);
  }
  const uids = dashboards.map((d) => d.json.uid);
  t.equal(new Set(uids).size, uids.length, `uids are unique: ${uids.join(', ')}`);
  const titles = dashboards.map((d) => d.json.title);
  t.equal(new Set(titles).size, titles.length, 'titles are unique');
});

void t.test('every dashboard has the datasource and instance variables', async (t) => {
  for (const { file, json } of dashboards) {
    const variables = json.templating?.list ?? [];
    const datasource = variables.find((v) => v.name === 'datasource');
    t.match(datasource, { type: 'datasource', query: 'prometheus' }, `${file}: $datasource`);
    const instance = variables.find((v) => v.name === 'instance');
    t.match(
      instance,
      { type: 'query', multi: true, includeAll: true, allValue: '.+', datasource: DATASOURCE },
      `${file}: $instance`,
    );
    const own = serviceOf(file);
    const query = queries.find((q) => q.dashboard === file && q.panel === 'variable $instance');
    const services = own ?? SERVICES.join('|');
    t.equal(
      query?.expr,
      `label_values(service_ready{service${own ? '=' : '=~'}"${services}"}, instance)`,
      `${file}: $instance lists the instances of ${services}`,
    );
    t.equal(query?.evaluable, `service_ready{service${own ? '=' : '=~'}"${services}"}`);
  }
});

void t.test('every panel: unique id, on the grid, the datasource variable, queries', async (t) => {
  for (const { file, json } of dashboards) {
    const panels = dashboardPanels(json);
    const ids = panels.map((p) => p.id);
    t.ok(
      ids.every((id) => Number.isInteger(id)),
      `${file}: every panel has an id`,
    );
    t.equal(new Set(ids).size, ids.length, `${file}: panel ids are unique`);
    const cells = new Map<string, Panel>();
    for (const p of panels) {
      const where = `${file}, panel ${p.id} "${p.title}"`;
      const g = p.gridPos;
      t.ok(
        g && [g.h, g.w, g.x, g.y].every((n) => Number.isInteger(n) && n >= 0) && g.x + g.w <= 24,
        `${where}: gridPos within the 24 columns`,
      );
      if (g) {
        for (let x = g.x; x < g.x + g.w; x++) {
          for (let y = g.y; y < g.y + g.h; y++) {
            const other = cells.get(`${x},${y}`);
            if (other) t.fail(`${where}: overlaps panel ${other.id} "${other.title}"`);
            cells.set(`${x},${y}`, p);
          }
        }
      }
      if (p.type === 'row') continue;
      t.match(p.type, /^(timeseries|stat)$/, `${where}: a time series or stat panel`);
      t.same(p.datasource, DATASOURCE, `${where}: datasource is \${datasource}`);
      t.ok(UNITS.has(p.fieldConfig?.defaults?.unit ?? ''), `${where}: a unit`);
      const targets = p.targets ?? [];
      t.ok(targets.length > 0, `${where}: at least one target`);
      const refIds = targets.map((x) => x.refId);
      t.equal(new Set(refIds).size, refIds.length, `${where}: refIds are unique`);
      for (const target of targets) {
        t.match(target.refId, /^[A-Z]$/, `${where}: refId`);
        t.ok((target.expr ?? '').length > 0, `${where} ${target.refId}: expr`);
        if (target.datasource) t.same(target.datasource, DATASOURCE, `${where}: target datasource`);
      }
    }
  }
});

void t.test('every query is PromQL on metrics the service registers', async (t) => {
  t.ok(queries.length >= 60, `${queries.length} queries`);
  for (const q of queries) {
    t.same(
      queryProblems(q, q.dashboard, q.panel.startsWith('variable ')),
      [],
      `${q.dashboard}, "${q.panel}" ${q.refId}: ${q.expr}`,
    );
  }
});

void t.test('the metric set comes from the sources and prom-client', async (t) => {
  const signup = series.get('signup-service')!;
  for (const name of [
    'http_request_duration_seconds_bucket',
    'service_ready',
    'outbox_backlog_events',
    'process_cpu_seconds_total',
    'nodejs_eventloop_lag_p99_seconds',
  ]) {
    t.ok(signup.has(name), `signup-service: ${name}`);
  }
  t.notOk(signup.has('profile_cache_hits_total'), "signup-service: not profile-service's metrics");
  t.notOk(signup.has('outbox_backlog_events_bucket'), 'no histogram suffix on a gauge');
  // Metrics named through a helper (`gauge('...')`), not `name: '...'`.
  t.ok(series.get('profile-service')!.has('jetstream_consumer_pending_messages'));
  t.ok(series.get('notification-service')!.has('notify_consumer_ack_pending'));
});

void t.test('the checks fail on a typo', async (t) => {
  const check = (file: string, expr: string) =>
    queryProblems({ expr, evaluable: evaluableQuery(expr) }, file);
  const good = 'max(outbox_backlog_events{service="signup-service",instance=~"$instance"})';
  t.same(check('signup-service.json', good), [], 'the unchanged query passes');
  const bad: Record<string, [string, string]> = {
    'a misspelt metric': ['signup-service.json', good.replace('events', 'event')],
    "another service's metric": [
      'signup-service.json',
      'sum(rate(profile_db_reads_total{service="signup-service",instance=~"$instance"}[$__rate_interval]))',
    ],
    'another service': ['signup-service.json', good.replace('signup-service"', 'profile-service"')],
    'no service filter': ['signup-pipeline.json', good.replace('service="signup-service",', '')],
    'no instance filter': ['signup-service.json', good.replace(',instance=~"$instance"', '')],
    'a fixed instance filter': ['signup-service.json', good.replace('"$instance"', '".+"')],
    'an unknown variable': ['signup-service.json', good.replace('$instance', '$node')],
    'a braced variable': ['signup-service.json', good.replace('$instance', '${instance}')],
    'invalid PromQL': ['signup-service.json', good.replace('max(', 'max((')],
    'an unknown route': [
      'signup-service.json',
      'sum(rate(http_request_duration_seconds_count{service="signup-service",instance=~"$instance",route="/v1/signups"}[$__rate_interval]))',
    ],
  };
  for (const [what, [file, expr]] of Object.entries(bad)) {
    t.not(check(file, expr).length, 0, `${what} fails: ${check(file, expr).join('; ')}`);
  }
});
