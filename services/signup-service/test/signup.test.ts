// POST /v1/signup: what a client and the event stream see for good, bad and duplicate signups.
import t from 'tap';
import { names, UserSignedUpV1, validate } from '@app/contracts';
import { build, counts, keys, postSignup, signupBody, verifyWithPublicKey } from './helper.js';

void t.test(
  'a signup stores user, profile and event together; the event reaches USERS with its id and traceparent',
  async (t) => {
    const { app, env } = await build(t);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const body = signupBody({ email: 'Ada.Lovelace@Example.com', displayName: 'Ada' });
    const res = await postSignup(app, body, { traceparent });
    t.equal(res.statusCode, 201);
    const { userId, accessToken } = res.json();
    t.match(userId, /^[0-9a-f-]{36}$/);
    const claims = verifyWithPublicKey(accessToken, keys.publicKey);
    t.equal(claims.sub, userId);

    const user = await env.prisma.user.findUniqueOrThrow({
      where: { id: userId },
      include: { profile: true },
    });
    t.equal(user.email, 'Ada.Lovelace@Example.com');
    t.equal(user.profile?.displayName, 'Ada');
    t.match(user.passwordHash, /^scrypt\$12\$/, 'password stored hashed');
    t.notMatch(user.passwordHash, body.password);

    const consumer = await env.nats.js.consumers.get(names(env.namespace).streams.users);
    const msg = await consumer.next({ expires: 30_000 });
    t.ok(msg, 'the event arrived on the stream');
    const envelope = msg!.json<UserSignedUpV1>();
    t.ok(validate(UserSignedUpV1, envelope).ok, 'matches the user.signed_up v1 envelope schema');
    t.equal(envelope.data.userId, userId);
    t.equal(envelope.data.email, 'Ada.Lovelace@Example.com');
    t.equal(msg!.subject, names(env.namespace).subjects.userSignedUp);
    t.equal(msg!.headers?.get('Nats-Msg-Id'), envelope.id, 'Nats-Msg-Id = event id');
    t.equal(msg!.headers?.get('traceparent'), traceparent, "the request's traceparent");
    const rows = await env.prisma.outboxEvent.findMany({ select: { id: true } });
    t.same(rows, [{ id: envelope.id }], 'the outbox row is the event');
  },
);

void t.test(
  'duplicate email, also differing only in case: 409 problem and no second event',
  async (t) => {
    const { app, env } = await build(t, { vars: { SIGNUP_RELAY_ENABLED: 'false' } });
    const first = await postSignup(app, signupBody({ email: 'grace@example.com' }));
    t.equal(first.statusCode, 201);
    for (const email of ['grace@example.com', 'GRACE@Example.COM']) {
      const res = await postSignup(app, signupBody({ email }));
      t.equal(res.statusCode, 409, email);
      t.match(res.headers['content-type'], /application\/problem\+json/);
      t.equal(res.json().code, 'EMAIL_TAKEN');
    }
    t.same(await counts(env), { users: 1, profiles: 1, events: 1 });
  },
);

void t.test(
  'concurrent signups for one email: one 201, every other one 409 EMAIL_TAKEN',
  async (t) => {
    const { app, env } = await build(t, { vars: { SIGNUP_RELAY_ENABLED: 'false' } });
    const emails = Array.from({ length: 10 }, (_, i) =>
      i % 2 ? 'Race@Example.com' : 'race@example.com',
    );
    const responses = await Promise.all(
      emails.map((email) => postSignup(app, signupBody({ email }))),
    );
    t.same(
      responses.map((r) => r.statusCode).sort(),
      [201, ...Array<number>(9).fill(409)],
      'exactly one account',
    );
    t.ok(
      responses.filter((r) => r.statusCode === 409).every((r) => r.json().code === 'EMAIL_TAKEN'),
    );
    t.same(await counts(env), { users: 1, profiles: 1, events: 1 });
  },
);

void t.test('bad inputs get 4xx problem+json and write nothing', async (t) => {
  const { app, env } = await build(t, { vars: { SIGNUP_RELAY_ENABLED: 'false' } });
  const good = signupBody();
  const json = { 'content-type': 'application/json' };
  type Case = {
    name: string;
    status: number;
    code?: string;
    payload: string | Buffer;
    headers?: Record<string, string>;
  };
  // A JSON body the schema refuses: the good one with some fields changed.
  const invalid = (name: string, changes: Record<string, unknown>): Case => ({
    name,
    status: 400,
    code: 'VALIDATION_FAILED',
    payload: JSON.stringify({ ...good, ...changes }),
  });
  const cases: Case[] = [
    {
      name: 'missing fields',
      status: 400,
      code: 'VALIDATION_FAILED',
      payload: JSON.stringify({ email: good.email }),
    },
    invalid('wrong types', { password: 1234567890123, displayName: 5 }),
    invalid('unknown field', { isAdmin: true }),
    invalid('invalid email', { email: 'not-an-email' }),
    invalid('weak password', { password: 'short' }),
    invalid('letters-only password', { password: 'abcdefghijklmnop' }),
    invalid('blank display name', { displayName: '   ' }),
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
  const missing = await postSignup(app, { email: 'x@y.io' });
  const paths = (missing.json().errors as Array<{ path: string }>).map((e) => e.path).sort();
  t.same(paths, ['body.displayName', 'body.password'], 'each missing field is named');
  t.same(await counts(env), { users: 0, profiles: 0, events: 0 }, 'nothing written');
});
