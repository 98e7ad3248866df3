// Dead-letter listing and redrive: selects dead letters by original subject, reason and time range
// (or explicit sequences), shows what a redrive would do, and republishes the chosen ones to their
// original subject at a bounded rate with a fresh message id, recording each in the audit table
// (deadletter_redrives) and removing it from DEADLETTER, so a dead letter is moved, not copied.
import { createHash, randomUUID } from 'node:crypto';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Names } from '@app/contracts';
import { copyHeaders, DLQ } from './deadletter.js';
import type { SqlClient } from './deliveries.js';

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

/** NATS subject matching: `*` is one token, `>` the rest. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
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
  db: SqlClient;
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
      originalSubject: get(DLQ.originalSubject) || null,
      originalStream: get(DLQ.originalStream) || null,
      originalSeq: numberOrNull(get(DLQ.originalSeq)),
      originalTime: get(DLQ.originalTime) || null,
      consumer: get(DLQ.consumer) || null,
      deliveries: numberOrNull(get(DLQ.deliveries)),
      reason: get(DLQ.reason) || null,
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

export interface RedriveOptions {
  filter: DeadLetterFilter;
  dryRun: boolean;
  /** Messages per second. */
  rate: number;
  actor: string;
  onProgress?: (done: number, total: number, item: DeadLetterView) => void;
}

export interface RedriveItem extends DeadLetterView {
  newMsgId: string;
  /** Why it was not republished (e.g. the original subject is unknown). */
  skipped?: string;
}

export interface RedriveResult {
  batchId: string;
  dryRun: boolean;
  selected: number;
  redriven: number;
  items: RedriveItem[];
}

export async function redrive(deps: RedriveDeps, options: RedriveOptions): Promise<RedriveResult> {
  if (!(options.rate > 0))
    throw new Error(`rate must be > 0 messages per second, got ${options.rate}`);
  const selected = await listDeadLetters(deps, options.filter);
  const batchId = randomUUID();
  const items: RedriveItem[] = selected.map((v) => ({
    ...v,
    newMsgId: `redrive:${batchId}:${v.seq}`,
    ...(v.originalSubject ? {} : { skipped: 'no original subject (original was missing)' }),
  }));
  const result: RedriveResult = {
    batchId,
    dryRun: options.dryRun,
    selected: items.length,
    redriven: 0,
    items,
  };

  const intervalMs = 1000 / options.rate;
  const started = Date.now();
  let done = 0;
  for (const item of items) {
    if (!options.dryRun && !item.skipped && item.originalSubject) {
      // A bounded rate: the n-th publish waits for its slot, so a burst cannot flood consumers.
      const wait = started + result.redriven * intervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const m = await deps.jsm.streams.getMessage(deps.names.streams.deadletter, { seq: item.seq });
      if (!m) {
        item.skipped = 'gone (redriven concurrently)';
      } else {
        const h = natsHeaders();
        copyHeaders(m.header, h, (k) => /^dlq-/i.test(k));
        h.set('Dlq-Redrive-Batch', batchId);
        await deps.js.publish(item.originalSubject, m.data, { headers: h, msgID: item.newMsgId });
        await recordAudit(deps.db, batchId, item, options.actor, false);
        await deps.jsm.streams.deleteMessage(deps.names.streams.deadletter, item.seq);
        result.redriven++;
      }
    } else if (!item.skipped) {
      await recordAudit(deps.db, batchId, item, options.actor, true);
    }
    done++;
    options.onProgress?.(done, items.length, item);
  }
  return result;
}

async function recordAudit(
  db: SqlClient,
  batchId: string,
  item: RedriveItem,
  actor: string,
  dryRun: boolean,
): Promise<void> {
  await db.$executeRawUnsafe(
    `INSERT INTO deadletter_redrives
       (batch_id, deadletter_seq, original_subject, original_seq, new_msg_id, reason, actor, dry_run)
     VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8)`,
    batchId,
    item.seq,
    item.originalSubject,
    item.originalSeq,
    item.newMsgId,
    item.reason,
    actor,
    dryRun,
  );
}
