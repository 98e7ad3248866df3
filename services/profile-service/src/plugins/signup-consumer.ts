// The `profile-cache` durable consumer: for each `user.signed_up`, drop the negative-cache entry of
// the new user's id, so that the first read after a signup is a 200 and not a cached 404. The
// consumer is declared in @app/contracts' topology and provisioned by `pnpm nats:provision`; until
// it exists (or while NATS is down) this loop retries in the background, and reads still work.
import { names, UserSignedUpV1, validate } from '@app/contracts';
import type { JsMsg } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface SignupConsumerOptions {
  namespace: string;
  /** Pause before retrying after the consumer is missing or the connection fails. */
  retryMs?: number;
}

const NAK_DELAYS_MS = [500, 2000, 5000, 15_000, 30_000];

export const signupConsumerPlugin = fp<SignupConsumerOptions>(
  async (app: FastifyInstance, options) => {
    const n = names(options.namespace);
    const log = app.log.child({ consumer: n.consumers.profileCache });
    const retryMs = options.retryMs ?? 2000;
    let closing = false;
    let stopCurrent: (() => Promise<void>) | undefined;
    let wake: (() => void) | undefined;

    const handle = async (m: JsMsg) => {
      const traceparent = m.headers?.get('traceparent') || undefined;
      let body: unknown;
      try {
        body = m.json();
      } catch {
        log.warn({ seq: m.seq, traceparent }, 'user.signed_up is not JSON: terminated');
        m.term();
        return;
      }
      const checked = validate(UserSignedUpV1, body);
      if (!checked.ok) {
        log.warn(
          { seq: m.seq, traceparent, errors: checked.errors },
          'invalid user.signed_up: terminated',
        );
        m.term();
        return;
      }
      const event = checked.value;
      try {
        const cleared = await app.profiles.clearNegative(event.data.userId);
        m.ack();
        log.info(
          { eventId: event.id, traceparent, cleared },
          'signup seen: negative entry dropped',
        );
      } catch (err) {
        const delay = NAK_DELAYS_MS[Math.min(m.info.deliveryCount - 1, NAK_DELAYS_MS.length - 1)]!;
        log.warn({ err, eventId: event.id, traceparent, delay }, 'redis unavailable: nak');
        m.nak(delay);
      }
    };

    const run = async () => {
      await app.nats.whenConnected();
      while (!closing) {
        try {
          const consumer = await app.nats.js.consumers.get(
            n.streams.users,
            n.consumers.profileCache,
          );
          const messages = await consumer.consume({ max_messages: 64 });
          stopCurrent = async () => {
            await messages.close();
          };
          if (closing) break;
          log.info('consuming user.signed_up');
          for await (const m of messages) await handle(m);
        } catch (err) {
          if (closing) break;
          log.warn({ err }, 'profile-cache consumer unavailable; retrying');
        }
        if (closing) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, retryMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    };

    const loop = run();
    app.addHook('onClose', async () => {
      closing = true;
      wake?.();
      await stopCurrent?.().catch(() => undefined);
      await loop;
    });
  },
  { name: 'signup-consumer', fastify: '5.x', dependencies: ['nats', 'profiles'] },
);
