// POST /v1/sessions (login) and the access tokens it issues.
import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { build, keys, postSignup, signupBody, verifyWithPublicKey } from './helper.js';

void t.test(
  'login: right password -> token verifiable with the public key; otherwise the same 401',
  async (t) => {
    const { app } = await build(t, { vars: { SIGNUP_RELAY_ENABLED: 'false' } });
    const body = signupBody();
    const signup = await postSignup(app, body);
    const { userId } = signup.json();

    const ok = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { email: body.email.toUpperCase(), password: body.password },
    });
    t.equal(ok.statusCode, 200);
    const claims = verifyWithPublicKey(ok.json().accessToken, keys.publicKey);
    t.equal(claims.sub, userId);
    t.equal(claims.iss, 'signup-service');
    t.equal(claims.aud, 'app');
    const now = Date.now() / 1000;
    t.ok(
      typeof claims.exp === 'number' && claims.exp > now && claims.exp <= now + 900 + 5,
      'exp set from the TTL',
    );
    const other = generateKeyPairSync('ed25519')
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    t.throws(
      () => verifyWithPublicKey(ok.json().accessToken, other),
      /bad signature/,
      'another key does not verify it',
    );

    const wrong = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { email: body.email, password: 'wrong password 1' },
    });
    const unknown = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { email: 'nobody@example.com', password: 'wrong password 1' },
    });
    for (const res of [wrong, unknown]) {
      t.equal(res.statusCode, 401);
      t.match(res.headers['content-type'], /problem\+json/);
    }
    const strip = (r: typeof wrong) => {
      const { requestId: _r, ...rest } = r.json();
      return rest;
    };
    t.same(strip(wrong), strip(unknown), 'the same answer whether the email exists or not');
  },
);

void t.test(
  'rate limits answer 429 with Retry-After: signup per IP, login per email',
  async (t) => {
    const { app, config, env } = await build(t, {
      vars: {
        SIGNUP_RELAY_ENABLED: 'false',
        SIGNUP_RATE_SIGNUP_MAX: '3',
        SIGNUP_RATE_LOGIN_EMAIL_MAX: '2',
      },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await postSignup(app, signupBody())).statusCode);
    }
    t.same(statuses, [201, 201, 201, 429]);
    const limited = await postSignup(app, signupBody());
    t.equal(limited.statusCode, 429);
    t.match(limited.headers['content-type'], /problem\+json/);
    t.equal(limited.json().code, 'RATE_LIMITED');
    const retryAfter = Number(limited.headers['retry-after']);
    t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);

    const login = (email: string, ip = '127.0.0.1') =>
      app.inject({
        method: 'POST',
        url: '/v1/sessions',
        payload: { email, password: 'whatever 123' },
        remoteAddress: ip,
      });
    t.equal((await login('target@example.com', '10.0.0.1')).statusCode, 401);
    t.equal((await login('target@example.com', '10.0.0.2')).statusCode, 401);
    const third = await login('TARGET@example.com', '10.0.0.3');
    t.equal(third.statusCode, 429, 'per email, whatever the IP and case');
    t.ok(Number(third.headers['retry-after']) >= 1);
    t.equal(
      (await login('someone-else@example.com', '10.0.0.3')).statusCode,
      401,
      'other emails unaffected',
    );
    const keysInRedis = await env.redis.client.keys(`${config.SIGNUP_REDIS_PREFIX}rl:*`);
    t.ok(keysInRedis.length > 0, 'counted in Redis under the test prefix');
    t.notOk(
      keysInRedis.some((k) => k.includes('@')),
      'no email in clear in Redis',
    );
  },
);
