// Stampede protection: 200 concurrent reads of a cold key across 3 replicas cost one database read
// (single-flight inside each replica, a Redis lease across them).
import t from 'tap';
import { harness, metricValue } from './helper.js';

void t.test(
  '200 concurrent cold reads across 3 app instances: exactly 1 database read',
  async (t) => {
    const h = await harness(t);
    const apps = await Promise.all([h.build(), h.build(), h.build()]);
    const id = await h.createUser('Hot Key');

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
    const dbReads = (
      await Promise.all(apps.map((app) => metricValue(app, 'profile_db_reads_total')))
    ).reduce((a, b) => a + b, 0);
    t.equal(dbReads, 1, 'one database read in total');
    const waits = (
      await Promise.all(apps.map((app) => metricValue(app, 'profile_cache_lease_waits_total')))
    ).reduce((a, b) => a + b, 0);
    t.ok(waits >= 1, `the other replicas waited on the lease (${waits})`);
    t.notOk(
      responses.some((r) => r.headers['x-cache'] === 'BYPASS'),
      'no read bypassed the cache',
    );
  },
);
