// The JetStream consumer loop against the real NATS: each outcome a handler can return, a throwing
// handler, the concurrency bound, working() for slow handlers, stop() with its grace period and its
// onPullStopped hook, settlements sent together, and a consumer that appears after the loop
// started. Every wait is on an event, with a generous bound.
import { AckPolicy, jetstream, type JsMsg } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Logger } from '@app/contracts';
import { isolatedNats, type IsolatedNats } from '@app/testing';
import t, { type Test } from 'tap';
import {
  settle,
  startConsumerLoop,
  supportsTermReason,
  type ConsumerLoopOptions,
  type Settle,
} from '../src/index.js';

const WAIT_MS = 20_000;

interface Fixture {
  nats: IsolatedNats;
  stream: string;
  subject: string;
  consumer: string;
  publish(n?: number): Promise<void>;
}

/** A stream of its own and a durable consumer on it (unless `withConsumer` is false). */
async function fixture(
  t: Test,
  consumerConfig: { ack_wait?: number; withConsumer?: boolean } = {},
): Promise<Fixture> {
  const nats = await isolatedNats(t);
  const stream = `${nats.namespace.toUpperCase()}_LOOP`;
  const subject = `${nats.namespace}.loop.event`;
  const consumer = 'loop-test';
  await nats.jsm.streams.add({ name: stream, subjects: [`${nats.namespace}.loop.>`] });
  const f: Fixture = {
    nats,
    stream,
    subject,
    consumer,
    async publish(n = 1) {
      for (let i = 0; i < n; i++) await nats.js.publish(subject, JSON.stringify({ i }));
    },
  };
  if (consumerConfig.withConsumer !== false) await addConsumer(f, consumerConfig.ack_wait);
  return f;
}

async function addConsumer(f: Fixture, ackWaitMs = 30_000): Promise<void> {
  await f.nats.jsm.consumers.add(f.stream, {
    durable_name: f.consumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWaitMs * 1_000_000,
    max_deliver: 20,
  });
}

/** A Logger keeping each line, and a wait for the first line with a given message. */
function recordingLogger() {
  const lines: Array<{ level: string; msg: string | undefined; obj: object }> = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, msg, obj });
    };
  const log: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
  return { log, lines };
}

/** Starts a loop on the fixture, stopped in teardown; `settled` collects every settlement. */
function loop(
  t: Test,
  f: Fixture,
  o: Partial<ConsumerLoopOptions> & Pick<ConsumerLoopOptions, 'handle'>,
) {
  const { log, lines } = recordingLogger();
  const settled: Array<{ seq: number; deliveryCount: number; s: Settle }> = [];
  const waiters: Array<() => void> = [];
  const l = startConsumerLoop({
    nc: f.nats.nc,
    js: f.nats.js,
    stream: f.stream,
    consumer: f.consumer,
    log,
    retryMs: 200,
    ...o,
    onSettled(m, s, durationMs) {
      settled.push({ seq: m.info.streamSequence, deliveryCount: m.info.deliveryCount, s });
      o.onSettled?.(m, s, durationMs);
      for (const w of waiters.splice(0)) w();
    },
  });
  t.teardown(() => l.stop(1000));
  /** Resolves once `n` settlements were seen. */
  const settledCount = (n: number) =>
    bounded(
      new Promise<void>((resolve) => {
        const check = () => (settled.length >= n ? resolve() : waiters.push(check));
        check();
      }),
      `${n} settlements`,
    );
  return { loop: l, lines, settled, settledCount };
}

function bounded<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * The consumer's state once the server has processed every ack (acks are fire-and-forget, so an
 * info request can overtake them): resolves when nothing is pending or unacknowledged.
 */
async function drainedState(f: Fixture) {
  return bounded(
    (async () => {
      for (;;) {
        const info = await f.nats.jsm.consumers.info(f.stream, f.consumer);
        if (info.num_pending === 0 && info.num_ack_pending === 0) {
          return { redelivered: info.num_redelivered };
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })(),
    'every message settled on the server',
  );
}

/** Starts a loop and waits until it pulls (the fixture's consumer exists). */
async function consumingLoop(
  t: Test,
  f: Fixture,
  o: Partial<ConsumerLoopOptions> & Pick<ConsumerLoopOptions, 'handle'>,
) {
  const run = loop(t, f, o);
  await bounded(run.loop.consuming(), 'consuming');
  return run;
}

/**
 * One message whose first delivery ends with `fail` and whose second is acked; resolves once both
 * settled, with how long after the failure the redelivery came.
 */
async function failOnce(
  t: Test,
  fail: () => Promise<Settle>,
  o: Partial<ConsumerLoopOptions> = {},
) {
  const f = await fixture(t);
  let failedAt = 0;
  let retriedAfterMs = 0;
  const run = await consumingLoop(t, f, {
    ...o,
    handle: async (m) => {
      if (m.info.deliveryCount === 1) {
        failedAt = Date.now();
        return fail();
      }
      retriedAfterMs = Date.now() - failedAt;
      return settle.ack();
    },
  });
  await f.publish();
  await run.settledCount(2);
  return { ...run, retriedAfterMs };
}

void t.test('supportsTermReason: from nats-server 2.10.4 on', async (t) => {
  t.notOk(supportsTermReason('2.9.10'));
  t.notOk(supportsTermReason('2.10.0'));
  t.notOk(supportsTermReason('2.10.3'));
  t.ok(supportsTermReason('2.10.4'));
  t.ok(supportsTermReason('2.10.22'));
  t.ok(supportsTermReason('2.11.0'));
  t.ok(supportsTermReason('3.0.0'));
  t.notOk(supportsTermReason(undefined), 'unknown: the safe answer');
  t.notOk(supportsTermReason('garbage'));
});

void t.test('ack: the message is settled once and not redelivered', async (t) => {
  const f = await fixture(t);
  const seen: JsMsg[] = [];
  const {
    loop: l,
    settled,
    settledCount,
  } = await consumingLoop(t, f, {
    handle: async (m) => {
      seen.push(m);
      return settle.ack();
    },
  });
  await f.publish(3);
  await settledCount(3);
  t.same(
    settled.map((s) => s.s.kind),
    ['ack', 'ack', 'ack'],
  );
  await l.stop();
  t.same(await drainedState(f), { redelivered: 0 });
  t.equal(seen.length, 3, 'each message handled once');
});

void t.test('nak(delay): redelivered, no sooner than the delay', async (t) => {
  const delayMs = 1500;
  const { settled, retriedAfterMs } = await failOnce(t, async () => settle.nak(delayMs));
  t.same(
    settled.map((s) => [s.deliveryCount, s.s.kind]),
    [
      [1, 'nak'],
      [2, 'ack'],
    ],
  );
  // A lower bound only: a loaded machine can make the redelivery later, never earlier.
  t.ok(retriedAfterMs >= delayMs - 100, `redelivered after ${retriedAfterMs} ms`);
});

void t.test('term: not redelivered, and the server reports the termination', async (t) => {
  const f = await fixture(t);
  const advisory = f.nats.nc.subscribe(
    `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${f.stream}.${f.consumer}`,
    { max: 1 },
  );
  const terminated = (async () => {
    for await (const m of advisory) return m.json<{ stream_seq: number; deliveries: number }>();
    throw new Error('advisory subscription ended');
  })();
  let calls = 0;
  const { loop: l } = await consumingLoop(t, f, {
    handle: async () => {
      calls++;
      return settle.term('can never succeed');
    },
  });
  await f.publish();
  // On servers before 2.10.4 a `+TERM <reason>` is ignored and redelivered: the advisory proves
  // the loop chose the form this server understands.
  const a = await bounded(terminated, 'the MSG_TERMINATED advisory');
  t.equal(a.stream_seq, 1);
  t.equal(a.deliveries, 1);
  await l.stop();
  t.same(await drainedState(f), { redelivered: 0 });
  t.equal(calls, 1, 'handled once');
});

void t.test('a throwing handler is nak-ed on the backoff schedule', async (t) => {
  const baseMs = 1000;
  const { settled, lines, retriedAfterMs } = await failOnce(
    t,
    async () => {
      throw new Error('database hiccup');
    },
    { backoff: { baseMs, maxMs: 5000 } },
  );
  t.same(settled[0]?.s, { kind: 'nak', delayMs: baseMs }, 'attempt 1: the base delay');
  t.equal(settled[1]?.s.kind, 'ack');
  t.ok(retriedAfterMs >= baseMs - 100, `retried after ${retriedAfterMs} ms`);
  const warn = lines.find((l) => l.msg === 'message handler failed: nak after backoff');
  t.match(warn?.obj, {
    seq: 1,
    deliveryCount: 1,
    delayMs: baseMs,
    err: { message: 'database hiccup' },
  });
});

void t.test('no more than `concurrency` handlers run at once', async (t) => {
  const f = await fixture(t);
  const concurrency = 3;
  let running = 0;
  let most = 0;
  const gates: Array<() => void> = [];
  const full = deferred();
  const { loop: l, settledCount } = await consumingLoop(t, f, {
    concurrency,
    handle: async () => {
      running++;
      most = Math.max(most, running);
      if (running === concurrency) full.resolve();
      await new Promise<void>((resolve) => gates.push(resolve));
      running--;
      return settle.ack();
    },
  });
  await f.publish(12);
  await bounded(full.promise, `${concurrency} handlers running`);
  t.equal(l.inFlight, concurrency);
  // Release one handler at a time; the next may start only after one has finished.
  const release = setInterval(() => gates.shift()?.(), 20);
  t.teardown(() => clearInterval(release));
  await settledCount(12);
  t.equal(most, concurrency, `at most ${concurrency} at once`);
});

void t.test('heartbeatMs: a handler slower than ack_wait is not redelivered', async (t) => {
  const f = await fixture(t, { ack_wait: 3000 });
  let calls = 0;
  const { settledCount, settled } = await consumingLoop(t, f, {
    heartbeatMs: 150,
    handle: async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 7000));
      return settle.ack();
    },
  });
  await f.publish();
  await settledCount(1);
  t.equal(settled[0]?.deliveryCount, 1);
  t.equal(calls, 1, 'no second delivery while the first was working');
  t.same(await drainedState(f), { redelivered: 0 });
});

void t.test('stop(): in-flight handlers finish within the grace, the rest is nak-ed', async (t) => {
  const f = await fixture(t);
  const quick = deferred();
  const started = deferred();
  let handling = 0;
  const first = await consumingLoop(t, f, {
    concurrency: 2,
    handle: async (m) => {
      if (++handling === 2) started.resolve();
      // Message 1 finishes once released; message 2 never does.
      if (m.info.streamSequence === 1) {
        await quick.promise;
        return settle.ack();
      }
      return new Promise<Settle>(() => undefined);
    },
  });
  await f.publish(2);
  await bounded(started.promise, 'both handlers running');
  // A grace long enough for the released handler to settle however loaded the machine.
  const stopped = first.loop.stop(5000);
  quick.resolve();
  await bounded(stopped, 'stop');
  t.same(
    first.settled.map((s) => [s.seq, s.s.kind]),
    [
      [1, 'ack'],
      [2, 'nak'],
    ],
    'the quick one acked, the hung one nak-ed at the end of the grace',
  );
  t.ok(
    first.lines.some((l) => l.msg === 'grace period over: in-flight messages nak-ed'),
    'the nak at the end of the grace is logged',
  );

  const second = loop(t, f, { handle: async () => settle.ack() });
  await second.settledCount(1);
  t.same(
    second.settled.map((s) => s.seq),
    [2],
    'another loop gets the nak-ed message (well before ack_wait), and only that one',
  );
});

void t.test(
  'stop(): onPullStopped runs once the pull ended, before handlers are awaited',
  async (t) => {
    const f = await fixture(t);
    const handedBack = deferred();
    const holding = deferred();
    let held = 0;
    let dispatchedAfterHook = false;
    let hookCalled = false;
    const first = await consumingLoop(t, f, {
      concurrency: 4,
      // Each handler holds its message until the hook says the loop is stopping.
      handle: async () => {
        if (hookCalled) dispatchedAfterHook = true;
        if (++held === 3) holding.resolve();
        await handedBack.promise;
        return settle.nak(0);
      },
      onPullStopped: () => {
        hookCalled = true;
        handedBack.resolve();
      },
    });
    await f.publish(3);
    await bounded(holding.promise, 'three messages held');
    // A grace far longer than the bounded wait: only the hook can end the handlers in time.
    await bounded(first.loop.stop(60_000), 'stop');
    t.ok(hookCalled, 'the hook ran');
    t.notOk(dispatchedAfterHook, 'no message was handed to a handler after it');
    t.same(
      first.settled.map((s) => s.s.kind),
      ['nak', 'nak', 'nak'],
      'the held messages were handed back',
    );
    t.notOk(
      first.lines.some((l) => l.msg === 'grace period over: in-flight messages nak-ed'),
      'without waiting for the grace period',
    );
  },
);

void t.test('settlements made in one turn are all sent', async (t) => {
  const f = await fixture(t);
  const gate = deferred();
  let waiting = 0;
  const all = deferred();
  const {
    loop: l,
    settledCount,
    settled,
  } = await consumingLoop(t, f, {
    concurrency: 10,
    // Ten handlers finish in the same turn (one gate), as a batch of database rows would.
    handle: async () => {
      if (++waiting === 10) all.resolve();
      await gate.promise;
      return settle.ack();
    },
  });
  await f.publish(10);
  await bounded(all.promise, 'ten handlers waiting');
  gate.resolve();
  await settledCount(10);
  t.same(
    settled.map((s) => s.s.kind),
    Array.from({ length: 10 }, () => 'ack'),
  );
  await l.stop();
  t.same(await drainedState(f), { redelivered: 0 }, 'every ack reached the server');
});

void t.test('a missing consumer is retried until it appears', async (t) => {
  const f = await fixture(t, { withConsumer: false });
  const { loop: l, lines, settledCount } = loop(t, f, { handle: async () => settle.ack() });
  const retried = () => lines.some((l) => l.msg === 'consumer unavailable; retrying');
  await bounded(
    (async () => {
      while (!retried()) await new Promise((resolve) => setTimeout(resolve, 50));
    })(),
    'a retry log line',
  );
  await addConsumer(f);
  await bounded(l.consuming(), 'consuming once the consumer exists');
  await f.publish();
  await settledCount(1);
  t.pass('the message was handled');
});

void t.test('stop() before the loop ever pulled rejects consuming()', async (t) => {
  const f = await fixture(t, { withConsumer: false });
  const { loop: l } = loop(t, f, { handle: async () => settle.ack() });
  await l.stop();
  await t.rejects(l.consuming(), /stopped before it consumed/);
});

void t.test('a connection closed under the loop: stop() still resolves', async (t) => {
  const f = await fixture(t);
  const nc = await connect({ servers: f.nats.url });
  const release = deferred();
  const started = deferred();
  let handled = false;
  const { log, lines } = recordingLogger();
  const l = startConsumerLoop({
    nc,
    js: jetstream(nc),
    stream: f.stream,
    consumer: f.consumer,
    log,
    heartbeatMs: 100,
    handle: async () => {
      started.resolve();
      await release.promise;
      handled = true;
      return settle.ack();
    },
  });
  await bounded(l.consuming(), 'consuming');
  await f.publish();
  await bounded(started.promise, 'the handler running');
  await nc.close();
  release.resolve();
  await bounded(l.stop(1000), 'stop');
  t.ok(handled, 'the handler finished');
  t.equal(l.inFlight, 0);
  t.ok(lines.some((line) => line.msg === 'consumer loop stopped'));
});
