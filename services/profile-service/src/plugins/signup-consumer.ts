// The `profile-cache` durable consumer: for each `user.signed_up`, drop the negative-cache entry of
// the new user's id, so that the first read after a signup is a 200 and not a cached 404. Runs on
// platform's consumer loop; the consumer is declared in @app/contracts' topology and provisioned
// by `pnpm nats:provision`, and until it exists (or while NATS is down) the loop retries in the
// background while reads still work.
import { names, UserSignedUpV1, validate } from '@app/contracts';
import {
  consumerMetrics,
  settle,
  startConsumerLoop,
  type ConsumerLoop,
  type Settle,
} from '@app/platform';
import type { JsMsg } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface SignupConsumerOptions {
  namespace: string;
  /** Pause before retrying after the consumer is missing or the connection fails. */
  retryMs?: number;
}

export const signupConsumerPlugin = fp<SignupConsumerOptions>(
  async (app: FastifyInstance, options) => {
    const n = names(options.namespace);
    const log = app.log.child({ consumer: n.consumers.profileCache });

    const handle = async (m: JsMsg): Promise<Settle> => {
      const traceparent = m.headers?.get('traceparent') || undefined;
      let body: unknown;
      try {
        body = m.json();
      } catch {
        log.warn({ seq: m.seq, traceparent }, 'user.signed_up is not JSON: terminated');
        return settle.term('not JSON');
      }
      const checked = validate(UserSignedUpV1, body);
      if (!checked.ok) {
        log.warn(
          { seq: m.seq, traceparent, errors: checked.errors },
          'invalid user.signed_up: terminated',
        );
        return settle.term('invalid user.signed_up');
      }
      const event = checked.value;
      // A throw (Redis unavailable) is the loop's transient failure: nak on its backoff schedule.
      const cleared = await app.profiles.clearNegative(event.data.userId);
      log.info({ eventId: event.id, traceparent, cleared }, 'signup seen: negative entry dropped');
      return settle.ack();
    };

    consumerMetrics(app, [{ stream: n.streams.users, consumer: n.consumers.profileCache }]);
    let closing = false;
    let loop: ConsumerLoop | undefined;
    void app.nats.whenConnected().then(() => {
      if (closing || !app.nats.connected) return;
      loop = startConsumerLoop({
        nc: app.nats.nc,
        js: app.nats.js,
        stream: n.streams.users,
        consumer: n.consumers.profileCache,
        log,
        handle,
        ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
      });
    });
    app.addHook('onClose', async () => {
      // Not started yet (NATS never came): nothing to stop, and it will not start now.
      closing = true;
      await loop?.stop();
    });
  },
  { name: 'signup-consumer', fastify: '5.x', dependencies: ['nats', 'profiles'] },
);
