// Operator CLI over the dead-letter stream (`pnpm --filter notification-service redrive ...`):
//   list    [filters] [--json]
//   redrive [filters] [--dry-run] [--rate N] [--actor NAME] [--json]
// filters: --subject <original subject, * and > allowed> --reason <substring> --since <ISO>
//          --until <ISO> --seq <n,n,...> --limit <n>
// Progress goes to stderr on long runs; the result to stdout. Exit 0 ok, 2 on bad input or error.
import { parseArgs } from 'node:util';
import { userInfo } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { names } from '@app/contracts';
import { createPrisma } from '@app/db';
import { natsServers } from '@app/platform';
import { loadConfig } from '../config.js';
import {
  checkFilter,
  listDeadLetters,
  redrive,
  type DeadLetterFilter,
  type DeadLetterView,
} from '../lib/redrive.js';

const USAGE = `usage: redrive <list|redrive> [--subject S] [--reason R] [--since ISO] [--until ISO]
               [--seq 1,2,3] [--limit N] [--dry-run] [--rate N] [--actor NAME] [--json]`;

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

async function main(): Promise<void> {
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
  if (command !== 'list' && command !== 'redrive') fail(`unknown command "${command ?? ''}"`);

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
    const deps = {
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
      return;
    }
    const dryRun = values['dry-run'];
    let lastReport = 0;
    const result = await redrive(deps, {
      filter,
      dryRun,
      rate,
      actor: `cli:${values.actor ?? userInfo().username}`,
      onProgress(done, total, item) {
        if (!values.json)
          process.stdout.write(`${dryRun ? 'would redrive' : 'redriven'}  ${row(item)}\n`);
        const now = Date.now();
        if (now - lastReport >= 1000 || done === total) {
          lastReport = now;
          process.stderr.write(`progress: ${done}/${total}\n`);
        }
      },
    });
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      process.stdout.write(
        `${dryRun ? 'dry run: ' : ''}batch ${result.batchId}: ${result.selected} selected, ${result.redriven} redriven\n`,
      );
    }
  } finally {
    await prisma.$disconnect();
    await nc.drain();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`redrive failed: ${(error as Error).message}\n`);
  process.exit(2);
});
