// Input Postgres cannot store (NUL, unpaired surrogates) is a 400 on every body string, never a
// 500, while astral text still signs up; and CORS grants only the origins in CORS_ORIGINS.
import t from 'tap';
import { build, counts, postSignup, signupBody } from './helper.js';

const UNSTORABLE = {
  NUL: 'a\u0000b',
  'lone surrogate': 'a\ud800b',
  'reversed pair': '\udfff\ud800',
};

void t.test('NUL and lone surrogates in signup and login bodies: 400 problem+json', async (t) => {
  const { app, env } = await build(t, { vars: { SIGNUP_RELAY_ENABLED: 'false' } });
  for (const [what, bad] of Object.entries(UNSTORABLE)) {
    const bodies: Array<[string, string, Record<string, unknown>]> = [
      ['signup displayName', '/v1/signup', signupBody({ displayName: `Name ${bad}` })],
      ['signup password', '/v1/signup', signupBody({ password: `Correct horse 9 ${bad}` })],
      ['signup email', '/v1/signup', signupBody({ email: `user${bad}@example.com` })],
      [
        'login email',
        '/v1/sessions',
        { email: `user${bad}@example.com`, password: 'whatever 123' },
      ],
      ['login password', '/v1/sessions', { email: 'user@example.com', password: `pw ${bad}` }],
    ];
    for (const [field, url, body] of bodies) {
      const res = await app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      t.equal(res.statusCode, 400, `${what} in ${field}`);
      t.match(res.headers['content-type'], /^application\/problem\+json/);
      t.match(res.json(), { status: 400, code: 'VALIDATION_FAILED' }, `${what} in ${field}: code`);
    }
  }
  t.same(await counts(env), { users: 0, profiles: 0, events: 0 }, 'nothing written');

  const astral = await postSignup(
    app,
    signupBody({ displayName: 'Zoë 😀 👩‍👩‍👧‍👦', password: 'Correct horse 9 🐎' }),
  );
  t.equal(astral.statusCode, 201, 'emoji and accents sign up');
});

void t.test('CORS_ORIGINS: a configured origin is granted, another is not', async (t) => {
  const { app } = await build(t, {
    vars: { SIGNUP_RELAY_ENABLED: 'false', CORS_ORIGINS: 'https://app.example' },
  });
  const preflight = (origin: string) =>
    app.inject({
      method: 'OPTIONS',
      url: '/v1/signup',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
  const good = await preflight('https://app.example');
  t.equal(good.headers['access-control-allow-origin'], 'https://app.example');
  const evil = await preflight('https://evil.example');
  t.notOk(evil.headers['access-control-allow-origin'], 'other origins get no grant');
});

void t.test('every signup attempt spends the IP budget, invalid ones too', async (t) => {
  const { app } = await build(t, {
    vars: { SIGNUP_RELAY_ENABLED: 'false', SIGNUP_RATE_SIGNUP_MAX: '2' },
  });
  t.equal((await postSignup(app, signupBody({ displayName: 'a\u0000b' }))).statusCode, 400);
  t.equal((await postSignup(app, signupBody())).statusCode, 201);
  const third = await postSignup(app, signupBody());
  t.equal(third.statusCode, 429, 'the refused body counted');
  t.match(third.json(), { code: 'RATE_LIMITED' });
});
