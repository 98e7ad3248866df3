// notify-backlog-memory: notification-service's resident memory while 100,000 events wait on its
// stream (2,000 in smoke). The SMTP sink answers slowly, so the backlog stays for the whole window;
// max_ack_pending and the handler bound mean memory should not depend on the backlog's size. RSS is
// read from /proc for the service's own pid, idle first (the baseline), then under the backlog.
import { startSmtpSink } from '@app/testing';
import { benchEnv, provisionTopology } from '../environment.js';
import { publishSignups } from '../events.js';
import type { Scenario } from '../harness.js';
import { rssBytes } from '../processes.js';
import { startService } from '../services.js';
import { slope } from '../stats.js';

const MB = 1024 * 1024;

async function sampleRss(
  pid: number,
  seconds: number,
  everyMs: number,
  onSample: (mb: number, atS: number) => void,
): Promise<void> {
  const start = Date.now();
  const end = start + seconds * 1000;
  for (let next = start; next <= end; next += everyMs) {
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    onSample((await rssBytes(pid)) / MB, (Date.now() - start) / 1000);
  }
}

export const notifyBacklogMemory: Scenario = {
  name: 'notify-backlog-memory',
  description: 'notification-service RSS over time with 100,000 events waiting (flat?)',
  target: [
    {
      metric: 'rss under backlog',
      op: '<=',
      value: 1.25,
      unit: '× idle',
      text: 'RSS with the backlog within 25% of the idle RSS',
      of: 'ratio',
    },
    {
      metric: 'rss peak under backlog',
      op: '<=',
      value: 1.25,
      unit: '× idle',
      text: 'the highest RSS sampled with the backlog within 25% of the idle RSS',
      of: 'ratio',
    },
  ],
  async run(ctx) {
    const backlog = ctx.smoke ? 2_000 : 100_000;
    const windowS = ctx.smoke ? 3 : 90;
    const idleS = ctx.smoke ? 2 : 15;
    const everyMs = ctx.smoke ? 250 : 1000;
    const env = await benchEnv(ctx);
    const { names } = await provisionTopology(env.nats);
    // 1 s per message: a provider under strain. The backlog drains at ~16/s, so it stays.
    const sink = await startSmtpSink({ delayMs: 1000 });
    ctx.teardown(() => sink.close());
    ctx.metric('rss idle', { unit: 'MB', decimals: 1 });
    ctx.metric('rss under backlog', { unit: 'MB', baseline: 'rss idle', decimals: 1 });
    ctx.metric('rss peak under backlog', { unit: 'MB', baseline: 'rss idle', decimals: 1 });
    // Informational: over a window this short the slope mostly shows where GC cycles fell.
    ctx.metric('rss growth under backlog', { unit: 'MB/min', allowZero: true, decimals: 2 });
    ctx.metric('events waiting at end', { unit: 'events' });

    const service = await startService(ctx, env, 'notification-service', { SMTP_URL: sink.url });
    const pid = service.child.pid;
    await sampleRss(pid, idleS, everyMs, (mb) => ctx.record('rss idle', mb));

    const publishStart = Date.now();
    await service.child.guard(publishSignups(env.nats.js, names.subjects.userSignedUp, backlog));
    ctx.log(`published ${backlog} events in ${((Date.now() - publishStart) / 1000).toFixed(1)} s`);
    const points: Array<{ x: number; y: number }> = [];
    await service.child.guard(
      sampleRss(pid, windowS, everyMs, (mb, atS) => {
        ctx.record('rss under backlog', mb);
        points.push({ x: atS / 60, y: mb });
      }),
    );
    ctx.record('rss peak under backlog', Math.max(...points.map((p) => p.y)));
    ctx.record('rss growth under backlog', slope(points));
    const info = await env.nats.jsm.consumers.info(
      names.streams.users,
      names.consumers.welcomeEmail,
    );
    const waiting = info.num_pending + info.num_ack_pending;
    ctx.record('events waiting at end', waiting);
    ctx.note(
      `notify-backlog-memory: ${backlog.toLocaleString('en-US')} events published at once; SMTP sink answering each message after 1 s; RSS of the service process sampled every ${everyMs} ms for ${idleS} s idle, then ${windowS} s with the backlog; growth is the least-squares slope of RSS over the backlog window; ${info.num_ack_pending} un-acked in flight at the end (max_ack_pending ${info.config.max_ack_pending ?? '?'}).`,
    );
  },
};
