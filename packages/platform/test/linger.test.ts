// An answer given before the body was read (413, 415) lingers: the client that is still writing
// its body can finish and read the answer, instead of losing it to a reset, and a client that
// never finishes is cut off. Driven over a raw socket so the order of events is the test's own:
// the answer arrives first, the rest of the body is written after it.
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { createApp } from '../src/index.js';
import type { LingerLimits } from '../src/linger.js';

// Limits a test can tell apart: a cut by time is not a cut by bytes and the other way round.
const BY_TIME: LingerLimits = { ms: 1_000, maxBytes: 1024 * 1024 * 1024 };
const BY_BYTES: LingerLimits = { ms: 10 * 60_000, maxBytes: 1024 * 1024 };
const NO_CUT: LingerLimits = { ms: 10 * 60_000, maxBytes: 1024 * 1024 * 1024 };

async function listen(t: Test, linger: LingerLimits = NO_CUT): Promise<number> {
  const app = createApp({ name: 'demo', logger: false, bodyLimit: 1024, linger });
  app.post('/v1/things', async (request) => ({ got: request.body }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  return (app.server.address() as AddressInfo).port;
}

/** Collects what the server sends and tells when the socket closes, and how. */
function client(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  let received = '';
  const closed = new Promise<{ error?: string }>((resolve) => {
    let error: string | undefined;
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => resolve(error === undefined ? {} : { error }));
  });
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const until = async (pattern: RegExp, what: string) => {
    for (let i = 0; i < 600 && !pattern.test(received); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!pattern.test(received)) throw new Error(`no ${what} in ${JSON.stringify(received)}`);
  };
  const write = (data: string) =>
    new Promise<void>((resolve, reject) => socket.write(data, (e) => (e ? reject(e) : resolve())));
  return { socket, closed, until, write, received: () => received };
}

const head = (length: number, type = 'application/json') =>
  `POST /v1/things HTTP/1.1\r\nhost: x\r\ncontent-type: ${type}\r\ncontent-length: ${length}\r\n\r\n`;

void t.test(
  'a 413 answered before the body: the client writes the rest, reads it, and the connection lives',
  async (t) => {
    const port = await listen(t);
    const c = client(port);
    t.teardown(() => c.socket.destroy());
    const length = 512 * 1024;
    await c.write(head(length) + 'x'.repeat(1000));
    await c.until(/^HTTP\/1\.1 413 [\s\S]*\r\n\r\n\{[^}]*"code":"PAYLOAD_TOO_LARGE"/, 'a 413');
    t.notMatch(c.received(), /connection: close/i, 'not marked for closing');
    // The rest of the body goes out after the answer, in pieces: none of these writes fails.
    for (let sent = 1000; sent < length; sent += 64 * 1024) {
      await c.write('x'.repeat(Math.min(64 * 1024, length - sent)));
    }
    // The same connection then answers the next request.
    const before = c.received().length;
    await c.write(head(13) + '{"a":"hello"}');
    await c.until(/HTTP\/1\.1 200 [\s\S]*"got":\{"a":"hello"\}/, 'the second answer');
    t.ok(c.received().length > before);
    c.socket.end();
    t.same(await c.closed, {}, 'closed cleanly, never reset');
  },
);

void t.test('a 415 answered before the body keeps the connection as well', async (t) => {
  const port = await listen(t);
  const c = client(port);
  t.teardown(() => c.socket.destroy());
  await c.write(head(100_000, 'application/x-unknown') + 'x'.repeat(10));
  await c.until(/^HTTP\/1\.1 415 /, 'a 415');
  await c.write('x'.repeat(100_000 - 10));
  await c.write(head(2) + '{}');
  await c.until(/HTTP\/1\.1 200 /, 'the second answer');
});

void t.test('a client that never finishes its body is cut off after the linger time', async (t) => {
  const port = await listen(t, BY_TIME);
  const c = client(port);
  t.teardown(() => c.socket.destroy());
  await c.write(head(10_000_000) + 'x'.repeat(100));
  await c.until(/^HTTP\/1\.1 413 /, 'a 413');
  const end = await Promise.race([
    c.closed.then(() => 'closed by the server'),
    new Promise((r) => setTimeout(() => r('still open after 60 s'), 60_000).unref()),
  ]);
  t.equal(end, 'closed by the server');
});

void t.test('a client that sends more than the linger allows is cut off', async (t) => {
  const port = await listen(t, BY_BYTES);
  const c = client(port);
  t.teardown(() => c.socket.destroy());
  // Announces 1 GiB and writes until the server stops reading (there is no time limit here); the
  // kernel's buffers on both ends and one poll's worth take some megabytes past the 1 MiB cut,
  // far fewer than the 256 MiB this gives up at.
  const length = 1024 * 1024 * 1024;
  const giveUp = 256 * 1024 * 1024;
  await c.write(head(length) + 'x'.repeat(100));
  await c.until(/^HTTP\/1\.1 413 /, 'a 413');
  const chunk = 'x'.repeat(256 * 1024);
  let written = 100;
  let writeFailed = false;
  while (written < giveUp) {
    try {
      await c.write(chunk);
    } catch {
      writeFailed = true;
      break;
    }
    written += chunk.length;
  }
  t.ok(writeFailed, `the server cut the connection (${written} bytes written)`);
  await c.closed;
});
