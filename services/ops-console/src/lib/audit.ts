// The read-only parts of Postgres the console shows: the outbox backlog per producer (what the
// relays have not published yet, and how old the oldest is), and the redrive audit trail that
// notification-service writes: its background jobs (redrive_jobs: who, when, what, result) and
// the dead letters each dry run listed and each redrive moved (deadletter_redrives).
import type { PrismaClient } from '@app/db';
import type { AdminFilter, JobStatus } from './admin-client.js';

export interface AuditJob {
  id: string;
  status: JobStatus;
  actor: string;
  filter: AdminFilter;
  rate: number;
  total: number;
  moved: number;
  failed: number;
  skipped: number;
  lastError: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface AuditDryRun {
  batchId: string;
  actor: string;
  at: string;
  count: number;
}

export interface AuditMove {
  deadletterSeq: number;
  originalSubject: string;
  originalSeq: number | null;
  newMsgId: string;
  reason: string | null;
  at: string;
}

export class AuditReader {
  constructor(private readonly db: PrismaClient) {}

  async outboxBacklog(): Promise<
    Array<{ producer: string; pending: number; oldestAgeSeconds: number }>
  > {
    const rows = await this.db.$queryRaw<
      Array<{ producer: string; pending: number; age_s: number | null }>
    >`SELECT producer, count(*)::int AS pending,
             extract(epoch FROM now() - min(created_at))::float8 AS age_s
        FROM outbox_events WHERE published_at IS NULL GROUP BY producer`;
    return rows.map((r) => ({
      producer: r.producer,
      pending: r.pending,
      oldestAgeSeconds: Math.max(0, r.age_s ?? 0),
    }));
  }

  async jobs(take = 50): Promise<AuditJob[]> {
    const rows = await this.db.redriveJob.findMany({ orderBy: { createdAt: 'desc' }, take });
    return rows.map((r) => ({
      id: r.id,
      status: r.status as JobStatus,
      actor: r.actor,
      filter: r.filter as AdminFilter,
      rate: r.rate,
      total: r.total,
      moved: r.moved,
      failed: r.failed,
      skipped: r.skipped,
      lastError: r.lastError,
      createdAt: r.createdAt.toISOString(),
      startedAt: r.startedAt?.toISOString() ?? null,
      finishedAt: r.finishedAt?.toISOString() ?? null,
    }));
  }

  async dryRuns(take = 20): Promise<AuditDryRun[]> {
    const rows = await this.db.$queryRaw<
      Array<{ batch_id: string; actor: string; at: Date; count: number }>
    >`SELECT batch_id::text AS batch_id, actor, min(created_at) AS at, count(*)::int AS count
        FROM deadletter_redrives WHERE dry_run
       GROUP BY batch_id, actor ORDER BY at DESC LIMIT ${take}`;
    return rows.map((r) => ({
      batchId: r.batch_id,
      actor: r.actor,
      at: r.at.toISOString(),
      count: r.count,
    }));
  }

  /** What one redrive moved (its job id is the batch id of its audit rows). */
  async moves(jobId: string, take = 1000): Promise<AuditMove[]> {
    const rows = await this.db.deadLetterRedrive.findMany({
      where: { batchId: jobId, dryRun: false },
      orderBy: { id: 'asc' },
      take,
    });
    return rows.map((r) => ({
      deadletterSeq: Number(r.deadletterSeq),
      originalSubject: r.originalSubject,
      originalSeq: r.originalSeq === null ? null : Number(r.originalSeq),
      newMsgId: r.newMsgId,
      reason: r.reason,
      at: r.createdAt.toISOString(),
    }));
  }
}
