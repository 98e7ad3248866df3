// Idempotency-Key on POST /v1/signup, as Stripe defines it.
import t from 'tap';
import {
  claimKey,
  fingerprintSecret,
  requestFingerprint,
  SIGNUP_SCOPE,
} from '../src/lib/idempotency.js';
import { build, counts, keys, postSignup, signupBody, verifyWithPublicKey } from './helper.js';

const noRelay = { vars: { SIGNUP_RELAY_ENABLED: 'false' } };

void t.test(
  'same key and body: the stored answer with a fresh token, nothing created twice',
  async (t) => {
    const { app, env } = await build(t, noRelay);
    const body = signupBody();
    const headers = { 'idempotency-key': 'key-1' };
    const first = await postSignup(app, body, headers);
    const again = await postSignup(app, { ...body }, headers);
    t.equal(first.statusCode, 201);
    t.equal(again.statusCode, 201);
    t.equal(again.json().userId, first.json().userId, 'same user');
    t.equal(again.headers['idempotent-replayed'], 'true');
    t.equal(
      verifyWithPublicKey(again.json().accessToken, keys.publicKey).sub,
      first.json().userId,
      'a valid token re-issued',
    );
    t.same(await counts(env), { users: 1, profiles: 1, events: 1 });
    const stored = await env.prisma.idempotencyKey.findFirstOrThrow({ where: { key: 'key-1' } });
    t.equal(stored.responseStatus, 201);
    t.notMatch(JSON.stringify(stored.responseBody), /accessToken|eyJ/, 'no token stored');
    const hours = (stored.expiresAt.getTime() - stored.createdAt.getTime()) / 3_600_000;
    t.ok(hours >= 24, 'kept for at least 24 h');
  },
);

void t.test('same key, different body: 422, nothing created', async (t) => {
  const { app, env } = await build(t, noRelay);
  const headers = { 'idempotency-key': 'key-2' };
  t.equal((await postSignup(app, signupBody(), headers)).statusCode, 201);
  const other = await postSignup(app, signupBody(), headers);
  t.equal(other.statusCode, 422);
  t.equal(other.json().code, 'IDEMPOTENCY_KEY_REUSED');
  t.match(other.headers['content-type'], /problem\+json/);
  t.same(await counts(env), { users: 1, profiles: 1, events: 1 });
});

void t.test('a retry while the first request is still in flight: 409', async (t) => {
  const { app, env, config } = await build(t, noRelay);
  const body = signupBody();
  // The state a first request leaves while it runs: the key claimed, no answer yet.
  const fingerprint = requestFingerprint(fingerprintSecret(config.JWT_PRIVATE_KEY), body);
  t.equal((await claimKey(app.pg, SIGNUP_SCOPE, 'key-3', fingerprint, 24)).kind, 'claimed');
  const res = await postSignup(app, body, { 'idempotency-key': 'key-3' });
  t.equal(res.statusCode, 409);
  t.equal(res.json().code, 'IDEMPOTENCY_REQUEST_IN_PROGRESS');
  t.same(await counts(env), { users: 0, profiles: 0, events: 0 });
});

void t.test('a duplicate-email answer is stored too and replayed', async (t) => {
  const { app } = await build(t, noRelay);
  await postSignup(app, signupBody({ email: 'dup@example.com' }));
  const body = signupBody({ email: 'dup@example.com' });
  const headers = { 'idempotency-key': 'key-4' };
  const a = await postSignup(app, body, headers);
  const b = await postSignup(app, body, headers);
  t.equal(a.statusCode, 409);
  t.equal(b.statusCode, 409);
  t.equal(b.json().code, 'EMAIL_TAKEN');
  t.equal(b.headers['idempotent-replayed'], 'true');
});

void t.test('50 concurrent requests with one key create exactly one user', async (t) => {
  const { app, env } = await build(t, noRelay);
  const body = signupBody();
  const responses = await Promise.all(
    Array.from({ length: 50 }, () => postSignup(app, body, { 'idempotency-key': 'key-50' })),
  );
  const statuses = responses.map((r) => r.statusCode);
  t.ok(
    statuses.every((s) => s === 201 || s === 409),
    `only 201 or 409 (${[...new Set(statuses)].join(',')})`,
  );
  const created = responses.filter((r) => r.statusCode === 201);
  t.ok(created.length >= 1, 'at least one 201');
  t.equal(new Set(created.map((r) => r.json().userId)).size, 1, 'every 201 names the same user');
  t.ok(
    responses
      .filter((r) => r.statusCode === 409)
      .every((r) => r.json().code === 'IDEMPOTENCY_REQUEST_IN_PROGRESS'),
  );
  t.same(await counts(env), { users: 1, profiles: 1, events: 1 });
});
