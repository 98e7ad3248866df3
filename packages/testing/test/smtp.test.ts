// The SMTP sink against a real SMTP client (nodemailer): what arrives, how headers read, and
// refusals with the reply code a sender sees.
import { once } from 'node:events';
import { connect } from 'node:net';
import t from 'tap';
import nodemailer from 'nodemailer';
import { decodeWords, parseHeaders, startSmtpSink } from '../src/index.js';

void t.test('records mails sent with nodemailer, headers parsed', async (t) => {
  const sink = await startSmtpSink();
  t.teardown(() => sink.close());
  t.equal(sink.url, `smtp://127.0.0.1:${sink.port}`);
  const transport = nodemailer.createTransport({ url: sink.url } as never);
  t.teardown(() => transport.close());

  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  for (let i = 1; i <= 3; i++) {
    await transport.sendMail({
      from: 'Welcome <welcome@example.test>',
      to: `user${i}@example.test`,
      subject: `Welcome, user ${i} — ünïcödé`,
      text: `Hello ${i}`,
      headers: { traceparent },
    });
  }
  const messages = await sink.waitFor(3);
  t.equal(messages.length, 3);
  t.same(
    messages.map((m) => m.envelopeTo),
    [['user1@example.test'], ['user2@example.test'], ['user3@example.test']],
  );
  const first = messages[0]!;
  t.equal(first.envelopeFrom, 'welcome@example.test');
  t.equal(first.subject, 'Welcome, user 1 — ünïcödé', 'encoded subject decoded');
  t.equal(first.headers.to, 'user1@example.test');
  t.equal(first.headers.traceparent, traceparent);
  t.match(first.headers['message-id'], /^<.+@.+>$/);
  t.match(first.body, /Hello 1/);
  t.ok(Buffer.isBuffer(first.raw) && first.raw.includes('Hello 1'));
  t.ok(first.receivedAt instanceof Date);

  sink.clear();
  t.equal(sink.messages.length, 0);
  await t.rejects(sink.waitFor(1, 50), /expected 1 message\(s\) within 50 ms, 0 arrived/);
});

void t.test('failNext(2, 451): two refusals with 451, then delivery', async (t) => {
  const sink = await startSmtpSink();
  t.teardown(() => sink.close());
  const transport = nodemailer.createTransport({ url: sink.url } as never);
  t.teardown(() => transport.close());
  const send = (n: number) =>
    transport.sendMail({
      from: 'a@example.test',
      to: 'b@example.test',
      subject: `try ${n}`,
      text: 'x',
    });

  const refusal = (sent: Promise<unknown>) =>
    sent.then(
      () => undefined,
      (error: { responseCode?: number; response?: string }) => error,
    );

  sink.failNext(2, 451);
  t.equal((await refusal(send(1)))?.responseCode, 451, 'first refused with 451');
  t.equal((await refusal(send(2)))?.responseCode, 451, 'second refused with 451');
  const info = await send(3);
  t.match(info.response, /^250/);
  const [only] = await sink.waitFor(1);
  t.equal(only!.subject, 'try 3', 'refused messages are not recorded');
  t.equal(sink.messages.length, 1);

  sink.failNext(1, 550, 'No such user');
  const rejected = await refusal(send(4));
  t.equal(rejected?.responseCode, 550);
  t.match(rejected?.response, /No such user/);
  t.throws(() => sink.failNext(1, 250), /4xx or 5xx/);
});

void t.test('a client that resets its connection does not crash the process', async (t) => {
  const sink = await startSmtpSink();
  t.teardown(() => sink.close());
  const socket = connect(sink.port, '127.0.0.1');
  await once(socket, 'data'); // the greeting: the session is open
  // Inside a transaction (after MAIL FROM) smtp-server reports a reset as an error, not quietly.
  for (const command of ['EHLO crashing.example', 'MAIL FROM:<a@example.test>']) {
    socket.write(`${command}\r\n`);
    await once(socket, 'data');
  }
  socket.resetAndDestroy();

  const transport = nodemailer.createTransport({ url: sink.url } as never);
  t.teardown(() => transport.close());
  await transport.sendMail({
    from: 'a@example.test',
    to: 'b@example.test',
    subject: 'after',
    text: 'x',
  });
  const [message] = await sink.waitFor(1);
  t.equal(message!.subject, 'after', 'the sink still records mail after the reset');
});

void t.test('setDelay answers slowly', async (t) => {
  const sink = await startSmtpSink({ delayMs: 0 });
  t.teardown(() => sink.close());
  const transport = nodemailer.createTransport({ url: sink.url } as never);
  t.teardown(() => transport.close());
  sink.setDelay(300);
  const started = Date.now();
  await transport.sendMail({
    from: 'a@example.test',
    to: 'b@example.test',
    subject: 's',
    text: 'x',
  });
  t.ok(Date.now() - started >= 300, 'the answer to DATA waited');
});

void t.test('parseHeaders unfolds continuation lines; decodeWords', async (t) => {
  const { headers, headerList, body } = parseHeaders(
    'Subject: a long\r\n  folded subject\r\nX-Twice: 1\r\nX-Twice: 2\r\n\r\nbody\r\n\r\nmore',
  );
  t.equal(headers.subject, 'a long folded subject');
  t.equal(headers['x-twice'], '1', 'first occurrence');
  t.same(headerList.slice(1), [
    ['X-Twice', '1'],
    ['X-Twice', '2'],
  ]);
  t.equal(body, 'body\r\n\r\nmore');
  t.equal(decodeWords('=?UTF-8?B?w7xiZXI=?= =?UTF-8?Q?_alles?='), 'über alles');
});
