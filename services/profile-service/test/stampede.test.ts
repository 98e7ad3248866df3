// Stampede protection: 200 concurrent reads of cold keys across 3 replicas cost one database read
// per key (single-flight inside each replica, a Redis lease across them), through the single-id
// route and through the batch route alike.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { App } from '@app/platform';
import { build, metricTotal, testEnv, waitFor } from './helper.js';

void t.test(
  '200 concurrent cold reads across 3 app instances: exactly 1 database read',
  async (t) => {
    const env = await testEnv(t);
    // The one database read is held until another replica waits on the fill lease: a fill that
    // landed before the other replicas asked left them nothing to wait on (0 waits in a CI run),
    // which is a race of the test, not of the cache. Bounded: without a wait the assertion fails.
    let apps: App[] = [];
    const afterDbRead = () =>
      waitFor(
        'a replica waiting on the lease',
        async () => (await metricTotal(apps, 'profile_cache_lease_waits_total')) >= 1,
        10_000,
      ).catch(() => undefined);
    apps = (await Promise.all([1, 2, 3].map(() => build(t, { env, deps: { afterDbRead } })))).map(
      (b) => b.app,
    );
    const id = await env.createUser('Hot Key');

    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        apps[i % apps.length]!.inject({ method: 'GET', url: `/v1/profiles/${id}` }),
      ),
    );
    t.same([...new Set(responses.map((r) => r.statusCode))], [200], 'every read answered 200');
    t.ok(
      responses.every((r) => r.json<{ displayName: string }>().displayName === 'Hot Key'),
      'every read got the value',
    );
    t.equal(await metricTotal(apps, 'profile_db_reads_total'), 1, 'one database read in total');
    const waits = await metricTotal(apps, 'profile_cache_lease_waits_total');
    t.ok(waits >= 1, `the other replicas waited on the lease (${waits})`);
    t.notOk(
      responses.some((r) => r.headers['x-cache'] === 'BYPASS'),
      'no read bypassed the cache',
    );
  },
);

void t.test(
  '200 concurrent batch reads of cold ids across 3 app instances: one database read per id',
  async (t) => {
    const env = await testEnv(t);
    const reads = new Map<string, number>();
    const afterDbRead = async (ids: string[]) => {
      for (const id of ids) reads.set(id, (reads.get(id) ?? 0) + 1);
    };
    const apps = (
      await Promise.all([1, 2, 3].map(() => build(t, { env, deps: { afterDbRead } })))
    ).map((b) => b.app);
    const names = Array.from({ length: 8 }, (_, i) => `Cold ${i}`);
    const ids = await Promise.all(names.map((name) => env.createUser(name)));
    const unknown = [randomUUID(), randomUUID()];
    const asked = [...ids, ...unknown];
    const url = `/v1/profiles?ids=${asked.join(',')}`;

    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => apps[i % apps.length]!.inject({ method: 'GET', url })),
    );
    t.same([...new Set(responses.map((r) => r.statusCode))], [200], 'every read answered 200');
    t.ok(
      responses.every((r) => {
        const body = r.json<{ profiles?: Array<{ displayName: string }>; missing?: string[] }>();
        return (
          JSON.stringify(body.profiles?.map((p) => p.displayName)) === JSON.stringify(names) &&
          JSON.stringify(body.missing) === JSON.stringify(unknown)
        );
      }),
      'every read got every profile and the missing ids',
    );
    t.same(
      Object.fromEntries(asked.map((id) => [id, reads.get(id) ?? 0])),
      Object.fromEntries(asked.map((id) => [id, 1])),
      'each id was read from Postgres exactly once',
    );
    t.notOk(
      responses.some((r) => r.headers['x-cache'] === 'BYPASS'),
      'no read bypassed the cache',
    );
  },
);
