// The benchmark harness: what a scenario is, the context it runs in (repetitions, alternation of
// baseline and subject, teardown of everything it started), and the runner that turns samples into
// median/min/max, ratios against the baseline and target verdicts. A scenario that throws or that
// leaves a declared metric without a finite number fails the run: a broken bench never reads as 0.
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { summarize } from './stats.js';

export type TargetOp = '>=' | '<=';

export interface Target {
  /** Metric name as declared by the scenario with ctx.metric(). */
  metric: string;
  op: TargetOp;
  value: number;
  unit: string;
  /** The goal in words, as the service issue states it. */
  text: string;
  /** Compare the metric's median (default) or its ratio to its baseline. */
  of?: 'value' | 'ratio';
}

export interface Scenario {
  name: string;
  description: string;
  target?: Target | Target[];
  run(ctx: ScenarioContext): Promise<void>;
}

export interface MetricSpec {
  unit: string;
  /** Name of the metric this one is compared with (the ratio column). */
  baseline?: string;
  /** Zero is a legitimate outcome (a growth, a count of failures); otherwise 0 fails the run. */
  allowZero?: boolean;
  /** How many decimals the table shows (default: 0 for values >= 100, else 2). */
  decimals?: number;
}

export interface Arm {
  name: string;
  /** One measured run; returns metric name -> value. */
  run(rep: number): Promise<Record<string, number>>;
}

export interface SeriesPoint {
  x: number;
  y: number;
}

export interface Pinning {
  /** Whether server processes and the load generator were pinned to different cores. */
  applied: boolean;
  serverCpus: string | null;
  loadCpus: string | null;
  reason: string;
}

export interface RunSettings {
  smoke: boolean;
  reps: number;
  /** Length of one measured run in seconds. */
  durationS: number;
  /** Warm-up before measuring, in seconds. */
  warmupS: number;
}

export interface ScenarioContext extends RunSettings {
  readonly name: string;
  readonly pinning: Pinning;
  log(message: string): void;
  /** Registers cleanup; run in reverse order when the scenario ends, whether it passed or not. */
  teardown(fn: () => unknown): void;
  metric(name: string, spec: MetricSpec): void;
  record(name: string, value: number): void;
  /** Runs every arm once per repetition, rotating the order so that no arm always goes first. */
  alternate(arms: Arm[], reps?: number): Promise<void>;
  /** A free-form fact printed under the table (KDF cost, sizes, configuration). */
  note(text: string): void;
  series(name: string, points: SeriesPoint[]): void;
}

export interface MetricResult extends MetricSpec {
  name: string;
  samples: number[];
  median: number;
  min: number;
  max: number;
  baselineMedian?: number;
  ratio?: number;
}

export interface TargetResult extends Target {
  actual: number | null;
  met: boolean | null;
}

export interface ScenarioResult {
  name: string;
  description: string;
  status: 'ok' | 'failed';
  error?: string;
  ranAt: string;
  durationS: number;
  settings: RunSettings;
  metrics: MetricResult[];
  targets: TargetResult[];
  notes: string[];
  series: Record<string, SeriesPoint[]>;
  /** 1-minute load average when the scenario started and ended: others' work on the machine. */
  loadAverage: { start: number; end: number };
}

export interface RunOptions extends RunSettings {
  pinning: Pinning;
  log?: (line: string) => void;
}

/** Collects teardown functions and runs them last-in first-out, reporting every failure. */
export class TeardownCollector {
  private readonly fns: Array<() => unknown> = [];

  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }

  async run(): Promise<Error[]> {
    const errors: Error[] = [];
    while (this.fns.length > 0) {
      const fn = this.fns.pop() as () => unknown;
      try {
        await fn();
      } catch (error) {
        errors.push(error instanceof Error ? error : new Error(String(error)));
      }
    }
    return errors;
  }
}

const active = new Set<TeardownCollector>();

/**
 * Runs the teardowns of every scenario still running (for Ctrl-C / SIGTERM): the databases,
 * streams, keys and child processes it made are removed even when the run is interrupted.
 */
export async function teardownActive(): Promise<void> {
  const collectors = [...active];
  active.clear();
  await Promise.all(collectors.map((c) => c.run()));
}

function targetsOf(scenario: Scenario): Target[] {
  if (!scenario.target) return [];
  return Array.isArray(scenario.target) ? scenario.target : [scenario.target];
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.stack ?? error.message;
  return String(error);
}

/** Runs one scenario to a result; never throws (a failure is a result with status 'failed'). */
export async function runScenario(
  scenario: Scenario,
  options: RunOptions,
): Promise<ScenarioResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const specs = new Map<string, MetricSpec>();
  const samples = new Map<string, number[]>();
  const notes: string[] = [];
  const series: Record<string, SeriesPoint[]> = {};
  const collector = new TeardownCollector();
  const started = performance.now();
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  const ranAt = new Date().toISOString();
  const settings: RunSettings = {
    smoke: options.smoke,
    reps: options.reps,
    durationS: options.durationS,
    warmupS: options.warmupS,
  };

  const record = (name: string, value: number) => {
    if (!specs.has(name)) throw new Error(`${scenario.name}: metric "${name}" was not declared`);
    if (!Number.isFinite(value)) {
      throw new Error(`${scenario.name}: metric "${name}" got a non-finite value (${value})`);
    }
    samples.get(name)?.push(value);
  };

  const ctx: ScenarioContext = {
    ...settings,
    name: scenario.name,
    pinning: options.pinning,
    log: (message) => log(`[${scenario.name}] ${message}`),
    teardown: (fn) => collector.teardown(fn),
    metric(name, spec) {
      specs.set(name, spec);
      if (!samples.has(name)) samples.set(name, []);
    },
    record,
    async alternate(arms, reps = options.reps) {
      for (let rep = 0; rep < reps; rep++) {
        for (let i = 0; i < arms.length; i++) {
          const arm = arms[(i + rep) % arms.length] as Arm;
          const values = await arm.run(rep);
          for (const [name, value] of Object.entries(values)) record(name, value);
          log(
            `[${scenario.name}] rep ${rep + 1}/${reps} ${arm.name}: ${Object.entries(values)
              .map(([k, v]) => `${k}=${formatNumber(v)}`)
              .join(' ')}`,
          );
        }
      }
    },
    note: (text) => notes.push(text),
    series: (name, points) => {
      series[name] = points;
    },
  };

  let error: string | undefined;
  active.add(collector);
  try {
    await scenario.run(ctx);
    const empty = [...specs].filter(([name]) => (samples.get(name) ?? []).length === 0);
    if (empty.length > 0) {
      throw new Error(`no samples for metric(s): ${empty.map(([n]) => n).join(', ')}`);
    }
    const zero = [...specs].filter(
      ([name, spec]) => !spec.allowZero && (samples.get(name) ?? []).some((v) => v === 0),
    );
    if (zero.length > 0) {
      throw new Error(
        `metric(s) measured 0, which means nothing happened: ${zero.map(([n]) => n).join(', ')}`,
      );
    }
  } catch (caught) {
    error = errorText(caught);
  } finally {
    active.delete(collector);
    const teardownErrors = await collector.run();
    if (teardownErrors.length > 0) {
      const text = teardownErrors.map((e) => `teardown: ${e.message}`).join('\n');
      error = error ? `${error}\n${text}` : text;
    }
  }

  const metrics: MetricResult[] = [...specs].map(([name, spec]) => {
    const values = samples.get(name) ?? [];
    return { name, ...spec, samples: values, ...summarize(values) };
  });
  for (const metric of metrics) {
    if (!metric.baseline) continue;
    const base = metrics.find((m) => m.name === metric.baseline);
    if (!base) continue;
    metric.baselineMedian = base.median;
    if (Number.isFinite(base.median) && base.median !== 0)
      metric.ratio = metric.median / base.median;
  }

  const targets: TargetResult[] = targetsOf(scenario).map((target) => {
    const metric = metrics.find((m) => m.name === target.metric);
    const raw = target.of === 'ratio' ? metric?.ratio : metric?.median;
    const actual = raw !== undefined && Number.isFinite(raw) ? raw : null;
    const met =
      actual === null ? null : target.op === '>=' ? actual >= target.value : actual <= target.value;
    return { ...target, actual, met };
  });

  return {
    name: scenario.name,
    description: scenario.description,
    status: error ? 'failed' : 'ok',
    ...(error ? { error } : {}),
    ranAt,
    durationS: (performance.now() - started) / 1000,
    settings,
    metrics,
    targets,
    notes,
    series,
    loadAverage: { start: loadAtStart, end: loadavg()[0] ?? Number.NaN },
  };
}

/** Runs scenarios one after another (they share the machine, so never in parallel). */
export async function runScenarios(
  scenarios: readonly Scenario[],
  options: RunOptions,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    (options.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(
      `== ${scenario.name}: ${scenario.description}`,
    );
    results.push(await runScenario(scenario, options));
  }
  return results;
}

export function formatNumber(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return '–';
  const d = decimals ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}
