// Acceptance, redrive: list dead letters with filters (HTTP and CLI), a dry run changes no stream,
// and a filtered redrive moves exactly the chosen dead letters back to their original subject; with
// the SMTP fault gone they are delivered, and the audit table records each one.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import {
  ADMIN_TOKEN,
  SERVICE_DIR,
  publishSignups,
  readStream,
  startApp,
  streamCount,
  testEnvironment,
  waitUntil,
} from './helper.js';

const run = promisify(execFile);
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

void t.test(
  'list, dry run, filtered redrive (CLI and HTTP), delivery after the fault is gone',
  async (t) => {
    const env = await testEnvironment(t);
    const { jsm, js } = env.nats;
    const n = env.names;
    env.sink.failNext(3, 550, 'Mailbox full');
    const app = await startApp(t, env);
    const signups = await publishSignups(js, n, 3);
    await js.publish(n.subjects.userSignedUp, '{"broken":true}');
    await waitUntil(
      '4 dead letters',
      async () => (await streamCount(jsm, n.streams.deadletter)) === 4,
    );
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

    // Dry run: shows the 3, changes no stream, sends nothing.
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

    // CLI: list, then redrive exactly two chosen ones at a bounded rate.
    const cliEnv = { PATH: process.env.PATH ?? '', ...env.vars };
    const cli = (...args: string[]) =>
      run(
        process.execPath,
        ['--import=tsx', '--conditions=app-source', 'src/cli/redrive.ts', ...args],
        {
          cwd: SERVICE_DIR,
          env: cliEnv,
        },
      );
    const list = await cli('list', '--reason', 'smtp');
    t.match(list.stdout, /3 dead letter\(s\)/);
    t.match(list.stdout, /Mailbox full/);
    const chosen = smtp.slice(0, 2).map((d) => d.seq);
    const redriven = await cli(
      'redrive',
      '--reason',
      'smtp_permanent',
      '--seq',
      chosen.join(','),
      '--rate',
      '20',
    );
    t.match(redriven.stdout, /2 selected, 2 redriven/);
    t.match(redriven.stderr, /progress: 2\/2/);

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

    // The last one over HTTP.
    const rest = await app.inject({
      method: 'POST',
      url: '/admin/deadletters/redrive',
      headers: auth,
      payload: { filter: { reason: 'smtp_permanent' }, dryRun: false, rate: 5, actor: 'ops' },
    });
    t.match(rest.json(), { dryRun: false, selected: 1, redriven: 1 });
    await env.sink.waitFor(3, 30_000);
    t.equal(env.sink.messages.length, 3);
    t.equal(await streamCount(jsm, n.streams.deadletter), 1, 'only the invalid payload is left');
    // The row is marked sent just after the SMTP server accepted the email.
    await waitUntil(
      '3 deliveries recorded as sent',
      async () =>
        (await env.prisma.notificationDelivery.count({ where: { status: 'sent' } })) === 3,
    );
    t.pass('every redriven event is recorded as sent');
  },
);
