// The dead-letter stream as the console shows it: each dead letter's Dlq-* headers read into a
// view (where it came from, why, how often it was delivered, its trace), grouped by reason
// signature, filtered like notification-service's admin API filters (original subject with NATS
// wildcards, a case-insensitive substring of the reason, a time range), and one message in full
// for its detail page. Reading is bounded: at most the newest `scanMax` dead letters, fetched a
// few at a time, and kept until the stream changes (its first/last sequence or message count), so
// refreshing a page does not read the stream again.
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { DLQ_HEADERS, subjectMatches } from '@app/contracts';
import { reasonSignature, signatureId } from './signature.js';

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
  /** `max_deliveries` or `terminated`: which advisory made it a dead letter. */
  advisory: string | null;
  traceparent: string | null;
  /** The trace id of `traceparent` (its second field). */
  traceId: string | null;
  size: number;
  signature: string;
  groupId: string;
}

export interface DeadLetterGroup {
  id: string;
  signature: string;
  /** One full reason of the group, as recorded. */
  example: string | null;
  count: number;
  firstSeen: string;
  lastSeen: string;
  seqs: number[];
  subjects: string[];
  consumers: string[];
}

export interface DeadLetterFilter {
  subject?: string | undefined;
  reason?: string | undefined;
  /** Dead-lettered at or after (ISO 8601). */
  since?: string | undefined;
  /** Dead-lettered before (ISO 8601). */
  until?: string | undefined;
  group?: string | undefined;
}

export interface Scan {
  /** The stream's message count (the scan may hold fewer: the newest `scanMax`). */
  total: number;
  items: DeadLetterView[];
  /** True when older dead letters were left out of the scan. */
  truncated: boolean;
}

const numberOrNull = (v: string) => (v === '' || !/^\d+$/.test(v) ? null : Number(v));

export function traceIdOf(traceparent: string | null): string | null {
  const m = traceparent
    ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent)
    : null;
  return m?.[1] ?? null;
}

export function viewOf(m: StoredMsg): DeadLetterView {
  const get = (k: string) => (m.header ? m.header.get(k) : '');
  const reason = get(DLQ_HEADERS.reason) || null;
  const signature = reasonSignature(reason);
  const traceparent = get('traceparent') || null;
  return {
    seq: m.seq,
    subject: m.subject,
    deadLetteredAt: m.time.toISOString(),
    originalSubject: get(DLQ_HEADERS.originalSubject) || null,
    originalStream: get(DLQ_HEADERS.originalStream) || null,
    originalSeq: numberOrNull(get(DLQ_HEADERS.originalSeq)),
    originalTime: get(DLQ_HEADERS.originalTime) || null,
    consumer: get(DLQ_HEADERS.consumer) || null,
    deliveries: numberOrNull(get(DLQ_HEADERS.deliveries)),
    reason,
    advisory: get(DLQ_HEADERS.advisory) || null,
    traceparent,
    traceId: traceIdOf(traceparent),
    size: m.data.length,
    signature,
    groupId: signatureId(signature),
  };
}

/** The groups of `items` by reason signature, largest first (then the most recent). */
export function groupDeadLetters(items: DeadLetterView[]): DeadLetterGroup[] {
  const groups = new Map<string, DeadLetterGroup>();
  for (const item of items) {
    let g = groups.get(item.groupId);
    if (!g) {
      g = {
        id: item.groupId,
        signature: item.signature,
        example: item.reason,
        count: 0,
        firstSeen: item.deadLetteredAt,
        lastSeen: item.deadLetteredAt,
        seqs: [],
        subjects: [],
        consumers: [],
      };
      groups.set(item.groupId, g);
    }
    g.count++;
    g.seqs.push(item.seq);
    if (item.deadLetteredAt < g.firstSeen) g.firstSeen = item.deadLetteredAt;
    if (item.deadLetteredAt > g.lastSeen) g.lastSeen = item.deadLetteredAt;
    const subject = item.originalSubject ?? '(unknown)';
    if (!g.subjects.includes(subject)) g.subjects.push(subject);
    const consumer = item.consumer ?? '(unknown)';
    if (!g.consumers.includes(consumer)) g.consumers.push(consumer);
  }
  return [...groups.values()].sort(
    (a, b) => b.count - a.count || (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : 0),
  );
}

/** Problems with a filter's values, one sentence each (empty: fine). */
export function checkFilter(filter: DeadLetterFilter): string[] {
  const problems: string[] = [];
  for (const key of ['since', 'until'] as const) {
    const v = filter[key];
    if (v !== undefined && Number.isNaN(Date.parse(v))) {
      problems.push(`${key}: expected a date and time, got "${v}"`);
    }
  }
  if (filter.since && filter.until && Date.parse(filter.since) > Date.parse(filter.until)) {
    problems.push('since is after until');
  }
  return problems;
}

/** Whether a dead letter passes a filter (the admin API's semantics, plus the console's group). */
export function matchesFilter(item: DeadLetterView, filter: DeadLetterFilter): boolean {
  const t = Date.parse(item.deadLetteredAt);
  if (filter.since && t < Date.parse(filter.since)) return false;
  if (filter.until && t >= Date.parse(filter.until)) return false;
  if (filter.subject && !subjectMatches(filter.subject, item.originalSubject ?? '')) return false;
  if (filter.reason && !(item.reason ?? '').toLowerCase().includes(filter.reason.toLowerCase())) {
    return false;
  }
  if (filter.group && item.groupId !== filter.group) return false;
  return true;
}

export interface DeadLetterReaderOptions {
  jsm: () => JetStreamManager;
  stream: string;
  scanMax: number;
  /** Reads in flight at once while scanning. */
  concurrency?: number;
}

export class DeadLetterReader {
  private cache: { key: string; scan: Scan } | undefined;
  private inflight: Promise<Scan> | undefined;

  constructor(private readonly o: DeadLetterReaderOptions) {}

  /** Every dead letter of the scan window, oldest first; concurrent callers share one read. */
  scan(): Promise<Scan> {
    this.inflight ??= this.read().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async read(): Promise<Scan> {
    const jsm = this.o.jsm();
    const { state } = await jsm.streams.info(this.o.stream);
    const key = `${state.first_seq}:${state.last_seq}:${state.messages}`;
    if (this.cache?.key === key) return this.cache.scan;
    if (state.messages === 0) {
      const scan = { total: 0, items: [], truncated: false };
      this.cache = { key, scan };
      return scan;
    }
    // Deleted sequences (redriven dead letters) are gaps: look further back for them, boundedly.
    // num_deleted is left out of stream info when there is none.
    const span = Math.min(this.o.scanMax + (state.num_deleted ?? 0), this.o.scanMax * 4);
    const from = Math.max(state.first_seq, state.last_seq - span + 1);
    const seqs: number[] = [];
    for (let s = from; s <= state.last_seq; s++) seqs.push(s);
    const found: DeadLetterView[] = [];
    let next = 0;
    const worker = async () => {
      while (next < seqs.length) {
        const seq = seqs[next++]!;
        // null: deleted (a redriven dead letter leaves a gap).
        const m = await jsm.streams.getMessage(this.o.stream, { seq });
        if (m) found.push(viewOf(m));
      }
    };
    await Promise.all(Array.from({ length: this.o.concurrency ?? 16 }, worker));
    found.sort((a, b) => a.seq - b.seq);
    const items = found.slice(-this.o.scanMax);
    const scan = { total: state.messages, items, truncated: state.messages > items.length };
    this.cache = { key, scan };
    return scan;
  }

  /** One dead letter with its headers and payload; null when it is gone (redriven). */
  async message(seq: number): Promise<StoredMsg | null> {
    return this.o.jsm().streams.getMessage(this.o.stream, { seq });
  }
}
