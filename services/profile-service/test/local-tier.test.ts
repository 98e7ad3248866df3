// The optional in-process tier: dropped on every replica through NATS when a profile changes, and,
// if that message is lost, never served more than PROFILE_LOCAL_TTL_MS after it was stored.
import { names } from '@app/contracts';
import t from 'tap';
import { build, metricValue, patchProfile, testEnv } from './helper.js';

void t.test('in-process tier', async (t) => {
  const h = await testEnv(t, { PROFILE_LOCAL_CACHE: 'true' });
  const n = names(h.nats.namespace);
  // A long local TTL: only the NATS invalidation can make replica b right within this test.
  const long = { PROFILE_LOCAL_TTL_MS: '600000' };
  const { app: a } = await build(t, { env: h, vars: long });
  const { app: b } = await build(t, { env: h, vars: long });
  const id = await h.createUser('Local');
  const get = (app: typeof a) => app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  const rename = (displayName: string) => patchProfile(a, id, { displayName }, h.token(id));

  await t.test('invalidated on every replica through NATS', async (t) => {
    t.equal((await get(b)).headers['x-cache'], 'MISS');
    const hit = await get(b);
    t.equal(hit.headers['x-cache'], 'HIT');
    t.equal(
      await metricValue(b, 'profile_cache_hits_total', { tier: 'local' }),
      1,
      'from the local tier',
    );

    const sub = h.nats.nc.subscribe(n.subjects.profileInvalidate, { max: 1, timeout: 30_000 });
    t.equal((await rename('Local v2')).statusCode, 200);
    for await (const m of sub) t.same(m.json(), { id, version: 2 }, 'invalidation published');
    // The server sent the message to b before answering this round trip, so b has handled it.
    await b.nats.nc.flush();
    const after = await get(b);
    t.equal(after.json().displayName, 'Local v2', 'replica b serves the update');
    t.equal((await get(a)).json().displayName, 'Local v2', 'replica a too');
  });

  await t.test('staleness bound when an invalidation is lost: PROFILE_LOCAL_TTL_MS', async (t) => {
    const ttlMs = 500;
    // Another namespace: this replica never hears the invalidations (as if the message were lost).
    const { app: deaf } = await build(t, {
      env: h,
      vars: {
        NATS_NAMESPACE: `${h.nats.namespace}_deaf`,
        PROFILE_LOCAL_TTL_MS: String(ttlMs),
        PROFILE_SIGNUP_CONSUMER: 'false',
        PROFILE_OUTBOX_RELAY: 'false',
      },
    });
    const first = await get(deaf);
    const storedAt = Date.now();
    t.equal(first.json().displayName, 'Local v2');
    t.equal((await rename('Local v3')).statusCode, 200);
    const stale = await get(deaf);
    if (Date.now() - storedAt < ttlMs) {
      t.equal(
        stale.json().displayName,
        'Local v2',
        'within the bound, the deaf replica may be stale',
      );
    }
    // The entry was stored before storedAt, so once the TTL has passed since then it has expired:
    // the very next read must already serve the update (from Redis, which the update fixed).
    const wait = storedAt + ttlMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 5));
    t.equal(
      (await get(deaf)).json<{ displayName: string }>().displayName,
      'Local v3',
      'stale for at most PROFILE_LOCAL_TTL_MS',
    );
  });
});
