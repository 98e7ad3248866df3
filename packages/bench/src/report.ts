// Publishes results: results/latest.json (everything, samples included), results/latest.md (the
// table the README quotes) and the throughput plot. Running one scenario replaces only that
// scenario's entry, so the published table stays whole while a single number is re-measured.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatNumber, type Pinning, type ScenarioResult, type TargetResult } from './harness.js';
import type { MachineInfo } from './machine.js';
import { lineChart } from './svg.js';

export interface ScenarioEntry extends ScenarioResult {
  command: string;
  machine: MachineInfo;
  pinning: Pinning;
}

export interface BenchResults {
  updatedAt: string;
  /** The command of the latest run that wrote this file. */
  command: string;
  machine: MachineInfo;
  pinning: Pinning;
  scenarios: ScenarioEntry[];
}

export const PLOT_FILE = 'profile-read-throughput.svg';

async function readExisting(file: string): Promise<BenchResults | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as BenchResults;
  } catch {
    return undefined; // A corrupt file is replaced, not merged.
  }
}

function opSymbol(op: string): string {
  return op === '>=' ? '≥' : '≤';
}

function targetText(t: TargetResult): string {
  const unit = t.of === 'ratio' ? '× baseline' : ` ${t.unit}`;
  return `${opSymbol(t.op)} ${formatNumber(t.value)}${unit}`;
}

function metText(t: TargetResult): string {
  if (t.met === null) return 'n/a';
  return t.met ? 'yes' : '**no**';
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

export function markdownTable(results: BenchResults): string {
  const m = results.machine;
  const lines: string[] = [
    '| scenario | metric | median | min | max | baseline | ratio | target | met? |',
    '|---|---|---:|---:|---:|---|---:|---|---|',
  ];
  for (const s of results.scenarios) {
    if (s.status === 'failed') {
      const first = (s.error ?? 'failed').split('\n')[0] ?? 'failed';
      lines.push(`| ${s.name} | **FAILED** | | | | | | | ${cell(first.slice(0, 200))} |`);
      continue;
    }
    for (const metric of s.metrics) {
      const d = metric.decimals;
      const unit = metric.unit;
      const targets = s.targets.filter((t) => t.metric === metric.name);
      const baseline =
        metric.baseline && metric.baselineMedian !== undefined
          ? `${metric.baseline} (${formatNumber(metric.baselineMedian, d)})`
          : '';
      lines.push(
        `| ${[
          s.name,
          `${metric.name} (${unit})`,
          formatNumber(metric.median, d),
          formatNumber(metric.min, d),
          formatNumber(metric.max, d),
          baseline,
          metric.ratio === undefined ? '' : `${metric.ratio.toFixed(2)}×`,
          targets.map(targetText).join('; '),
          targets.map(metText).join('; '),
        ]
          .map(cell)
          .join(' | ')} |`,
      );
    }
  }
  const settings = [
    ...new Set(
      results.scenarios.map(
        (s) =>
          `${s.settings.smoke ? 'smoke, ' : ''}${s.settings.reps} rep(s) × ${s.settings.durationS} s`,
      ),
    ),
  ].join('; ');
  const notes = results.scenarios.map((s) => {
    const items = [...s.notes];
    if (s.loadAverage) {
      items.push(
        `Load average (1 min) ${s.loadAverage.start.toFixed(2)} at start, ${s.loadAverage.end.toFixed(2)} at end.`,
      );
    }
    if (s.status === 'failed') items.push(`FAILED: ${(s.error ?? '').split('\n')[0] ?? ''}`);
    return `- **${s.name}** (${s.ranAt}, \`${s.command}\`): ${items.join(' ')}`;
  });
  return [
    '# Benchmark results',
    '',
    `Updated ${results.updatedAt} by \`${results.command}\`. Median of the repetitions, with min and max; the ratio is the median over the baseline's median, measured in the same run.`,
    '',
    `Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; PostgreSQL ${m.postgres}; Redis ${m.redis}; nats-server ${m.natsServer}.`,
    `Pinning: ${results.pinning.applied ? 'applied' : 'not applied'}: ${results.pinning.reason}. Settings: ${settings}.`,
    '',
    ...lines,
    '',
    ...(notes.length > 0 ? ['Notes:', '', ...notes, ''] : []),
    `![profile read throughput vs concurrency](${PLOT_FILE})`,
    '',
  ].join('\n');
}

/** Writes latest.json / latest.md (merged with the previous run) and the plot; returns the merge. */
export async function writeResults(options: {
  outDir: string;
  command: string;
  machine: MachineInfo;
  pinning: Pinning;
  results: ScenarioResult[];
  /** Scenario names in the order the table lists them. */
  order: string[];
}): Promise<BenchResults> {
  await mkdir(options.outDir, { recursive: true });
  const jsonFile = join(options.outDir, 'latest.json');
  const previous = await readExisting(jsonFile);
  const byName = new Map<string, ScenarioEntry>();
  for (const s of previous?.scenarios ?? []) byName.set(s.name, s);
  for (const r of options.results) {
    byName.set(r.name, {
      ...r,
      command: options.command,
      machine: options.machine,
      pinning: options.pinning,
    });
  }
  const rank = (name: string) => {
    const i = options.order.indexOf(name);
    return i === -1 ? options.order.length : i;
  };
  const merged: BenchResults = {
    updatedAt: new Date().toISOString(),
    command: options.command,
    machine: options.machine,
    pinning: options.pinning,
    scenarios: [...byName.values()].sort((a, b) => rank(a.name) - rank(b.name)),
  };
  await writeFile(jsonFile, `${JSON.stringify(merged, null, 2)}\n`);
  await writeFile(join(options.outDir, 'latest.md'), markdownTable(merged));
  const profile = merged.scenarios.find((s) => s.name === 'profile-read' && s.status === 'ok');
  if (profile && Object.keys(profile.series).length > 0) {
    await writeFile(
      join(options.outDir, PLOT_FILE),
      lineChart({
        title: 'profile-service GET /v1/profiles/:id throughput',
        xLabel: 'concurrent connections (autocannon)',
        yLabel: 'requests/s',
        series: profile.series,
      }),
    );
  }
  return merged;
}
