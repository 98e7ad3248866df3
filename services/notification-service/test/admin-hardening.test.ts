// The admin routes against hostile clients: wrong tokens from one IP are refused with 429 once
// their budget is spent (the right token too, until the window ends), every IP has an overall
// budget, strings Postgres cannot store are a 400, and CORS grants only CORS_ORIGINS.
import { once } from 'node:events';
import t from 'tap';
import { ADMIN_TOKEN, build, testEnv } from './helper.js';

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

void t.test(
  'wrong admin tokens: 401 until the budget is spent, then 429 for that IP',
  async (t) => {
    const { app } = await build(t, {
      env: await testEnv(t, { NOTIFY_RATE_ADMIN_FAILURES_MAX: '3' }),
    });
    // The limiter lets requests through until Redis is connected: count from the first request.
    if (app.redis.status !== 'ready') await once(app.redis, 'ready');
    const list = (headers: Record<string, string>, remoteAddress = '10.0.0.1') =>
      app.inject({ method: 'GET', url: '/admin/deadletters', headers, remoteAddress });

    t.equal((await list({})).statusCode, 401, 'no token: 401, not counted');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await list(auth(`wrong-token-${i}`))).statusCode);
    t.same(statuses, [401, 401, 401, 429], 'three wrong tokens, then refused');
    const locked = await list(auth(ADMIN_TOKEN));
    t.equal(locked.statusCode, 429, 'even the right token waits out the window');
    t.match(locked.headers['content-type'], /^application\/problem\+json/);
    t.match(locked.json(), { status: 429, code: 'RATE_LIMITED' });
    t.ok(Number(locked.headers['retry-after']) >= 1, 'Retry-After');
    t.equal((await list(auth(ADMIN_TOKEN), '10.0.0.2')).statusCode, 200, 'other IPs unaffected');
  },
);

void t.test('admin requests per IP are capped', async (t) => {
  const { app } = await build(t, { env: await testEnv(t, { NOTIFY_RATE_ADMIN_MAX: '2' }) });
  if (app.redis.status !== 'ready') await once(app.redis, 'ready');
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({
      method: 'GET',
      url: '/admin/deadletters',
      headers: auth(ADMIN_TOKEN),
    });
    statuses.push(res.statusCode);
  }
  t.same(statuses, [200, 200, 429]);
});

void t.test('NUL and lone surrogates in admin strings: 400 problem+json', async (t) => {
  const { app } = await build(t);
  for (const bad of ['a\u0000b', 'a\ud800b']) {
    const redrive = await app.inject({
      method: 'POST',
      url: '/admin/deadletters/redrive',
      headers: { ...auth(ADMIN_TOKEN), 'content-type': 'application/json' },
      payload: JSON.stringify({ filter: { reason: bad }, dryRun: true, actor: bad }),
    });
    t.equal(redrive.statusCode, 400, `redrive body with ${JSON.stringify(bad)}`);
    t.match(redrive.json(), { code: 'VALIDATION_FAILED' });
  }
  // A query string can carry a NUL (%00) but not a lone surrogate (UTF-8 has no encoding for it).
  const list = await app.inject({
    method: 'GET',
    url: '/admin/deadletters?subject=a%00b',
    headers: auth(ADMIN_TOKEN),
  });
  t.equal(list.statusCode, 400, 'list query with a NUL');
  t.match(list.json(), { code: 'VALIDATION_FAILED' });
});

void t.test('CORS_ORIGINS: a configured origin is granted, another is not', async (t) => {
  const { app } = await build(t, {
    env: await testEnv(t, { CORS_ORIGINS: 'https://ops.example' }),
  });
  const preflight = (origin: string) =>
    app.inject({
      method: 'OPTIONS',
      url: '/admin/deadletters',
      headers: { origin, 'access-control-request-method': 'GET' },
    });
  t.equal(
    (await preflight('https://ops.example')).headers['access-control-allow-origin'],
    'https://ops.example',
  );
  t.notOk((await preflight('https://evil.example')).headers['access-control-allow-origin']);
});
