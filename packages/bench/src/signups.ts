// What the signup scenarios share: signup-service started with a stated KDF cost and its rate
// limit out of the way (the bench is one client sending hundreds of signups a second), unique
// signup bodies, and a watcher that notes when each user's user.signed_up event reaches the stream.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Names } from '@app/contracts';
import { AckPolicy, DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import type { BenchEnv } from './environment.js';
import type { ScenarioContext } from './harness.js';
import { startService, type RunningService } from './services.js';

/** scrypt cost used by the signup benchmarks: N = 2^10 (1 MiB), the lowest the service accepts. */
export const BENCH_SCRYPT_LOG_N = 10;

export function startSignupService(
  ctx: ScenarioContext,
  env: BenchEnv,
  extra: Record<string, string> = {},
  label = 'signup-service',
): Promise<RunningService> {
  return startService(
    ctx,
    env,
    'signup-service',
    {
      SIGNUP_SCRYPT_LOG_N: String(BENCH_SCRYPT_LOG_N),
      SIGNUP_RATE_SIGNUP_MAX: '100000000',
      SIGNUP_REDIS_PREFIX: `${env.redisPrefix}signup:`,
      ...extra,
    },
    label,
  );
}

export function signupBody(): { email: string; password: string; displayName: string } {
  const id = randomUUID();
  return {
    email: `bench-${id}@example.com`,
    password: `pw-${id.slice(0, 12)}-9`,
    displayName: `Bench ${id.slice(0, 8)}`,
  };
}

/** Records performance.now() at which each userId's user.signed_up arrived from the stream. */
export class EventWatcher {
  readonly arrivals = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;

  static async start(env: BenchEnv, names: Names): Promise<EventWatcher> {
    const watcher = new EventWatcher();
    const durable = 'bench-event-watcher';
    // A plain pull consumer with one filter subject (what nats-server 2.9 supports), no acks.
    await env.nats.jsm.consumers.add(names.streams.users, {
      durable_name: durable,
      filter_subject: names.subjects.userSignedUp,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.New,
    });
    const consumer = await env.nats.js.consumers.get(names.streams.users, durable);
    watcher.messages = await consumer.consume({ max_messages: 1000 });
    const messages = watcher.messages;
    watcher.loop = (async () => {
      for await (const m of messages) {
        const at = performance.now();
        const event = m.json<{ data?: { userId?: string } }>();
        if (event.data?.userId) watcher.arrivals.set(event.data.userId, at);
        for (const wake of watcher.waiters) wake();
      }
    })();
    return watcher;
  }

  /** Resolves once every id has arrived; rejects after timeoutMs naming how many are missing. */
  waitFor(ids: readonly string[], timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ids.every((id) => this.arrivals.has(id))) {
          finish();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        finish();
        const missing = ids.filter((id) => !this.arrivals.has(id)).length;
        reject(
          new Error(
            `${missing} of ${ids.length} user.signed_up events did not reach the stream within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    await this.messages?.close();
    await this.loop;
  }
}
