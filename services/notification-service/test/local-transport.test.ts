// With no SMTP_URL the service still works (`pnpm start` on a laptop): each email is written as an
// .eml file into NOTIFY_MAIL_DIR, and the delivery is recorded like any other.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { build, publishSignups, waitUntil } from './helper.js';

void t.test('no SMTP_URL: emails land as .eml files', async (t) => {
  const dir = t.testdir();
  const { app, env } = await build(t, { vars: { SMTP_URL: undefined, NOTIFY_MAIL_DIR: dir } });
  t.equal(app.notifier.mailer.kind, 'local');
  const signups = await publishSignups(env.nats.js, env.names, 2);

  const files = await waitUntil('2 .eml files', async () => {
    const names = (await readdir(dir)).filter((f) => f.endsWith('.eml'));
    return names.length >= 2 ? names : undefined;
  });
  t.equal(files.length, 2);
  const contents = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
  for (const s of signups) {
    const eml = contents.find((c) => c.includes(s.event.id));
    t.ok(eml, 'one file per event');
    t.match(eml, new RegExp(`To: ${s.event.data.email.replace(/[.]/g, '\\.')}`));
    t.match(
      eml,
      new RegExp(`^traceparent: ${s.traceparent}\\r?$`, 'im'),
      'traceparent header (names are case-insensitive)',
    );
  }
  await waitUntil(
    'both recorded as sent',
    async () => (await env.prisma.notificationDelivery.count({ where: { status: 'sent' } })) === 2,
  );
});
