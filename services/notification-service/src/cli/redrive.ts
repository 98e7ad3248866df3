// Operator CLI over the dead-letter stream (`pnpm --filter notification-service redrive ...`):
//   list    [filters] [--json]
//   redrive [filters] [--dry-run] [--rate N] [--actor NAME] [--json]
//   follow  <job id> [--json]
// filters: --subject <original subject, * and > allowed> --reason <substring> --since <ISO>
//          --until <ISO> --seq <n,n,...> --limit <n>
// A redrive starts a background job through the same code as POST /admin/deadletters/redrive and
// follows it to the end (`follow` does so for a job started elsewhere, e.g. over HTTP); progress
// goes to stderr, the result to stdout. Exit 0: done (the job succeeded); 1: the job failed or was
// cancelled; 2: bad input or an error.
import { hostname, userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { names } from '@app/contracts';
import { createPrisma } from '@app/db';
import { natsServers } from '@app/platform';
import { loadConfig } from '../config.js';
import {
  checkFilter,
  dryRunRedrive,
  listDeadLetters,
  type DeadLetterFilter,
  type DeadLetterView,
  type RedriveDeps,
} from '../lib/redrive.js';
import { RedriveJobs, type RedriveJobView } from '../lib/redrive-jobs.js';

const USAGE = `usage: redrive <list|redrive> [--subject S] [--reason R] [--since ISO] [--until ISO]
               [--seq 1,2,3] [--limit N] [--dry-run] [--rate N] [--actor NAME] [--json]
       redrive follow <job id> [--json]`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function row(d: DeadLetterView): string {
  return [
    String(d.seq).padStart(6),
    d.deadLetteredAt,
    (d.originalSubject ?? '-').padEnd(24),
    `seq=${d.originalSeq ?? '-'}`,
    `deliveries=${d.deliveries ?? '-'}`,
    d.reason ?? '-',
  ].join('  ');
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        subject: { type: 'string' },
        reason: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        seq: { type: 'string' },
        limit: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        rate: { type: 'string' },
        actor: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    fail((error as Error).message);
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (command !== 'list' && command !== 'redrive' && command !== 'follow')
    fail(`unknown command "${command ?? ''}"`);
  const jobId = positionals[1];
  if (command === 'follow' && !jobId) fail('follow: expected a job id');

  const filter: DeadLetterFilter = {};
  if (values.subject) filter.subject = values.subject;
  if (values.reason) filter.reason = values.reason;
  if (values.since) filter.since = values.since;
  if (values.until) filter.until = values.until;
  if (values.seq) filter.seqs = values.seq.split(',').map((s) => Number(s.trim()));
  if (values.limit) {
    filter.limit = Number(values.limit);
    if (!Number.isInteger(filter.limit) || filter.limit < 1)
      fail('--limit: expected a positive integer');
  }
  const problems = checkFilter(filter);
  if (problems.length) fail(problems.map((p) => `--${p}`).join('\n'));
  const config = loadConfig(process.env);
  const rate = values.rate === undefined ? config.NOTIFY_REDRIVE_RATE : Number(values.rate);
  if (!(rate > 0))
    fail(`--rate: expected a positive number of messages per second, got "${values.rate}"`);

  const nc = await connect({ servers: natsServers(config.NATS_URL), name: 'notification-redrive' });
  const prisma = createPrisma(config.DATABASE_URL, { max: 2 });
  try {
    const deps: RedriveDeps = {
      js: jetstream(nc),
      jsm: await jetstreamManager(nc),
      names: names(config.NATS_NAMESPACE),
      db: prisma,
    };
    if (command === 'list') {
      const items = await listDeadLetters(deps, filter);
      if (values.json) process.stdout.write(`${JSON.stringify({ count: items.length, items })}\n`);
      else {
        for (const d of items) process.stdout.write(`${row(d)}\n`);
        process.stdout.write(`${items.length} dead letter(s)\n`);
      }
      return 0;
    }
    const actor = `cli:${values.actor ?? userInfo().username}`;
    if (command === 'redrive' && values['dry-run']) {
      const result = await dryRunRedrive(deps, { filter, actor });
      if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else {
        for (const item of result.items) process.stdout.write(`would redrive  ${row(item)}\n`);
        process.stdout.write(`dry run: batch ${result.batchId}: ${result.selected} selected\n`);
      }
      return 0;
    }
    const jobs = new RedriveJobs({
      deps,
      owner: `cli:${hostname()}:${process.pid}`,
      log: { debug() {}, info() {}, warn: logTo, error: logTo },
      staleMs: config.NOTIFY_REDRIVE_STALE_MS,
    });
    const id =
      command === 'follow' ? (jobId as string) : (await jobs.start({ filter, rate, actor })).id;
    if (command === 'redrive') process.stderr.write(`redrive job ${id} started\n`);
    const job = await jobs.follow(id, (j) => process.stderr.write(`${progress(j)}\n`));
    if (values.json) process.stdout.write(`${JSON.stringify(job)}\n`);
    else {
      process.stdout.write(
        `job ${job.id} ${job.status}: ${job.total} selected, ${job.moved} redriven, ${job.skipped} skipped, ${job.failed} failed${job.lastError ? ` (last error: ${job.lastError})` : ''}\n`,
      );
    }
    return job.status === 'succeeded' ? 0 : 1;
  } finally {
    await prisma.$disconnect();
    await nc.drain();
  }
}

function logTo(obj: object, msg?: string): void {
  process.stderr.write(`${msg ?? ''} ${JSON.stringify(obj)}\n`);
}

function progress(j: RedriveJobView): string {
  return `progress: ${j.status} ${j.moved + j.skipped + j.failed}/${j.total} (moved ${j.moved}, skipped ${j.skipped}, failed ${j.failed})`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`redrive failed: ${(error as Error).message}\n`);
    process.exit(2);
  },
);
