// serviceUrls: the URLs tests use, and the error that tells a developer what to start when a
// service is down.
import { createServer } from 'node:net';
import { once } from 'node:events';
import t from 'tap';
import { serviceUrls, unreachableMessage } from '../src/index.js';

/** A port that refuses connections: bound, then closed. */
async function deadPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

void t.test('resolves a URL for each service', async (t) => {
  const urls = await serviceUrls();
  t.match(urls, { databaseUrl: /^postgres(ql)?:\/\//, redisUrl: /^rediss?:\/\//, natsUrl: /\S/ });
  t.same(await serviceUrls(), urls, 'memoised probes give the same answer');
});

void t.test('an unreachable service: the error names it and how to start it', async (t) => {
  const port = await deadPort();
  const env = {
    DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    NATS_URL: `nats://127.0.0.1:${port},127.0.0.1:${port}`,
  };
  const error = await serviceUrls(env).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  t.ok(error, 'rejects');
  t.match(error?.message, `Postgres is not reachable at 127.0.0.1:${port} (from DATABASE_URL)`);
  t.match(
    error?.message,
    `NATS is not reachable at 127.0.0.1:${port}, 127.0.0.1:${port} (from NATS_URL)`,
  );
  t.notMatch(error?.message, /Redis/, 'Redis is up');
});

void t.test('the message for a missing default says which command starts it', async (t) => {
  t.equal(
    unreachableMessage('postgres', 'postgresql://postgres@127.0.0.1:5432/postgres', false),
    'Postgres is not reachable at 127.0.0.1:5432. Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start (or set DATABASE_URL)',
  );
  t.match(
    unreachableMessage('redis', 'redis://127.0.0.1:6379', false),
    /^Redis is not reachable at 127\.0\.0\.1:6379\. Start it with: redis-server --daemonize yes .* \(or set REDIS_URL\)$/,
  );
  t.match(
    unreachableMessage('nats', 'nats://127.0.0.1:4222', false),
    /^NATS is not reachable at 127\.0\.0\.1:4222\. Start it with: start-stop-daemon .* -js .* \(or set NATS_URL\)$/,
  );
});

void t.test('a URL with a password is never echoed back', async (t) => {
  const message = unreachableMessage('postgres', 'postgresql://app:s3cret@127.0.0.1:1/app', true);
  t.notMatch(message, /s3cret/);
});
