// The harness's promises, checked in-process with tiny scenarios: a scenario that throws or that
// measures nothing fails with its error (never a silent zero), teardowns run even on failure,
// arms alternate, and the table and plot say what was measured.
import t from 'tap';
import {
  lineChart,
  markdownTable,
  runScenario,
  type Pinning,
  type Scenario,
} from '../src/index.js';
import type { BenchResults } from '../src/report.js';

const pinning: Pinning = { applied: false, serverCpus: null, loadCpus: null, reason: 'test' };
const options = { smoke: true, reps: 3, durationS: 1, warmupS: 0, pinning, log: () => undefined };

void t.test('a scenario that throws fails with its error, after its teardowns ran', async (t) => {
  let tornDown = false;
  const broken: Scenario = {
    name: 'broken',
    description: 'throws',
    async run(ctx) {
      ctx.teardown(() => {
        tornDown = true;
      });
      ctx.metric('rate', { unit: 'req/s' });
      throw new Error('the service did not start');
    },
  };
  const result = await runScenario(broken, options);
  t.equal(result.status, 'failed');
  t.match(result.error, /the service did not start/);
  t.ok(tornDown, 'teardown ran');
});

void t.test('a declared metric without samples, or measuring 0, fails the scenario', async (t) => {
  const empty = await runScenario(
    { name: 'empty', description: '', run: async (ctx) => ctx.metric('rate', { unit: 'req/s' }) },
    options,
  );
  t.equal(empty.status, 'failed');
  t.match(empty.error, /no samples for metric\(s\): rate/);
  const zero = await runScenario(
    {
      name: 'zero',
      description: '',
      async run(ctx) {
        ctx.metric('rate', { unit: 'req/s' });
        ctx.record('rate', 0);
      },
    },
    options,
  );
  t.equal(zero.status, 'failed');
  t.match(zero.error, /measured 0/);
});

void t.test(
  'arms alternate, and medians, ratios and targets come out of the samples',
  async (t) => {
    const order: string[] = [];
    const scenario: Scenario = {
      name: 'pair',
      description: '',
      target: { metric: 'subject', op: '>=', value: 0.9, unit: '× base', text: '90%', of: 'ratio' },
      async run(ctx) {
        ctx.metric('base', { unit: 'req/s' });
        ctx.metric('subject', { unit: 'req/s', baseline: 'base' });
        let n = 0;
        await ctx.alternate([
          { name: 'base', run: async () => (order.push('base'), { base: 100 + n++ }) },
          { name: 'subject', run: async () => (order.push('subject'), { subject: 95 }) },
        ]);
      },
    };
    const result = await runScenario(scenario, options);
    t.equal(result.status, 'ok', result.error ?? 'ok');
    t.same(order, ['base', 'subject', 'subject', 'base', 'base', 'subject']);
    const subject = result.metrics.find((m) => m.name === 'subject');
    const base = result.metrics.find((m) => m.name === 'base');
    t.same(base?.samples, [100, 101, 102]);
    t.equal(base?.median, 101);
    t.equal(subject?.ratio, 95 / 101);
    t.same(
      result.targets.map((x) => x.met),
      [true],
    );

    const results: BenchResults = {
      updatedAt: '2026-01-01T00:00:00.000Z',
      command: 'pnpm bench pair',
      machine: {
        cores: 2,
        cpuModel: 'cpu',
        memoryGiB: 1,
        os: 'linux',
        node: 'v20',
        postgres: '15',
        redis: '7',
        natsServer: '2.9.10',
      },
      pinning,
      scenarios: [{ ...result, command: 'pnpm bench pair', machine: {} as never, pinning }],
    };
    const table = markdownTable(results);
    t.match(
      table,
      '| pair | subject (req/s) | 95.0 | 95.0 | 95.0 | base (101) | 0.94× | ≥ 0.90× baseline | yes |',
    );
    t.match(table, 'nats-server 2.9.10');
  },
);

void t.test('the plot has one line per series', async (t) => {
  const svg = lineChart({
    title: 't',
    xLabel: 'x',
    yLabel: 'y',
    series: {
      hit: [
        { x: 1, y: 10 },
        { x: 4, y: 40 },
      ],
      miss: [
        { x: 1, y: 5 },
        { x: 4, y: 8 },
      ],
    },
  });
  t.match(svg, /^<svg/);
  t.equal(svg.match(/<polyline/g)?.length, 2);
  t.match(svg, '>hit</text>');
});
