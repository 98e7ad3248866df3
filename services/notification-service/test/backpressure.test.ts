// Acceptance, backpressure with a real child process: with max_ack_pending = 8 and a slow SMTP
// server, the consumer's ack-pending as the server reports it never exceeds 8, the backlog of
// 20,000 events stays on the server rather than in the process, and the process holds at most 8.
// Its RSS is reported (a comment), not asserted: a loaded machine moves it.
import t from 'tap';
import { publishSignups, spawnService, testEnv } from './helper.js';

void t.test(
  'max_ack_pending 8, slow SMTP, 20,000 waiting: ack-pending <= 8, backlog left on the server',
  async (t) => {
    const env = await testEnv(t, {
      NOTIFY_MAX_ACK_PENDING: '8',
      // More handlers than the server lets through: the server-side limit is what must hold.
      NOTIFY_CONCURRENCY: '32',
      NOTIFY_ACK_WAIT_MS: '10000',
    });
    env.sink.setDelay(40);
    const child = spawnService(t, env.vars);
    const address = await child.address;
    const idleRssKb = await child.rssKb();
    await publishSignups(env.nats.js, env.names, 20_000, { window: 1000 });
    const { jsm } = env.nats;
    const n = env.names;

    const info = () => jsm.consumers.info(n.streams.users, n.consumers.welcomeEmail);
    t.equal((await info()).config.max_ack_pending, 8, 'the consumer was provisioned with 8');

    // Warm-up: the process has loaded everything and is sending at its steady pace.
    await env.sink.waitFor(20, 30_000);
    const samples: Array<{ ackPending: number; pending: number; rssKb: number }> = [];
    const until = Date.now() + 8000;
    while (Date.now() < until) {
      const [ci, rssKb] = await Promise.all([info(), child.rssKb()]);
      samples.push({ ackPending: ci.num_ack_pending, pending: ci.num_pending, rssKb });
      await new Promise((r) => setTimeout(r, 100)); // the sampling period, not a synchronisation
    }
    const maxAckPending = Math.max(...samples.map((s) => s.ackPending));
    t.ok(samples.length >= 20, `${samples.length} samples`);
    t.ok(maxAckPending <= 8, `ack-pending never above 8 (max seen ${maxAckPending})`);
    t.ok(maxAckPending >= 1, 'the consumer was working');
    t.ok(
      Math.min(...samples.map((s) => s.pending)) > 15_000,
      'the backlog stayed waiting on the server',
    );

    const rss = samples.map((s) => s.rssKb);
    const firstHalf = Math.max(...rss.slice(0, rss.length / 2));
    const secondHalf = Math.max(...rss.slice(rss.length / 2));
    t.comment(
      `RSS kB: idle ${idleRssKb}, first half max ${firstHalf}, second half max ${secondHalf}, min ${Math.min(...rss)}`,
    );

    const metrics = await (await fetch(`${address}/metrics`)).text();
    t.match(metrics, /notify_consumer_max_ack_pending\{[^}]*\} 8/);
    const inFlight = Number(/notify_in_flight\{[^}]*\} (\d+)/.exec(metrics)?.[1]);
    t.ok(inFlight <= 8, `the service never holds more than 8 (in flight now: ${inFlight})`);
    child.proc.kill('SIGTERM');
    t.equal((await child.exited).code, 0);
  },
);
