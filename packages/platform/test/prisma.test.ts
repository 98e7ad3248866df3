import t from 'tap';
import { createApp, prismaPlugin } from '../src/index.js';

// The `postgres` maintenance database always exists; the plugin only runs `SELECT 1`.
const DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

void t.test('prisma: pings Postgres at start-up and serves readiness', async (t) => {
  const app = createApp({ name: 'demo', logger: false });
  t.teardown(() => app.close());
  await app.register(prismaPlugin, { databaseUrl: DATABASE_URL, poolMax: 2 });
  app.readiness.add('db', () => app.prismaPing());
  await app.ready();
  const rows = await app.prisma.$queryRaw<Array<{ one: number }>>`SELECT 1 AS one`;
  t.same(rows, [{ one: 1 }]);
  const ready = await app.inject({ method: 'GET', url: '/health/ready' });
  t.same(ready.json(), { status: 'ok', checks: { db: 'ok' } });
});

void t.test(
  'prisma: an unreachable database fails start-up without printing the password',
  async (t) => {
    const app = createApp({ name: 'demo', logger: false });
    void app.register(prismaPlugin, {
      databaseUrl: 'postgresql://postgres:pa55word@127.0.0.1:1/app',
      connectTimeoutMs: 3000,
    });
    const error = await app.ready().then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    t.match(
      error?.message,
      /Postgres at postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/app is unreachable/,
    );
    t.notMatch(error?.message, 'pa55word');
    await app.close();
  },
);
