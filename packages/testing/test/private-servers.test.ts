// Private brokers for fault tests: a nats-server whose JetStream data survives a restart, a
// redis-server clients reconnect to, both on free ports with their own temp dirs.
import { existsSync } from 'node:fs';
import t from 'tap';
import { Redis } from 'ioredis';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer, startRedisServer } from '../src/index.js';

void t.test('nats-server: a stored message survives stop and start', async (t) => {
  const server = await startNatsServer();
  t.teardown(() => server.close());
  t.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  t.not(server.port, 4222, 'never the shared server');

  const nc = await connect({ servers: server.url, reconnect: false });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'FAULT', subjects: ['fault.>'] });
  const ack = await jetstream(nc).publish('fault.one', 'kept across restarts');
  t.equal(ack.seq, 1);
  await nc.close();

  await server.stop();
  t.notOk(server.running(), 'stopped');
  await t.rejects(
    connect({ servers: server.url, reconnect: false }),
    'nobody answers while stopped',
  );

  await server.start();
  t.ok(server.running(), 'running again');
  const again = await connect({ servers: server.url, reconnect: false });
  t.teardown(() => again.close());
  const msg = await (await jetstreamManager(again)).streams.getMessage('FAULT', { seq: 1 });
  t.equal(msg?.subject, 'fault.one');
  t.equal(msg?.string(), 'kept across restarts');
});

void t.test('nats-server: kill is a crash, start brings JetStream back', async (t) => {
  const server = await startNatsServer({ jetstream: true });
  t.teardown(() => server.close());
  await server.kill();
  t.notOk(server.running());
  await server.start();
  const nc = await connect({ servers: server.url, reconnect: false });
  t.teardown(() => nc.close());
  const info = await (await jetstreamManager(nc)).getAccountInfo();
  t.equal(info.streams, 0);
});

void t.test('nats-server without JetStream; close removes its directory', async (t) => {
  const server = await startNatsServer({ jetstream: false });
  const nc = await connect({ servers: server.url, reconnect: false });
  await t.rejects(jetstreamManager(nc, { timeout: 2000 }), 'JetStream is off');
  await nc.close();
  await server.close();
  t.notOk(server.running());
  t.notOk(existsSync(server.dir), 'the temp dir is gone');
});

/** Resolves on the client's next 'ready'; its reconnect 'error's do not count (events.once would reject). */
function nextReady(client: Redis, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

void t.test('redis-server: a client sees it go away and come back', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  t.match(server.url, /^redis:\/\/127\.0\.0\.1:\d+$/);

  const client = new Redis(server.url, {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => 50,
  });
  client.on('error', () => undefined); // reconnect errors are the point of this test
  t.teardown(() => client.disconnect());
  await nextReady(client);
  await client.set('k', 'v');
  t.equal(await client.get('k'), 'v');

  await server.stop();
  await t.rejects(client.get('k'), 'commands fail while the server is down');

  const ready = nextReady(client);
  await server.start();
  await ready;
  t.equal(await client.ping(), 'PONG', 'the client reconnected to the same port');
  t.equal(await client.get('k'), null, 'no persistence: a restart starts empty');
});
