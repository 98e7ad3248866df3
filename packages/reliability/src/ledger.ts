// Counting what the system did, from the outside: welcome emails the SMTP sink accepted, dead
// letters in the DEADLETTER stream (the original event byte for byte, so its recipient is known),
// and whether the pipeline has gone quiet (outbox published, consumers with nothing pending). The
// invariant "every 201 -> exactly one email or exactly one dead letter" is checked with these.
import type { System } from './system.js';

export interface DeadLetter {
  seq: number;
  email: string | undefined;
  consumer: string | undefined;
  reason: string | undefined;
  subject: string;
  data: Uint8Array;
}

/** Every dead letter of the welcome-email consumer (DEADLETTER, deadletter.user.welcome.email). */
export async function readDeadLetters(system: System): Promise<DeadLetter[]> {
  const stream = system.names.streams.deadletter;
  const { state } = await system.jsm.streams.info(stream);
  const out: DeadLetter[] = [];
  if (state.messages === 0) return out;
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await system.jsm.streams.getMessage(stream, { seq });
    if (!m) continue;
    let email: string | undefined;
    try {
      const body = JSON.parse(new TextDecoder().decode(m.data)) as { data?: { email?: unknown } };
      if (typeof body.data?.email === 'string') email = body.data.email;
    } catch {
      // A malformed original is a dead letter too; it just has no recipient.
    }
    out.push({
      seq,
      email,
      consumer: m.header?.get('Dlq-Consumer') || undefined,
      reason: m.header?.get('Dlq-Reason') || undefined,
      subject: m.subject,
      data: m.data,
    });
  }
  return out;
}

/** Accepted emails per recipient (lowercased), with their Message-IDs. */
export function emailsByRecipient(system: System): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of system.smtp.messages) {
    for (const to of m.envelopeTo) {
      const key = to.toLowerCase();
      const list = out.get(key) ?? [];
      list.push(m.headers['message-id'] ?? '');
      out.set(key, list);
    }
  }
  return out;
}

export interface Quiet {
  outboxPending: number;
  welcomePending: number;
  welcomeAckPending: number;
  advisoriesPending: number;
}

/** What is still on its way through the pipeline. */
export async function pipelineBacklog(system: System): Promise<Quiet> {
  const { rows } = await system.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox_events WHERE published_at IS NULL',
  );
  const n = system.names;
  const welcome = await system.jsm.consumers.info(n.streams.users, n.consumers.welcomeEmail);
  const dlw = await system.jsm.consumers.info(n.streams.advisories, n.consumers.deadletterWorker);
  return {
    outboxPending: rows[0]?.n ?? 0,
    welcomePending: welcome.num_pending,
    welcomeAckPending: welcome.num_ack_pending,
    advisoriesPending: dlw.num_pending + dlw.num_ack_pending,
  };
}

/** Polls `check` every 200 ms until it returns a value; rejects with `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = `: ${(error as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface Accounting {
  /** Signups answered 201. */
  signups: number;
  /** Of those, with exactly one welcome email and no dead letter. */
  emailed: number;
  /** Of those, with exactly one dead letter and no email. */
  deadLettered: number;
  /** Recipients with more than one email, or an email and a dead letter. */
  duplicates: number;
  /** Duplicates whose emails all carry one Message-ID (the documented crash window). */
  sameMessageIdDuplicates: number;
  /** 201s with neither an email nor a dead letter. */
  lost: number;
  /** Emails for signups that did not get a 201 (the answer was lost, the user exists). */
  unanswered: number;
  lostEmails: string[];
  duplicateEmails: string[];
}

/** The invariant, counted for `emails` (201s) and `otherEmails` (signups without a 201). */
export async function account(
  system: System,
  answered: string[],
  notAnswered: string[] = [],
): Promise<Accounting> {
  const byRecipient = emailsByRecipient(system);
  const dls = await readDeadLetters(system);
  const welcome = system.names.consumers.welcomeEmail;
  const dlByRecipient = new Map<string, number>();
  for (const d of dls) {
    if (!d.email || (d.consumer && d.consumer !== welcome)) continue;
    const key = d.email.toLowerCase();
    dlByRecipient.set(key, (dlByRecipient.get(key) ?? 0) + 1);
  }
  const result: Accounting = {
    signups: answered.length,
    emailed: 0,
    deadLettered: 0,
    duplicates: 0,
    sameMessageIdDuplicates: 0,
    lost: 0,
    unanswered: 0,
    lostEmails: [],
    duplicateEmails: [],
  };
  for (const email of answered) {
    const key = email.toLowerCase();
    const mails = byRecipient.get(key) ?? [];
    const dl = dlByRecipient.get(key) ?? 0;
    if (mails.length + dl === 0) {
      result.lost++;
      result.lostEmails.push(email);
    } else if (mails.length + dl > 1) {
      result.duplicates++;
      result.duplicateEmails.push(email);
      if (dl === 0 && new Set(mails).size === 1) result.sameMessageIdDuplicates++;
    } else if (mails.length === 1) result.emailed++;
    else result.deadLettered++;
  }
  for (const email of notAnswered) {
    if ((byRecipient.get(email.toLowerCase()) ?? []).length > 0) result.unanswered++;
  }
  return result;
}

/**
 * Waits until every 201 is accounted for (email or dead letter) and nothing is left in the
 * pipeline, so that the counts are final: a duplicate would have been sent by then.
 */
export async function settle(system: System, answered: string[], timeoutMs: number): Promise<void> {
  await waitFor(
    `every signup answered 201 gets its email or dead letter, and the pipeline is empty`,
    async () => {
      const backlog = await pipelineBacklog(system);
      if (
        backlog.outboxPending +
          backlog.welcomePending +
          backlog.welcomeAckPending +
          backlog.advisoriesPending >
        0
      ) {
        return false;
      }
      const a = await account(system, answered);
      return a.lost === 0 ? a : false;
    },
    timeoutMs,
  );
}
