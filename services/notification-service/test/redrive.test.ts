// Acceptance, redrive: list dead letters with filters (HTTP and CLI), a dry run changes no stream,
// and a redrive is a background job: 202 at once with a Location, progress on the status route
// while it runs, then succeeded with the right counts, each dead letter back on its original
// subject once (delivered now the SMTP fault is gone) and on record in the audit table. The CLI
// starts a job the same way and follows it to the end. A job left running by a dead process is
// marked failed at start-up; unknown jobs are 404 problem+json.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import t from 'tap';
import { REDRIVE_BATCH_HEADER } from '../src/lib/redrive.js';
import { parseWelcomeEvent } from '../src/lib/consumer.js';
import type { RedriveJobView } from '../src/lib/redrive-jobs.js';
import {
  ADMIN_TOKEN,
  SERVICE_DIR,
  build,
  deadLetters,
  publishSignups,
  readStream,
  streamCount,
  testEnv,
  waitUntil,
  type TestEnv,
} from './helper.js';
import type { App } from '@app/platform';

const run = promisify(execFile);
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** Runs src/cli/redrive.ts as an operator would, with the env's variables only. */
function cli(env: TestEnv, ...args: string[]) {
  return run(
    process.execPath,
    ['--import=tsx', '--conditions=app-source', 'src/cli/redrive.ts', ...args],
    { cwd: SERVICE_DIR, env: { PATH: process.env.PATH ?? '', ...env.vars } },
  );
}

async function job(app: App, id: string): Promise<RedriveJobView> {
  const res = await app.inject({ url: `/admin/redrives/${id}`, headers: auth });
  if (res.statusCode !== 200) throw new Error(`status route answered ${res.statusCode}`);
  return res.json<RedriveJobView>();
}

/** Polls the status route until the job finishes; returns every distinct state seen. */
async function followJob(app: App, id: string): Promise<RedriveJobView[]> {
  const seen: RedriveJobView[] = [];
  await waitUntil(
    `redrive job ${id} to finish`,
    async () => {
      const j = await job(app, id);
      if (JSON.stringify(seen.at(-1)) !== JSON.stringify(j)) seen.push(j);
      return !['queued', 'running'].includes(j.status);
    },
    60_000,
  );
  return seen;
}

void t.test(
  'list, dry run, redrive chosen ones with the CLI (followed to the end) and over HTTP',
  async (t) => {
    const env = await testEnv(t);
    const { jsm, js } = env.nats;
    const n = env.names;
    env.sink.failNext(3, 550, 'Mailbox full');
    const { app } = await build(t, { env });
    const signups = await publishSignups(js, n, 3);
    await js.publish(n.subjects.userSignedUp, '{"broken":true}');
    await deadLetters(env, 4);
    const emailOf = new Map(signups.map((s) => [s.event.id, s.event.data.email]));

    // List with filters over HTTP.
    const listed = await app.inject({
      url: '/admin/deadletters?reason=smtp_permanent',
      headers: auth,
    });
    t.equal(listed.statusCode, 200);
    const smtp = listed.json().items as Array<{ seq: number; originalSeq: number; reason: string }>;
    t.equal(smtp.length, 3, 'reason filter');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const none = await app.inject({
      url: `/admin/deadletters?since=${encodeURIComponent(future)}`,
      headers: auth,
    });
    t.equal(none.json().count, 0, 'time filter');
    const bySubject = await app.inject({
      url: `/admin/deadletters?subject=${encodeURIComponent(n.subjects.userAll)}`,
      headers: auth,
    });
    t.equal(bySubject.json().count, 4, 'subject filter with a wildcard');
    const badFilter = await app.inject({
      url: '/admin/deadletters?since=yesterday',
      headers: auth,
    });
    t.equal(badFilter.statusCode, 400, 'a bad date is refused clearly');

    // Dry run: answered at once, shows the 3, changes no stream, sends nothing.
    const usersBefore = (await jsm.streams.info(n.streams.users)).state.last_seq;
    const dry = await app.inject({
      method: 'POST',
      url: '/admin/deadletters/redrive',
      headers: auth,
      payload: { filter: { reason: 'smtp_permanent' }, dryRun: true },
    });
    t.equal(dry.statusCode, 200);
    t.match(dry.json(), { dryRun: true, selected: 3, redriven: 0 });
    t.equal(await streamCount(jsm, n.streams.deadletter), 4, 'dry run: dead letters untouched');
    t.equal(
      (await jsm.streams.info(n.streams.users)).state.last_seq,
      usersBefore,
      'dry run: nothing published',
    );

    // CLI: list, then redrive exactly two chosen ones, following the job to its end.
    const list = await cli(env, 'list', '--reason', 'smtp');
    t.match(list.stdout, /3 dead letter\(s\)/);
    t.match(list.stdout, /Mailbox full/);
    const chosen = smtp.slice(0, 2).map((d) => d.seq);
    const redriven = await cli(
      env,
      'redrive',
      '--reason',
      'smtp_permanent',
      '--seq',
      chosen.join(','),
      '--rate',
      '20',
    );
    const cliJob = /job ([0-9a-f-]{36}) succeeded: 2 selected, 2 redriven/.exec(redriven.stdout);
    t.ok(cliJob, `the CLI reports the job's end (${redriven.stdout.trim()})`);
    t.match(redriven.stderr, /progress: succeeded 2\/2/, 'and its progress');
    t.match(await job(app, cliJob![1]!), { status: 'succeeded', moved: 2, actor: /^cli:/ });

    const delivered = await env.sink.waitFor(2, 30_000);
    const chosenEvents = smtp
      .slice(0, 2)
      .map((d) => signups.find((s) => s.seq === d.originalSeq)!.event);
    t.same(
      delivered.map((m) => m.envelopeTo[0]).sort(),
      chosenEvents.map((e) => emailOf.get(e.id)).sort(),
      'exactly the chosen ones were delivered',
    );
    const left = await readStream(jsm, n.streams.deadletter);
    t.same(
      left.map((d) => d.seq).sort(),
      [
        ...smtp.slice(2).map((d) => d.seq),
        ...left.filter((d) => /invalid/.test(d.header.get('Dlq-Reason'))).map((d) => d.seq),
      ].sort(),
      'the others are still dead letters',
    );

    const audit = await env.prisma.deadLetterRedrive.findMany({ where: { dryRun: false } });
    t.equal(audit.length, 2, 'audit: one row per redriven dead letter');
    t.same(audit.map((a) => Number(a.deadletterSeq)).sort(), [...chosen].sort());
    for (const a of audit) {
      t.match(a, {
        batchId: cliJob![1],
        originalSubject: n.subjects.userSignedUp,
        actor: /^cli:/,
        reason: /Mailbox full/,
      });
      t.match(a.newMsgId, /^redrive:[0-9a-f-]{36}:\d+$/);
    }
    t.equal(
      await env.prisma.deadLetterRedrive.count({ where: { dryRun: true } }),
      3,
      'the dry run is on record',
    );

    // The last one over HTTP: 202, then followed through the Location.
    const rest = await app.inject({
      method: 'POST',
      url: '/admin/deadletters/redrive',
      headers: auth,
      payload: { filter: { reason: 'smtp_permanent' }, dryRun: false, rate: 5, actor: 'ops' },
    });
    t.equal(rest.statusCode, 202);
    t.equal(rest.headers.location, `/admin/redrives/${rest.json().id}`);
    const states = await followJob(app, rest.json().id);
    t.match(states.at(-1), { status: 'succeeded', total: 1, moved: 1, actor: 'http:ops' });
    await env.sink.waitFor(3, 30_000);
    t.equal(env.sink.messages.length, 3);
    t.equal(await streamCount(jsm, n.streams.deadletter), 1, 'only the invalid payload is left');
    await waitUntil(
      '3 deliveries recorded as sent',
      async () =>
        (await env.prisma.notificationDelivery.count({ where: { status: 'sent' } })) === 3,
    );
  },
);

void t.test(
  'a redrive of hundreds: 202 at once, progress, succeeded, each message back once',
  async (t) => {
    const COUNT = 300;
    const env = await testEnv(t);
    const { jsm, js } = env.nats;
    const n = env.names;
    env.sink.failNext(COUNT, 550, 'Mailbox full');
    const { app } = await build(t, { env, vars: { NOTIFY_CONCURRENCY: '16' } });
    const signups = await publishSignups(js, n, COUNT);
    await deadLetters(env, COUNT, 120_000);
    const start = (rate: number) =>
      app.inject({
        method: 'POST',
        url: '/admin/deadletters/redrive',
        headers: auth,
        payload: { filter: {}, dryRun: false, rate },
      });

    // A slow job first: cancelled, it stops after the dead letter in hand.
    const slow = await start(1);
    t.equal(slow.statusCode, 202);
    const busy = await start(100);
    t.equal(busy.statusCode, 409, 'one unfinished redrive at a time');
    t.match(busy.json(), { code: 'REDRIVE_IN_PROGRESS', jobId: slow.json().id });
    const cancel = await app.inject({
      method: 'POST',
      url: `/admin/redrives/${slow.json().id}/cancel`,
      headers: auth,
    });
    t.equal(cancel.statusCode, 202);
    const cancelled = (await followJob(app, slow.json().id)).at(-1)!;
    t.match(cancelled, { status: 'cancelled', cancelRequested: true });
    const again = await app.inject({
      method: 'POST',
      url: `/admin/redrives/${slow.json().id}/cancel`,
      headers: auth,
    });
    t.match(again.json(), { status: 409, code: 'REDRIVE_FINISHED' });

    const remaining = COUNT - cancelled.moved;
    const res = await start(150);
    t.equal(res.statusCode, 202, 'answered at once, before the redrive is done');
    t.match(res.json(), { status: /^(queued|running)$/, moved: 0 });
    const id = res.json().id as string;
    const states = await followJob(app, id);
    t.ok(
      states.some((s) => s.status === 'running' && s.moved > 0 && s.moved < remaining),
      'progress was visible while it ran',
    );
    const moved = states.map((s) => s.moved);
    t.same(
      moved,
      [...moved].sort((a, b) => a - b),
      'progress only goes forward',
    );
    const end = states.at(-1)!;
    t.match(end, {
      status: 'succeeded',
      total: remaining,
      moved: remaining,
      failed: 0,
      skipped: 0,
      lastError: null,
      rate: 150,
    });
    t.ok(end.startedAt && end.finishedAt && end.finishedAt >= end.startedAt, 'started, finished');
    t.equal(await streamCount(jsm, n.streams.deadletter), 0, 'every dead letter moved');

    // Each original back on its subject exactly once, over both jobs, and delivered.
    const back = (await readStream(jsm, n.streams.users)).filter((m) =>
      m.header?.get(REDRIVE_BATCH_HEADER),
    );
    const ids = back.map((m) => {
      const parsed = parseWelcomeEvent(m.data);
      return parsed.ok ? parsed.event.id : 'invalid';
    });
    t.equal(back.length, COUNT, 'one republished message per dead letter');
    t.same(new Set(ids), new Set(signups.map((s) => s.event.id)), 'each event once');
    t.ok(
      back.every((m) => m.subject === n.subjects.userSignedUp),
      'on the original subject',
    );
    await env.sink.waitFor(COUNT, 60_000);
    t.equal(env.sink.messages.length, COUNT, 'one email each');
  },
);

void t.test('a job left running by a dead process is failed at start-up; 404s', async (t) => {
  const env = await testEnv(t, { NOTIFY_REDRIVE_STALE_MS: '1000' });
  const orphan = await env.prisma.redriveJob.create({
    data: {
      id: randomUUID(),
      status: 'running',
      actor: 'http:ops',
      filter: {},
      rate: 50,
      owner: 'a-process-that-died',
      startedAt: new Date(Date.now() - 60_000),
      heartbeatAt: new Date(Date.now() - 60_000),
    },
  });
  const { app } = await build(t, { env });
  t.match(await job(app, orphan.id), {
    status: 'failed',
    lastError: /^interrupted: its process stopped/,
  });

  const unknown = await app.inject({ url: `/admin/redrives/${randomUUID()}`, headers: auth });
  t.equal(unknown.statusCode, 404);
  t.match(unknown.headers['content-type'], /^application\/problem\+json/);
  t.match(unknown.json(), { status: 404, code: 'REDRIVE_NOT_FOUND' });
  const malformed = await app.inject({ url: '/admin/redrives/nope', headers: auth });
  t.equal(malformed.statusCode, 400);
  const anonymous = await app.inject({ url: `/admin/redrives/${orphan.id}` });
  t.equal(anonymous.statusCode, 401, 'the admin token is required');
});
