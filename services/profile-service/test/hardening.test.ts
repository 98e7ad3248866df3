// Input Postgres cannot store (NUL, unpaired surrogates) is a 400 on every PATCH string, never a
// 500; updates are rate-limited per user; CORS grants only the origins in CORS_ORIGINS.
import { once } from 'node:events';
import t from 'tap';
import { build, patchProfile } from './helper.js';

const UNSTORABLE = {
  NUL: 'a\u0000b',
  'lone surrogate': 'a\ud800b',
  'reversed pair': '\udfff\ud800',
};

void t.test('profile PATCH refuses NUL and lone surrogates with 400, keeps emoji', async (t) => {
  const { app, env: h } = await build(t);
  const ada = await h.createUser('Ada');
  const token = h.token(ada);
  const patch = (body: Record<string, unknown>) =>
    app.inject({
      method: 'PATCH',
      url: `/v1/profiles/${ada}`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
  for (const [what, bad] of Object.entries(UNSTORABLE)) {
    for (const body of [
      { bio: bad },
      { displayName: `Ada ${bad}` },
      { avatarUrl: `https://img.example/${bad}.png` },
    ]) {
      const res = await patch(body);
      const field = Object.keys(body)[0]!;
      t.equal(res.statusCode, 400, `${what} in ${field}`);
      t.match(res.headers['content-type'], /^application\/problem\+json/);
      t.match(res.json(), { status: 400, code: 'VALIDATION_FAILED' });
    }
  }
  const read = await app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
  t.match(read.json(), { displayName: 'Ada', bio: null, version: 1 }, 'nothing was written');

  const ok = await patch({ bio: 'Zoë 😀 👩‍👩‍👧‍👦', displayName: 'Ada ✨' });
  t.equal(ok.statusCode, 200, 'astral text is stored');
  t.match(ok.json(), { bio: 'Zoë 😀 👩‍👩‍👧‍👦', displayName: 'Ada ✨' });
});

void t.test('profile PATCH: per-user limit answers 429 with Retry-After', async (t) => {
  const { app, env: h } = await build(t, { vars: { PROFILE_RATE_PATCH_MAX: '2' } });
  // The limiter lets requests through until Redis is connected: count from the first request.
  if (app.redis.status !== 'ready') await once(app.redis, 'ready');
  const [ada, bob] = [await h.createUser('Ada'), await h.createUser('Bob')];
  const patch = (id: string, bio: string) => patchProfile(app, id, { bio }, h.token(id));
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await patch(ada, `bio ${i}`)).statusCode);
  t.same(statuses, [200, 200, 429]);
  const limited = await patch(ada, 'again');
  t.equal(limited.statusCode, 429);
  t.match(limited.headers['content-type'], /^application\/problem\+json/);
  t.match(limited.json(), { code: 'RATE_LIMITED' });
  t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After');
  t.equal((await patch(bob, 'hi')).statusCode, 200, 'another user has their own budget');
  const read = await app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
  t.equal(read.json().bio, 'bio 1', 'the refused updates changed nothing');
});

void t.test('CORS_ORIGINS: a configured origin is granted, another is not', async (t) => {
  const { app, env: h } = await build(t, { vars: { CORS_ORIGINS: 'https://app.example' } });
  const ada = await h.createUser('Ada');
  const preflight = (origin: string) =>
    app.inject({
      method: 'OPTIONS',
      url: `/v1/profiles/${ada}`,
      headers: { origin, 'access-control-request-method': 'PATCH' },
    });
  t.equal(
    (await preflight('https://app.example')).headers['access-control-allow-origin'],
    'https://app.example',
  );
  t.notOk((await preflight('https://evil.example')).headers['access-control-allow-origin']);
  const read = await app.inject({
    method: 'GET',
    url: `/v1/profiles/${ada}`,
    headers: { origin: 'https://app.example' },
  });
  t.equal(read.headers['access-control-allow-origin'], 'https://app.example');
});
