// Redrive as a background job: a redrive of thousands of dead letters at a bounded rate takes
// minutes, longer than any HTTP request should live. A job is a row in redrive_jobs (filter, rate,
// actor, progress counters, status), so any replica can report it and its outcome survives a
// restart. The process that created a job runs it, writing progress as it goes and a heartbeat;
// a job whose heartbeat stopped (its process died) is marked failed, not resumed: the dead letters
// it moved are gone from DEADLETTER, so running the same filter again moves only the rest, and an
// operator decides whether to. One unfinished job at a time (a Postgres advisory lock orders the
// check), so two redrives never publish the same dead letter twice.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@app/contracts';
import type { Prisma, PrismaClient } from '@app/db';
import { moveDeadLetter, planRedrive, type DeadLetterFilter, type RedriveDeps } from './redrive.js';

export type RedriveStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const UNFINISHED: RedriveStatus[] = ['queued', 'running'];

export type RedriveJobRow = NonNullable<
  Awaited<ReturnType<PrismaClient['redriveJob']['findUnique']>>
>;

export interface RedriveJobView {
  id: string;
  status: RedriveStatus;
  actor: string;
  filter: DeadLetterFilter;
  rate: number;
  total: number;
  moved: number;
  failed: number;
  skipped: number;
  lastError: string | null;
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export function jobView(row: RedriveJobRow): RedriveJobView {
  return {
    id: row.id,
    status: row.status as RedriveStatus,
    actor: row.actor,
    filter: row.filter as DeadLetterFilter,
    rate: row.rate,
    total: row.total,
    moved: row.moved,
    failed: row.failed,
    skipped: row.skipped,
    lastError: row.lastError,
    cancelRequested: row.cancelRequested,
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}

export function isFinished(status: string): boolean {
  return !UNFINISHED.includes(status as RedriveStatus);
}

export class RedriveInProgressError extends Error {
  constructor(readonly jobId: string) {
    super(`redrive job ${jobId} has not finished`);
    this.name = 'RedriveInProgressError';
  }
}

export class RedriveFinishedError extends Error {
  constructor(
    readonly jobId: string,
    readonly status: string,
  ) {
    super(`redrive job ${jobId} is ${status}`);
    this.name = 'RedriveFinishedError';
  }
}

export interface RedriveJobsOptions {
  deps: RedriveDeps;
  /** This process, as written in `owner`. */
  owner: string;
  log: Logger;
  /** A job without a heartbeat for this long is failed (its process is gone). */
  staleMs: number;
  /** How often counters are written while a job runs (default 250 ms). */
  progressEveryMs?: number;
}

// Arbitrary constant: serialises "is a redrive unfinished? then start one" across replicas.
const START_LOCK_KEY = 727_274_112;

export class RedriveJobs {
  private readonly running = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();

  constructor(private readonly o: RedriveJobsOptions) {}

  private get db(): PrismaClient {
    return this.o.deps.db;
  }

  /** Creates a job and starts running it in this process; refused while another is unfinished. */
  async start(input: {
    filter: DeadLetterFilter;
    rate: number;
    actor: string;
  }): Promise<RedriveJobRow> {
    if (!(input.rate > 0)) throw new RangeError(`rate must be > 0 per second, got ${input.rate}`);
    if (this.abort.signal.aborted) throw new Error('shutting down: no new redrive jobs');
    const row = await this.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${START_LOCK_KEY})`;
      await this.failStale(tx);
      const open = await tx.redriveJob.findFirst({
        where: { status: { in: UNFINISHED } },
        select: { id: true },
      });
      if (open) throw new RedriveInProgressError(open.id);
      return tx.redriveJob.create({
        data: {
          id: randomUUID(),
          status: 'queued',
          actor: input.actor,
          filter: input.filter as Prisma.InputJsonValue,
          rate: input.rate,
          owner: this.o.owner,
        },
      });
    });
    const run = this.run(row)
      .catch((err: unknown) => this.o.log.error({ err, jobId: row.id }, 'redrive job not recorded'))
      .finally(() => this.running.delete(row.id));
    this.running.set(row.id, run);
    return row;
  }

  get(id: string): Promise<RedriveJobRow | null> {
    return this.db.redriveJob.findUnique({ where: { id } });
  }

  /** Asks a job to stop after the dead letter in hand; its process marks it cancelled. */
  async cancel(id: string): Promise<RedriveJobRow | null> {
    const updated = await this.db.redriveJob.updateMany({
      where: { id, status: { in: UNFINISHED } },
      data: { cancelRequested: true },
    });
    const row = await this.get(id);
    if (row && updated.count === 0) throw new RedriveFinishedError(id, row.status);
    return row;
  }

  /** Marks failed every unfinished job whose process stopped sending heartbeats. */
  async failStale(db: Pick<PrismaClient, 'redriveJob'> = this.db): Promise<number> {
    const cutoff = new Date(Date.now() - this.o.staleMs);
    const { count } = await db.redriveJob.updateMany({
      where: { status: { in: UNFINISHED }, heartbeatAt: { lt: cutoff } },
      data: {
        status: 'failed',
        finishedAt: new Date(),
        lastError: `interrupted: its process stopped (no heartbeat since before ${cutoff.toISOString()}); what it moved is out of DEADLETTER, run the redrive again for the rest`,
      },
    });
    if (count > 0) this.o.log.warn({ count }, 'redrive jobs of a dead process marked failed');
    return count;
  }

  /** Polls a job until it finishes, calling `onUpdate` whenever its row changed. */
  async follow(
    id: string,
    onUpdate: (job: RedriveJobView) => void,
    pollMs = 500,
  ): Promise<RedriveJobView> {
    let last = '';
    for (;;) {
      const row = await this.get(id);
      if (!row) throw new Error(`no redrive job ${id}`);
      const view = jobView(row);
      const seen = JSON.stringify(view);
      if (seen !== last) onUpdate(view);
      last = seen;
      if (isFinished(view.status)) return view;
      await sleep(pollMs);
    }
  }

  /** Resolves once this process runs no job (each stopped one is marked failed), within `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.abort.abort();
    const all = Promise.allSettled([...this.running.values()]);
    await Promise.race([all, sleep(graceMs, undefined, { ref: false })]);
  }

  private async run(job: RedriveJobRow): Promise<void> {
    const { deps, log } = this.o;
    const signal = this.abort.signal;
    const counts = { total: 0, moved: 0, failed: 0, skipped: 0 };
    let lastError: string | null = null;
    const heartbeat = setInterval(
      () => {
        this.db.redriveJob
          .update({ where: { id: job.id }, data: { heartbeatAt: new Date() } })
          .catch((err: unknown) => log.warn({ err, jobId: job.id }, 'redrive heartbeat failed'));
      },
      Math.max(200, this.o.staleMs / 3),
    );
    heartbeat.unref();
    const write = async (data: Prisma.RedriveJobUpdateInput) => {
      const row = await this.db.redriveJob.update({
        where: { id: job.id },
        data: { ...data, heartbeatAt: new Date() },
        select: { cancelRequested: true },
      });
      return row.cancelRequested;
    };
    let outcome: { status: RedriveStatus; error?: string } = { status: 'failed' };
    try {
      let cancel = await write({ status: 'running', startedAt: new Date() });
      const filter = job.filter as DeadLetterFilter;
      const items = cancel ? [] : await planRedrive(deps, job.id, filter);
      counts.total = items.length;
      cancel = await write({ total: counts.total });
      log.info({ jobId: job.id, total: counts.total, rate: job.rate, filter }, 'redrive started');

      const intervalMs = 1000 / job.rate;
      const started = Date.now();
      let published = 0;
      let flushed = Date.now();
      for (const item of items) {
        if (cancel || signal.aborted) break;
        if (!item.skipped && item.originalSubject) {
          // A bounded rate: the n-th publish waits for its slot, so a burst cannot flood consumers.
          const wait = started + published * intervalMs - Date.now();
          if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
          if (signal.aborted) break;
          published++;
        }
        try {
          const moved = await moveDeadLetter(deps, job.id, item, job.actor);
          counts[moved]++;
        } catch (err) {
          counts.failed++;
          lastError = `dead letter ${item.seq}: ${(err as Error).message}`.slice(0, 1000);
          log.warn({ err, jobId: job.id, seq: item.seq }, 'redrive of one dead letter failed');
        }
        if (Date.now() - flushed >= (this.o.progressEveryMs ?? 250)) {
          flushed = Date.now();
          cancel = await write({ ...counts, lastError });
        }
      }
      const done = counts.moved + counts.skipped + counts.failed;
      if (cancel) outcome = { status: 'cancelled' };
      else if (signal.aborted && done < counts.total) {
        outcome = {
          status: 'failed',
          error: `interrupted: the service shut down after ${done} of ${counts.total}; run the redrive again for the rest`,
        };
      } else outcome = { status: counts.failed > 0 ? 'failed' : 'succeeded' };
    } catch (err) {
      outcome = { status: 'failed', error: (err as Error).message.slice(0, 1000) };
      log.error({ err, jobId: job.id }, 'redrive job failed');
    } finally {
      clearInterval(heartbeat);
    }
    await this.db.redriveJob.update({
      where: { id: job.id },
      data: {
        ...counts,
        status: outcome.status,
        lastError: outcome.error ?? lastError,
        finishedAt: new Date(),
        heartbeatAt: new Date(),
      },
    });
    log.info({ jobId: job.id, status: outcome.status, ...counts }, 'redrive finished');
  }
}
