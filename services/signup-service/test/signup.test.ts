// POST /v1/signup: what a client and the event stream see for good, bad and duplicate signups.
import t from 'tap';
import { UserSignedUpV1, validate } from '@app/contracts';
import { build, counts, keys, signupBody, sql, testConfig, verifyWithPublicKey } from './helper.js';

void t.test(
  'a signup stores user, profile and event together; the event reaches USERS with its id and traceparent',
  async (t) => {
    const ctx = await testConfig(t);
    const app = await build(t, ctx.config);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const body = signupBody({ email: 'Ada.Lovelace@Example.com', displayName: 'Ada' });
    const res = await app.inject({
      method: 'POST',
      url: '/v1/signup',
      payload: body,
      headers: { traceparent },
    });
    t.equal(res.statusCode, 201);
    const { userId, accessToken } = res.json();
    t.match(userId, /^[0-9a-f-]{36}$/);
    const claims = verifyWithPublicKey(accessToken, keys.publicKey);
    t.equal(claims.sub, userId);

    const [user] = await sql<{ email: string; password_hash: string; display_name: string }>(
      ctx.databaseUrl,
      'SELECT u.email, u.password_hash, p.display_name FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = $1',
      [userId],
    );
    t.equal(user?.email, 'Ada.Lovelace@Example.com');
    t.equal(user?.display_name, 'Ada');
    t.match(user?.password_hash, /^scrypt\$12\$/, 'password stored hashed');
    t.notMatch(user?.password_hash, body.password);

    const consumer = await ctx.nats.js.consumers.get(ctx.nats.namespace.toUpperCase() + '_USERS');
    const msg = await consumer.next({ expires: 30_000 });
    t.ok(msg, 'the event arrived on the stream');
    const envelope = msg!.json<UserSignedUpV1>();
    t.ok(validate(UserSignedUpV1, envelope).ok, 'matches the user.signed_up v1 envelope schema');
    t.equal(envelope.data.userId, userId);
    t.equal(envelope.data.email, 'Ada.Lovelace@Example.com');
    t.equal(msg!.subject, `${ctx.namespace}.user.signed_up`);
    t.equal(msg!.headers?.get('Nats-Msg-Id'), envelope.id, 'Nats-Msg-Id = event id');
    t.equal(msg!.headers?.get('traceparent'), traceparent, "the request's traceparent");
    const [row] = await sql<{ id: string }>(ctx.databaseUrl, 'SELECT id FROM outbox_events');
    t.equal(row?.id, envelope.id, 'the outbox row is the event');
  },
);

void t.test(
  'duplicate email, also differing only in case: 409 problem and no second event',
  async (t) => {
    const ctx = await testConfig(t, { SIGNUP_RELAY_ENABLED: 'false' });
    const app = await build(t, ctx.config);
    const first = await app.inject({
      method: 'POST',
      url: '/v1/signup',
      payload: signupBody({ email: 'grace@example.com' }),
    });
    t.equal(first.statusCode, 201);
    for (const email of ['grace@example.com', 'GRACE@Example.COM']) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/signup',
        payload: signupBody({ email }),
      });
      t.equal(res.statusCode, 409, email);
      t.match(res.headers['content-type'], /application\/problem\+json/);
      t.equal(res.json().code, 'EMAIL_TAKEN');
    }
    t.same(await counts(ctx.databaseUrl), { users: 1, profiles: 1, events: 1 });
  },
);

void t.test('bad inputs get 4xx problem+json and write nothing', async (t) => {
  const ctx = await testConfig(t, { SIGNUP_RELAY_ENABLED: 'false' });
  const app = await build(t, ctx.config);
  const good = signupBody();
  const json = { 'content-type': 'application/json' };
  const cases: Array<{
    name: string;
    status: number;
    code?: string;
    payload: string | Buffer;
    headers?: Record<string, string>;
  }> = [
    {
      name: 'missing fields',
      status: 400,
      code: 'VALIDATION_FAILED',
      payload: JSON.stringify({ email: good.email }),
    },
    {
      name: 'wrong types',
      status: 400,
      code: 'VALIDATION_FAILED',
      payload: JSON.stringify({ ...good, password: 1234567890123, displayName: 5 }),
    },
    {
      name: 'unknown field',
      status: 400,
      code: 'VALIDATION_FAILED',
      payload: JSON.stringify({ ...good, isAdmin: true }),
    },
    {
      name: 'invalid email',
      status: 400,
      code: 'VALIDATION_FAILED',
      payload: JSON.stringify({ ...good, email: 'not-an-email' }),
    },
    {
      name: 'weak password',
      status: 400,
      code: 'VALIDATION_FAILED',
      payload: JSON.stringify({ ...good, password: 'short' }),
    },
    {
      name: 'letters-only password',
      status: 400,
      code: 'VALIDATION_FAILED',
      payload: JSON.stringify({ ...good, password: 'abcdefghijklmnop' }),
    },
    {
      name: 'blank display name',
      status: 400,
      code: 'VALIDATION_FAILED',
      payload: JSON.stringify({ ...good, displayName: '   ' }),
    },
    { name: 'invalid JSON', status: 400, code: 'INVALID_JSON', payload: '{"email": ' },
    { name: '10 MB body', status: 413, payload: Buffer.alloc(10 * 1024 * 1024, 'a') },
    {
      name: 'wrong content type',
      status: 415,
      payload: 'email=a@b.io',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    },
    {
      name: 'idempotency key too long',
      status: 400,
      code: 'VALIDATION_FAILED',
      payload: JSON.stringify(good),
      headers: { ...json, 'idempotency-key': 'k'.repeat(256) },
    },
  ];
  for (const c of cases) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/signup',
      payload: c.payload,
      headers: c.headers ?? json,
    });
    t.equal(res.statusCode, c.status, `${c.name}: status`);
    t.match(res.headers['content-type'], /application\/problem\+json/, `${c.name}: problem+json`);
    const problem = res.json();
    t.equal(problem.status, c.status, `${c.name}: body status`);
    if (c.code) t.equal(problem.code, c.code, `${c.name}: code`);
  }
  const missing = await app.inject({
    method: 'POST',
    url: '/v1/signup',
    payload: { email: 'x@y.io' },
  });
  const paths = (missing.json().errors as Array<{ path: string }>).map((e) => e.path).sort();
  t.same(paths, ['body.displayName', 'body.password'], 'each missing field is named');
  t.same(await counts(ctx.databaseUrl), { users: 0, profiles: 0, events: 0 }, 'nothing written');
});
