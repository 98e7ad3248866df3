// Test traffic for the notification scenarios: valid user.signed_up envelopes with fresh ids
// (a reused id would be deduplicated by JetStream and by the delivery ledger), published the way
// the outbox relay publishes them (Nats-Msg-Id = event id), acks awaited in windows.
import { randomUUID } from 'node:crypto';
import { makeEnvelope, type UserSignedUpV1 } from '@app/contracts';
import type { JetStreamClient } from '@nats-io/jetstream';

export function signupEnvelope(i: number): UserSignedUpV1 {
  const userId = randomUUID();
  return makeEnvelope('user.signed_up', 1, {
    userId,
    email: `bench-${userId.slice(0, 8)}-${i}@example.com`,
    displayName: `Bench User ${i}`,
  });
}

export async function publishSignups(
  js: JetStreamClient,
  subject: string,
  count: number,
  window = 1000,
): Promise<void> {
  for (let start = 0; start < count; start += window) {
    const acks: Array<Promise<unknown>> = [];
    for (let i = start; i < Math.min(count, start + window); i++) {
      const event = signupEnvelope(i);
      acks.push(js.publish(subject, JSON.stringify(event), { msgID: event.id }));
    }
    await Promise.all(acks);
  }
}
