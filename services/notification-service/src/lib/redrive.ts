// Dead-letter listing and redrive: selects dead letters by original subject, reason and time range
// (or explicit sequences), shows what a redrive would do (dry run), and moves one chosen dead letter
// back to its original subject with a fresh message id, recording it in the audit table
// (deadletter_redrives) and removing it from DEADLETTER, so a dead letter is moved, not copied.
// lib/redrive-jobs.ts runs a whole redrive as a background job on top of this.
import { createHash, randomUUID } from 'node:crypto';
import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { DLQ_HEADERS, subjectMatches, type Names } from '@app/contracts';
import type { PrismaClient } from '@app/db';
import { activeTraceHeaders, contextFromHeaders, SpanKind, withSpan } from '@app/platform';
import { copyHeaders } from './deadletter.js';

export interface DeadLetterFilter {
  /** Original subject; NATS wildcards `*` and `>` allowed. */
  subject?: string;
  /** Case-insensitive substring of Dlq-Reason. */
  reason?: string;
  /** Dead-lettered at or after (ISO 8601). */
  since?: string;
  /** Dead-lettered before (ISO 8601). */
  until?: string;
  /** Only these dead-letter sequences. */
  seqs?: number[];
  limit?: number;
}

export interface DeadLetterView {
  seq: number;
  subject: string;
  deadLetteredAt: string;
  originalSubject: string | null;
  originalStream: string | null;
  originalSeq: number | null;
  originalTime: string | null;
  consumer: string | null;
  deliveries: number | null;
  reason: string | null;
  size: number;
  sha256: string;
}

export function checkFilter(filter: DeadLetterFilter): string[] {
  const problems: string[] = [];
  for (const key of ['since', 'until'] as const) {
    const v = filter[key];
    if (v !== undefined && Number.isNaN(Date.parse(v))) {
      problems.push(`${key}: expected an ISO 8601 date-time, got "${v}"`);
    }
  }
  if (filter.seqs?.some((s) => !Number.isInteger(s) || s < 1)) {
    problems.push('seqs: expected positive integers');
  }
  return problems;
}

const numberOrNull = (v: string) => (v === '' ? null : Number(v));

export interface RedriveDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  db: PrismaClient;
}

export async function listDeadLetters(
  deps: Pick<RedriveDeps, 'jsm' | 'names'>,
  filter: DeadLetterFilter = {},
): Promise<DeadLetterView[]> {
  const problems = checkFilter(filter);
  if (problems.length) throw new Error(`invalid filter: ${problems.join('; ')}`);
  const stream = deps.names.streams.deadletter;
  const { state } = await deps.jsm.streams.info(stream);
  if (state.messages === 0) return [];
  const since = filter.since ? Date.parse(filter.since) : -Infinity;
  const until = filter.until ? Date.parse(filter.until) : Infinity;
  const reason = filter.reason?.toLowerCase();
  const limit = filter.limit ?? Infinity;
  const seqs = filter.seqs
    ? [...new Set(filter.seqs)].sort((a, b) => a - b)
    : range(state.first_seq, state.last_seq);

  const out: DeadLetterView[] = [];
  for (const seq of seqs) {
    if (out.length >= limit) break;
    const m = await deps.jsm.streams.getMessage(stream, { seq });
    if (!m) continue; // deleted: already redriven
    const h = m.header;
    const get = (k: string) => (h ? h.get(k) : '');
    const view: DeadLetterView = {
      seq: m.seq,
      subject: m.subject,
      deadLetteredAt: m.time.toISOString(),
      originalSubject: get(DLQ_HEADERS.originalSubject) || null,
      originalStream: get(DLQ_HEADERS.originalStream) || null,
      originalSeq: numberOrNull(get(DLQ_HEADERS.originalSeq)),
      originalTime: get(DLQ_HEADERS.originalTime) || null,
      consumer: get(DLQ_HEADERS.consumer) || null,
      deliveries: numberOrNull(get(DLQ_HEADERS.deliveries)),
      reason: get(DLQ_HEADERS.reason) || null,
      size: m.data.length,
      sha256: createHash('sha256').update(m.data).digest('hex'),
    };
    const t = m.time.getTime();
    if (t < since || t >= until) continue;
    if (filter.subject && !subjectMatches(filter.subject, view.originalSubject ?? '')) continue;
    if (reason && !(view.reason ?? '').toLowerCase().includes(reason)) continue;
    out.push(view);
  }
  return out;
}

function* range(from: number, to: number): Generator<number> {
  for (let i = from; i <= to; i++) yield i;
}

export interface RedriveItem extends DeadLetterView {
  newMsgId: string;
  /** Why it was not republished (e.g. the original subject is unknown). */
  skipped?: string;
}

/** The dead letters a redrive with `filter` would move, each with the message id it would get. */
export async function planRedrive(
  deps: Pick<RedriveDeps, 'jsm' | 'names'>,
  batchId: string,
  filter: DeadLetterFilter,
): Promise<RedriveItem[]> {
  const selected = await listDeadLetters(deps, filter);
  return selected.map((v) => ({
    ...v,
    newMsgId: `redrive:${batchId}:${v.seq}`,
    ...(v.originalSubject ? {} : { skipped: 'no original subject (original was missing)' }),
  }));
}

export interface DryRunResult {
  batchId: string;
  dryRun: true;
  selected: number;
  redriven: 0;
  items: RedriveItem[];
}

/** What a redrive would move, changing no stream; the dry run itself is on record. */
export async function dryRunRedrive(
  deps: RedriveDeps,
  options: { filter: DeadLetterFilter; actor: string },
): Promise<DryRunResult> {
  const batchId = randomUUID();
  const items = await planRedrive(deps, batchId, options.filter);
  const audited = items.filter((item) => !item.skipped && item.originalSubject);
  if (audited.length > 0) {
    await deps.db.deadLetterRedrive.createMany({
      data: audited.map((item) => auditRow(batchId, item, options.actor, true)),
    });
  }
  return { batchId, dryRun: true, selected: items.length, redriven: 0, items };
}

/**
 * Moves one planned dead letter: republishes it to its original subject (fresh Nats-Msg-Id, the
 * Dlq-* headers dropped, Dlq-Redrive-Batch added), records it, then deletes it from DEADLETTER.
 * `skipped` when it has no original subject or another redrive moved it first.
 */
export async function moveDeadLetter(
  deps: RedriveDeps,
  batchId: string,
  item: RedriveItem,
  actor: string,
): Promise<'moved' | 'skipped'> {
  if (item.skipped || !item.originalSubject) return 'skipped';
  const m = await deps.jsm.streams.getMessage(deps.names.streams.deadletter, { seq: item.seq });
  if (!m) {
    item.skipped = 'gone (redriven concurrently)';
    return 'skipped';
  }
  const subject = item.originalSubject;
  // In the original's trace: the redelivered message's consume becomes this span's child.
  await withSpan(
    'deadletter redrive',
    {
      kind: SpanKind.PRODUCER,
      parent: contextFromHeaders(m.header),
      attributes: {
        'messaging.system': 'nats',
        'messaging.destination.name': subject,
        'deadletter.seq': item.seq,
        'redrive.batch_id': batchId,
      },
    },
    async () => {
      const h = natsHeaders();
      copyHeaders(m.header, h, (k) => /^dlq-/i.test(k));
      for (const [k, v] of Object.entries(activeTraceHeaders())) h.set(k, v);
      h.set(REDRIVE_BATCH_HEADER, batchId);
      await deps.js.publish(subject, m.data, { headers: h, msgID: item.newMsgId });
    },
  );
  await deps.db.deadLetterRedrive.create({ data: auditRow(batchId, item, actor, false) });
  await deps.jsm.streams.deleteMessage(deps.names.streams.deadletter, item.seq);
  return 'moved';
}

/** The header naming the redrive (job id) that put a message back on its subject. */
export const REDRIVE_BATCH_HEADER = 'Dlq-Redrive-Batch';

function auditRow(batchId: string, item: RedriveItem, actor: string, dryRun: boolean) {
  return {
    batchId,
    deadletterSeq: BigInt(item.seq),
    originalSubject: item.originalSubject ?? '',
    originalSeq: item.originalSeq === null ? null : BigInt(item.originalSeq),
    newMsgId: item.newMsgId,
    reason: item.reason,
    actor,
    dryRun,
  };
}

/** True when `err` says a stream does not exist (the topology is not provisioned yet). */
export function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND;
}
const STREAM_NOT_FOUND = 10059;
