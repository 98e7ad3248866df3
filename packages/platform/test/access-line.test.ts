// The access line built by hand (access-line.ts) must be pino's line, byte for byte: the same
// fields in the same order with the same escaping, for the URLs and addresses clients send.
import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { accessLineFor } from '../src/access-line.js';
import { createApp } from '../src/index.js';
import { isoTimeCached, loggerOptions } from '../src/logger.js';

/** A stream that keeps every line written to it, and pino's metadata as it was at each write. */
function capture(metadata: boolean) {
  const lines: string[] = [];
  const levels: number[] = [];
  const stream = {
    lastLevel: 0,
    write(line: string) {
      lines.push(line);
      levels.push(stream.lastLevel);
    },
  };
  if (metadata) Object.defineProperty(stream, Symbol.for('pino.metadata'), { value: true });
  return { stream, lines, levels };
}

/** A time that stays the same, so that two lines written a millisecond apart can be compared. */
const fixedTime = () => ',"time":"2026-12-04T12:00:00.000Z"';

const cases = [
  { method: 'GET', url: '/v1/profiles/abc', remoteAddress: '127.0.0.1', statusCode: 200 },
  { method: 'GET', url: '/q?a="b"&c=\\d', remoteAddress: '::ffff:10.0.0.1', statusCode: 304 },
  { method: 'POST', url: '/caf\u00e9/\u00ff\u007f', remoteAddress: undefined, statusCode: 201 },
  { method: 'GET', url: '/tab\there\u0001', remoteAddress: '10.0.0.2', statusCode: 404 },
  { method: 'DELETE', url: `/${'x'.repeat(150)}"`, remoteAddress: '10.0.0.3', statusCode: 500 },
];

void t.test("the shortcut writes pino's own bytes, with pino's metadata", async (t) => {
  for (const metadata of [true, false]) {
    const viaPino = capture(metadata);
    const direct = capture(metadata);
    const options = { ...loggerOptions({ name: 'demo' }), timestamp: fixedTime };
    const rootA = pino(options, viaPino.stream);
    const rootB = pino(options, direct.stream);
    const write = accessLineFor(rootB, fixedTime);
    for (const [i, c] of cases.entries()) {
      const responseTime = [0.52, 12, 0, 3.14, 1000.01][i] ?? 1;
      const req = { method: c.method, url: c.url, ip: c.remoteAddress };
      rootA
        .child({ requestId: `r-${i}` })
        .info({ req, res: { statusCode: c.statusCode }, responseTime }, 'request completed');
      const wrote = write(rootB.child({ requestId: `r-${i}` }), req, c.statusCode, responseTime);
      t.ok(wrote, `case ${i}: written by the shortcut`);
    }
    t.same(direct.lines, viaPino.lines, `the same bytes (metadata stream: ${metadata})`);
    t.same(direct.levels, metadata ? cases.map(() => 30) : cases.map(() => 0), 'lastLevel as pino');
  }
});

void t.test('what the shortcut leaves to pino, and a level that is off', async (t) => {
  const sink = capture(true);
  const root = pino({ ...loggerOptions({ name: 'demo' }), timestamp: fixedTime }, sink.stream);
  const write = accessLineFor(root, fixedTime);
  const req = { method: 'GET', url: '/v1/profiles/abc', ip: '127.0.0.1' };
  const ownSerializers = root.child({}, { serializers: { req: () => 'custom' } });
  t.notOk(write(ownSerializers, req, 200, 1), "a logger with its own serializers: pino's path");
  const prefixed = root.child({}, { msgPrefix: '[x] ' });
  t.notOk(write(prefixed, req, 200, 1), "a message prefix: pino's path");
  const quiet = pino({ ...loggerOptions({ name: 'demo', level: 'warn' }) }, sink.stream);
  const quietWrite = accessLineFor(quiet, isoTimeCached);
  t.ok(quietWrite(quiet.child({}), req, 200, 1), 'handled: nothing to write');
  t.same(sink.lines, [], 'nothing written at warn, nor for the refused ones');
});

/** Lines as text, with what differs between two apps (time, response time) blanked. */
function textSink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (l) lines.push(l.replace(/"time":"[^"]+"/, 'T').replace(/"responseTime":[\d.]+/, 'R'));
      }
      cb();
    },
  });
  return { stream, lines };
}

void t.test("an app's access lines are the same with the shortcut and through pino", async (t) => {
  // `base` given again (the same as the platform's) turns the shortcut off: pino's path.
  const variants = [undefined, { level: 'info', base: { service: 'demo' } }];
  const outputs: string[][] = [];
  const pinoCalls: number[] = [];
  for (const logger of variants) {
    const sink = textSink();
    const app = createApp({ name: 'demo', logStream: sink.stream, ...(logger ? { logger } : {}) });
    t.teardown(() => app.close());
    app.get('/hello/:name', async () => ({ ok: true }));
    app.get('/quiet', { logLevel: 'warn' }, async () => ({ ok: true }));
    app.get('/own', { logSerializers: { res: () => 'own' } }, async () => ({ ok: true }));
    app.get('/boom', async () => {
      throw new Error('boom');
    });
    // Counts the access lines that went through pino's `info` (request loggers inherit it).
    let calls = 0;
    const info = app.log.info;
    app.log.info = function (this: unknown, ...args: unknown[]) {
      if (args[1] === 'request completed') calls++;
      Reflect.apply(info, this, args);
    };
    for (const [i, url] of ['/hello/ann?x="1"', '/quiet', '/own', '/nowhere', '/boom'].entries()) {
      await app.inject({
        method: 'GET',
        url,
        headers: { 'x-request-id': `req-${i}` },
        remoteAddress: '10.1.2.3',
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // the stream's batched write
    pinoCalls.push(calls);
    outputs.push(sink.lines.filter((l) => !l.includes('"msg":"Server listening')));
  }
  const [shortcut, viaPino] = outputs;
  t.same(shortcut, viaPino, 'the same lines');
  t.equal(shortcut?.filter((l) => l.includes('request completed')).length, 4, '4 answered lines');
  t.same(pinoCalls, [1, 4], "only the route with its own serializers took pino's path");
  t.match(shortcut?.join('\n'), /"res":"own"/, "a route's own serializers are used");
  t.match(shortcut?.join('\n'), /"statusCode":500\}/, 'the 500 has its access line');
  t.notMatch(shortcut?.join('\n'), /req-1/, 'a route at warn logs no access line');
});
