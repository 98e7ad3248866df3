// Updates: who may PATCH, what the body may hold, the new value visible at once from every replica,
// the user.profile_updated event through the outbox, and the stale-set race made deterministic.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { names, UserProfileUpdatedV1, validate } from '@app/contracts';
import t from 'tap';
import { build, gate, jwtSigner, patchProfile as patch, testEnv, waitFor } from './helper.js';

void t.test('profile updates', async (t) => {
  const h = await testEnv(t);
  const { app: a } = await build(t, { env: h });
  const { app: b } = await build(t, { env: h });
  const ada = await h.createUser('Ada');
  const bob = await h.createUser('Bob');

  await t.test(
    '401 without or with a bad token, 403 with another user, 400 on bad id/body',
    async (t) => {
      const none = await patch(a, ada, { bio: 'x' });
      t.equal(none.statusCode, 401);
      t.equal(none.headers['content-type'], 'application/problem+json');
      t.equal(none.json().code, 'UNAUTHORIZED');

      const otherKey = await jwtSigner(t, generateKeyPairSync('ed25519').privateKey);
      t.equal(
        (await patch(a, ada, { bio: 'x' }, h.token(ada, {}, otherKey))).statusCode,
        401,
        'foreign key',
      );
      t.equal((await patch(a, ada, { bio: 'x' }, 'not.a.jwt')).statusCode, 401, 'garbage');
      const past = Math.floor(Date.now() / 1000) - 60;
      t.equal(
        (await patch(a, ada, { bio: 'x' }, h.token(ada, { exp: past }))).statusCode,
        401,
        'expired',
      );
      t.equal(
        (await patch(a, ada, { bio: 'x' }, h.token(ada, { aud: 'other' }))).statusCode,
        401,
        'audience',
      );

      const forbidden = await patch(a, ada, { bio: 'x' }, h.token(bob));
      t.equal(forbidden.statusCode, 403);
      t.equal(forbidden.json().code, 'FORBIDDEN');

      const token = h.token(ada);
      for (const body of [
        {},
        { nickname: 'x' },
        { displayName: '' },
        { bio: 42 },
        { avatarUrl: 'ftp://x' },
      ]) {
        const res = await patch(a, ada, body, token);
        t.equal(res.statusCode, 400, JSON.stringify(body));
        t.equal(res.json().code, 'VALIDATION_FAILED');
      }
      const unknown = await patch(a, ada, { nickname: 'x' }, token);
      t.match(unknown.json().errors, [{ path: 'body.nickname' }], 'names the unknown field');
      t.equal((await patch(a, 'not-a-uuid', { bio: 'x' }, token)).statusCode, 400, 'bad id');

      const unchanged = await a.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
      t.equal(unchanged.json().version, 1, 'nothing was written');
    },
  );

  await t.test('PATCH then GET returns the new value at once, from every replica', async (t) => {
    // Both replicas have the old value cached.
    for (const app of [a, b]) {
      await app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
      const hit = await app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
      t.equal(hit.headers['x-cache'], 'HIT');
      t.equal(hit.json().displayName, 'Ada');
    }
    const oldEtag = (await b.inject({ method: 'GET', url: `/v1/profiles/${ada}` })).headers
      .etag as string;

    const res = await patch(a, ada, { displayName: 'Ada L.', bio: 'Analyst' }, h.token(ada));
    t.equal(res.statusCode, 200);
    t.match(res.json(), { id: ada, displayName: 'Ada L.', bio: 'Analyst', version: 2 });

    for (const [name, app] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const after = await app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
      t.equal(after.json().displayName, 'Ada L.', `replica ${name} sees the update`);
      t.equal(after.json().version, 2);
      const cond = await app.inject({
        method: 'GET',
        url: `/v1/profiles/${ada}`,
        headers: { 'if-none-match': oldEtag },
      });
      t.equal(cond.statusCode, 200, `replica ${name}: the old ETag no longer matches`);
    }
    const batch = await b.inject({ method: 'GET', url: `/v1/profiles?ids=${ada}` });
    t.equal(batch.json().profiles[0].displayName, 'Ada L.', 'batch route too');

    const missing = await patch(a, randomUUID(), { bio: 'x' }, h.token(randomUUID()));
    t.equal(missing.statusCode, 403, "another id than the token's is refused before any lookup");
    const ghost = randomUUID();
    const none = await patch(a, ghost, { bio: 'x' }, h.token(ghost));
    t.equal(none.statusCode, 404, 'a valid token for an id with no profile');
    t.equal(none.json().code, 'PROFILE_NOT_FOUND');
  });

  await t.test('the update publishes user.profile_updated through the outbox', async (t) => {
    const n = names(h.nats.namespace);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await a.inject({
      method: 'PATCH',
      url: `/v1/profiles/${bob}`,
      payload: { avatarUrl: 'https://example.test/bob.png' },
      headers: { authorization: `Bearer ${h.token(bob)}`, traceparent },
    });
    t.equal(res.statusCode, 200);
    // The relay publishes after commit; wait for the event on the stream (bounded).
    let stored: Awaited<ReturnType<typeof h.nats.jsm.streams.getMessage>> = null;
    await waitFor('the profile event on the stream', async () => {
      stored = await h.nats.jsm.streams
        .getMessage(n.streams.users, { last_by_subj: n.subjects.userProfileUpdated })
        .catch(() => null);
      return stored !== null && JSON.stringify(stored.json()).includes(bob);
    });
    const m = stored!;
    const checked = validate(UserProfileUpdatedV1, m.json());
    t.ok(checked.ok, 'envelope matches the schema');
    const event = checked.ok ? checked.value : undefined;
    t.equal(m.header?.get('Nats-Msg-Id'), event?.id, 'Nats-Msg-Id is the event id');
    const header = m.header?.get('traceparent');
    const mine = event;
    t.match(mine?.data, { userId: bob, profileVersion: 2, changed: ['avatarUrl'] });
    t.equal(header, traceparent, 'the request traceparent travels with the event');
  });

  await t.test(
    'stale-set race: a read held after its DB read cannot put the old value back',
    async (t) => {
      const cy = await h.createUser('Cy');
      const reached = gate();
      const release = gate();
      let hold = true;
      const { app: slow } = await build(t, {
        env: h,
        deps: {
          afterDbRead: async (ids) => {
            if (!hold || !ids.includes(cy)) return;
            hold = false;
            reached.open();
            await release.wait;
          },
        },
      });
      const heldRead = slow.inject({ method: 'GET', url: `/v1/profiles/${cy}` });
      await reached.wait; // the read has the old row in hand and has not cached it yet

      const res = await patch(a, cy, { displayName: 'Cy v2' }, h.token(cy));
      t.equal(res.statusCode, 200, 'the update commits and fixes the cache');

      release.open();
      const held = await heldRead;
      t.equal(held.json().displayName, 'Cy', 'the held read answers what it read');

      for (const app of [slow, a, b]) {
        const next = await app.inject({ method: 'GET', url: `/v1/profiles/${cy}` });
        t.equal(next.json().displayName, 'Cy v2', 'the next read returns the update');
        t.equal(next.headers['x-cache'], 'HIT');
      }
    },
  );
});
