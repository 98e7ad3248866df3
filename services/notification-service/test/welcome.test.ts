// The welcome email as it arrives at a real SMTP server: written out whole by lib/welcome.ts (the
// usual case) it is the same email nodemailer composes from its parts (the same headers, parts and
// bodies; only the boundary and folding differ), and whatever needs encoding (a name in another
// script, a line too long, a From that needs quoting) is left to nodemailer and still arrives
// right. Also the send slots' semantics (lib/consumer.ts).
import t, { type Test } from 'tap';
import { makeEnvelope } from '@app/contracts';
import { parseHeaders, startSmtpSink, type SmtpMessage } from '@app/testing';
import { Slots } from '../src/lib/consumer.js';
import { createMailer } from '../src/lib/mailer.js';
import { renderWelcome, type RenderedEmail } from '../src/lib/welcome.js';

const FROM = 'Welcome <welcome@example.com>';
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function event(displayName: string, email = 'ada@example.com') {
  return makeEnvelope('user.signed_up', 1, {
    userId: crypto.randomUUID(),
    email,
    displayName,
  });
}

/** What a reader gets from an email: its headers (not Date) and each part's headers and body. */
function reading(m: SmtpMessage) {
  const boundary = /boundary="([^"]+)"/.exec(m.headers['content-type'] ?? '')?.[1];
  const headers = Object.fromEntries(
    Object.entries(m.headers)
      .filter(([name]) => !['date', 'content-type'].includes(name))
      .map(([name, value]) => [name, value.trim()]),
  );
  const parts = (boundary ? m.body.split(`--${boundary}`).slice(1, -1) : []).map((raw) => {
    const part = parseHeaders(raw.replace(/^\r\n/, ''));
    return { headers: part.headers, body: part.body.replace(/\r\n$/, '') };
  });
  return {
    envelope: [m.envelopeFrom, m.envelopeTo],
    subject: m.subject,
    type: m.headers['content-type']?.split(';')[0],
    headers,
    parts,
  };
}

async function sendBoth(t: Test, emails: RenderedEmail[]): Promise<SmtpMessage[]> {
  const sink = await startSmtpSink();
  t.teardown(() => sink.close());
  const mailer = createMailer({ smtpUrl: sink.url, mailDir: '', timeoutMs: 10_000, poolSize: 1 });
  t.teardown(() => mailer.close());
  for (const email of emails) await mailer.send(email);
  return sink.waitFor(emails.length);
}

void t.test('written out whole, it is the email nodemailer would compose', async (t) => {
  const names = ['Ada Lovelace', "O'Brien & <Sons>", 'x'.repeat(50), 'A'];
  const emails = names.map((name) =>
    renderWelcome(event(name), { from: FROM, traceparent: TRACEPARENT }),
  );
  for (const email of emails) t.ok(email.raw, `"${email.subject}" written out whole`);
  // The same emails without `raw`: nodemailer composes them from their parts.
  const composed = emails.map(({ raw: _raw, ...parts }) => parts);
  const arrived = await sendBoth(t, [...emails, ...composed]);
  const [whole, byNodemailer] = [arrived.slice(0, names.length), arrived.slice(names.length)];
  whole.forEach((m, i) => {
    t.same(reading(m), reading(byNodemailer[i] as SmtpMessage), `${names[i]}: the same email`);
    t.equal(m.headers['message-id']?.trim(), emails[i]?.messageId);
    t.equal(m.headers.traceparent, TRACEPARENT);
    t.match(m.raw.toString(), /^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r$/m);
  });
  t.equal(reading(whole[0] as SmtpMessage).parts.length, 2, 'text and HTML');
  t.match(whole[1]?.subject, "Welcome, O'Brien & <Sons>!");
  t.match(reading(whole[1] as SmtpMessage).parts[1]?.body, /O&#39;Brien &amp; &lt;Sons&gt;/);
});

void t.test('anything that needs encoding is left to nodemailer', async (t) => {
  const cases: Array<[string, RenderedEmail]> = [
    ['a name in another script', renderWelcome(event('Zoë Ünïcødé'), { from: FROM })],
    ['a name too long for a line', renderWelcome(event('y'.repeat(70)), { from: FROM })],
    ['what looks like an encoded word', renderWelcome(event('=?UTF-8?B?SGk=?='), { from: FROM })],
    [
      'a From that needs quoting',
      renderWelcome(event('Ada'), { from: 'Team, Inc. <hello@example.com>' }),
    ],
    [
      'an odd traceparent',
      renderWelcome(event('Ada'), { from: FROM, traceparent: 'not a\ttraceparent' }),
    ],
  ];
  for (const [what, email] of cases) t.equal(email.raw, undefined, `${what}: not written out`);
  const arrived = await sendBoth(
    t,
    cases.map(([, e]) => e),
  );
  t.same(
    arrived.map((m) => m.subject),
    cases.map(([, e]) => e.subject),
    'each subject arrives as written',
  );
  t.equal(arrived[3]?.headers.from, '"Team, Inc." <hello@example.com>');
});

void t.test('send slots: first come first served, all refused once closed', async (t) => {
  const slots = new Slots(2);
  t.equal(await slots.acquire(), true);
  t.equal(await slots.acquire(), true);
  const order: string[] = [];
  const third = slots.acquire().then((ok) => order.push(`third ${ok}`));
  const fourth = slots.acquire().then((ok) => order.push(`fourth ${ok}`));
  slots.release();
  await third;
  t.same(order, ['third true'], 'a released slot goes to the first waiter');
  slots.close();
  await fourth;
  t.same(order, ['third true', 'fourth false'], 'closing refuses who still waits');
  t.equal(await slots.acquire(), false, 'and everyone after');
  t.throws(() => new Slots(0), RangeError);
});
