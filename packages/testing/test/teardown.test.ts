// Teardown of the isolation helpers really removes what a test created: the database, every key
// under the prefix and every stream of the namespace, and closes the connections.
import t from 'tap';
import { Redis } from 'ioredis';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  isolatedDatabase,
  isolatedNats,
  isolatedRedis,
  serviceUrls,
  isolatedSystem,
} from '../src/index.js';

/** A stand-in for tap's `t` whose teardowns the test runs itself, to look at what they left. */
function manual() {
  const fns: Array<() => unknown> = [];
  return {
    t: { teardown: (fn: () => unknown) => void fns.push(fn) },
    async run() {
      for (const fn of fns.reverse()) await fn();
    },
  };
}

const urls = await serviceUrls();

async function databaseExists(name: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: urls.databaseUrl });
  await admin.connect();
  try {
    const res = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return res.rowCount === 1;
  } finally {
    await admin.end();
  }
}

void t.test('isolatedDatabase: a migrated copy of the template, dropped in teardown', async (t) => {
  const m = manual();
  const db = await isolatedDatabase(m.t);
  t.match(db.name, /^test_[0-9a-f]{16}$/);
  t.equal(new URL(db.url).pathname, `/${db.name}`);

  const client = new pg.Client({ connectionString: db.url });
  client.on('error', () => undefined); // the forced drop below ends this connection
  await client.connect();
  const migrations = await client.query<{ migration_name: string }>(
    'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL',
  );
  t.ok(migrations.rowCount! > 0, 'the schema is already migrated');
  await client.query('CREATE TABLE leftover (id int)');
  // Left open on purpose: teardown must drop the database even with a connection on it.

  t.ok(await databaseExists(db.name));
  await m.run();
  t.notOk(await databaseExists(db.name), 'the database is gone');
  await client.end().catch(() => undefined);

  const again = manual();
  const second = await isolatedDatabase(again.t);
  t.not(second.name, db.name, 'every call gets a new database');
  await again.run();
});

void t.test('isolatedRedis: keys under the prefix are deleted, others are kept', async (t) => {
  const m = manual();
  const redis = await isolatedRedis(m.t);
  t.match(redis.prefix, /^t:[0-9a-f]{16}:$/);
  const many = Array.from({ length: 1200 }, (_, i) => [`${redis.prefix}k${i}`, String(i)]).flat();
  await redis.client.mset(...many);
  const outside = `testing:teardown-test:${redis.prefix}`;
  const observer = new Redis(urls.redisUrl);
  t.teardown(() => observer.quit());
  await observer.set(outside, 'kept', 'EX', 60);

  await m.run();
  await t.rejects(redis.client.ping(), 'the client is closed');
  const [, left] = await observer.scan('0', 'MATCH', `${redis.prefix}*`, 'COUNT', 10_000);
  t.same(left, [], 'no key under the prefix is left');
  t.equal(await observer.get(outside), 'kept', 'keys outside the prefix are untouched');
  await observer.del(outside);
});

void t.test(
  'isolatedNats: streams of the namespace are deleted, the connection drained',
  async (t) => {
    const m = manual();
    const nats = await isolatedNats(m.t);
    t.match(nats.namespace, /^[a-z][a-z0-9_]{0,31}$/);
    const upper = nats.namespace.toUpperCase();
    await nats.jsm.streams.add({ name: `${upper}_ONE`, subjects: [`${nats.namespace}.one`] });
    await nats.jsm.streams.add({ name: `${upper}_TWO`, subjects: [`${nats.namespace}.two`] });
    await nats.js.publish(`${nats.namespace}.one`, 'x');

    const nc = await connect({ servers: urls.natsUrl });
    t.teardown(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const other = `${upper}X_KEEP`.replace(/^T_/, 'KEEPT_');
    await jsm.streams.add({ name: other, subjects: [`${nats.namespace}x.keep`] });
    t.teardown(() => jsm.streams.delete(other));

    await m.run();
    t.ok(nats.nc.isClosed(), 'the connection is closed');
    const left: string[] = [];
    for await (const name of jsm.streams.names()) if (name.startsWith(`${upper}_`)) left.push(name);
    t.same(left, [], 'no stream of the namespace is left');
    t.equal((await jsm.streams.info(other)).config.name, other, 'other streams are untouched');
  },
);

void t.test(
  'isolatedSystem: all three, with the variables services read, cleaned up by tap',
  async (t) => {
    const system = await isolatedSystem(t);
    t.match(system.vars, {
      DATABASE_URL: /\/test_[0-9a-f]{16}$/,
      REDIS_URL: urls.redisUrl,
      NATS_URL: urls.natsUrl,
      NATS_NAMESPACE: /^t_[0-9a-f]{12}$/,
    });
    t.match(system.redis.prefix, /^t:[0-9a-f]{16}:$/);
    t.equal(system.nats.namespace, system.vars.NATS_NAMESPACE);
    t.equal(system.db.url, system.vars.DATABASE_URL);
  },
);
