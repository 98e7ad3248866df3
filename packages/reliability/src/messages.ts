// Bad messages on the bus: malformed, oversized and wrong-schema payloads published straight onto
// USERS' user.signed_up subject, as a buggy or hostile producer would. Each must end in the
// dead-letter stream (welcome-email consumer, reason invalid_payload) and the consumer must keep
// going: a valid event published after all of them still gets its welcome email.
import { randomUUID } from 'node:crypto';
import { makeEnvelope } from '@app/contracts';
import { readDeadLetters, waitFor } from './ledger.js';
import type { System } from './system.js';

export interface BadMessage {
  name: string;
  data: Uint8Array | string;
}

const valid = () =>
  makeEnvelope('user.signed_up', 1, {
    userId: randomUUID(),
    email: `bus-${randomUUID().slice(0, 8)}@reliability.example`,
    displayName: 'Bus',
  });

export function badMessages(): BadMessage[] {
  const v = valid();
  return [
    { name: 'empty payload', data: '' },
    { name: 'not JSON', data: '{"id":' },
    { name: 'binary garbage', data: new Uint8Array([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]) },
    { name: 'JSON null', data: 'null' },
    { name: 'JSON array', data: '[1,2,3]' },
    { name: 'missing data', data: JSON.stringify({ ...v, data: undefined }) },
    { name: 'wrong type', data: JSON.stringify({ ...v, type: 'user.deleted' }) },
    { name: 'wrong version', data: JSON.stringify({ ...v, version: 2 }) },
    { name: 'id not a uuid', data: JSON.stringify({ ...v, id: 'nope' }) },
    {
      name: 'invalid email',
      data: JSON.stringify({ ...v, data: { ...v.data, email: 'not-an-email' } }),
    },
    { name: 'number for email', data: JSON.stringify({ ...v, data: { ...v.data, email: 42 } }) },
    { name: 'extra field', data: JSON.stringify({ ...v, data: { ...v.data, admin: true } }) },
    {
      name: 'oversized (512 KiB displayName)',
      data: JSON.stringify({ ...v, data: { ...v.data, displayName: 'x'.repeat(512 * 1024) } }),
    },
    { name: 'prototype pollution', data: `{"__proto__":{"polluted":true},"id":"${v.id}"}` },
  ];
}

export interface BadMessageResult {
  name: string;
  seq: number;
  deadLettered: boolean;
  reason: string | undefined;
}

/**
 * Publishes every bad message, then one valid event; waits for each bad one's dead letter and the
 * valid one's email (bounded), and reports what happened to each.
 */
export async function publishBadMessages(
  system: System,
  timeoutMs: number,
): Promise<{ results: BadMessageResult[]; validEmailArrived: boolean }> {
  const subject = system.names.subjects.userSignedUp;
  const welcome = system.names.consumers.welcomeEmail;
  const published: Array<{ name: string; seq: number }> = [];
  for (const m of badMessages()) {
    const ack = await system.js.publish(subject, m.data, { msgID: `bad-${randomUUID()}` });
    published.push({ name: m.name, seq: ack.seq });
  }
  const good = valid();
  await system.js.publish(subject, JSON.stringify(good), { msgID: good.id });

  const byOriginalSeq = async () => {
    const dls = await readDeadLetters(system);
    const map = new Map<number, string | undefined>();
    for (const d of dls) {
      if (d.consumer !== welcome) continue;
      const m = await system.jsm.streams.getMessage(system.names.streams.deadletter, {
        seq: d.seq,
      });
      const seq = Number(m?.header?.get('Dlq-Original-Seq'));
      if (Number.isFinite(seq)) map.set(seq, d.reason);
    }
    return map;
  };
  const settled = await waitFor(
    'a dead letter for every bad message',
    async () => {
      const map = await byOriginalSeq();
      return published.every((p) => map.has(p.seq)) ? map : false;
    },
    timeoutMs,
  ).catch(() => byOriginalSeq());
  const validEmailArrived = await waitFor(
    'the welcome email of the valid event published after the bad ones',
    async () => system.smtp.messages.some((m) => m.envelopeTo.includes(good.data.email)),
    timeoutMs,
  ).catch(() => false);
  return {
    results: published.map((p) => ({
      name: p.name,
      seq: p.seq,
      deadLettered: settled.has(p.seq),
      reason: settled.get(p.seq),
    })),
    validEmailArrived,
  };
}
