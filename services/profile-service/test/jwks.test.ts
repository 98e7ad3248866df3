// Tokens verified by kid, with signup-service's real tokens: a rotation (signup-service restarted
// with key B and JWT_PREVIOUS_PUBLIC_KEYS=A) keeps A's tokens valid exactly where A is still
// configured, and with JWT_JWKS_URL this service needs no key at all: it fetches the running
// signup-service's JWK Set. A kid no key has, or a token without kid where several keys (or only
// the set) could have signed it, is the usual 401; an unreachable set is a 503, not the token's fault.
import type { KeyObject } from 'node:crypto';
import { jwtPublicKey, type App } from '@app/platform';
import { freePort, startApp, type TestLike } from '@app/testing';
import { SignJWT } from 'jose';
import t, { type Test } from 'tap';
// signup-service itself, built in this process: the tokens here are the ones it really issues.
import * as signupService from '../../signup-service/src/index.js';
import { build, jwtSigner, keyPair, patchProfile, testEnv, type TestEnv } from './helper.js';

const privatePem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const kidOf = (publicPem: string) => jwtPublicKey(publicPem, 'test').kid;

/** signup-service on this env's database, Redis and NATS, signing with `vars`' keys. */
async function startSignup(t: TestLike, env: TestEnv, vars: Record<string, string | undefined>) {
  const { app } = await startApp(t, signupService, {
    ...env.vars,
    // This env's key is profile-service's; signup-service gets the keys of `vars` only.
    JWT_PUBLIC_KEY: undefined,
    SIGNUP_REDIS_PREFIX: `${env.redisPrefix}signup:`,
    SIGNUP_RELAY_ENABLED: 'false',
    SIGNUP_SCRYPT_LOG_N: '10',
    SIGNUP_RATE_SIGNUP_MAX: '100000',
    ...vars,
  });
  return app;
}

let n = 0;
/** Signs up through signup-service: the new user's id and access token. */
async function signUp(signup: App): Promise<{ id: string; token: string }> {
  n++;
  const res = await signup.inject({
    method: 'POST',
    url: '/v1/signup',
    payload: {
      email: `jwks${n}.${Date.now()}@example.com`,
      password: 'correct horse 9 battery',
      displayName: `User ${n}`,
    },
  });
  if (res.statusCode !== 201) throw new Error(`signup answered ${res.statusCode}: ${res.body}`);
  const { userId, accessToken } = res.json();
  return { id: userId, token: accessToken };
}

/** A token as signup-service makes them, signed by `privateKey` with `kid` in its header. */
function foreignToken(sub: string, privateKey: KeyObject, kid: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setSubject(sub)
    .setIssuer('signup-service')
    .setAudience('app')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
}

function refusedAs401(t: Test, res: Awaited<ReturnType<typeof patchProfile>>, what: string) {
  t.equal(res.statusCode, 401, what);
  t.match(res.headers['content-type'], /^application\/problem\+json/);
  t.equal(res.json().code, 'UNAUTHORIZED');
}

void t.test(
  'rotation: with B and JWT_PREVIOUS_PUBLIC_KEYS=A both tokens are accepted; with B only, A is a 401',
  async (t) => {
    const env = await testEnv(t);
    const a = keyPair('ed25519');
    const b = keyPair('p256');
    let old = { id: '', token: '' };
    await t.test('signup-service signs with A', async (t) => {
      const signup = await startSignup(t, env, { JWT_PRIVATE_KEY: privatePem(a.privateKey) });
      old = await signUp(signup);
    });
    const signup = await startSignup(t, env, {
      JWT_PRIVATE_KEY: privatePem(b.privateKey),
      JWT_PREVIOUS_PUBLIC_KEYS: a.publicPem,
    });
    const jwks = (await signup.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    t.same(
      jwks.keys.map((k: { kid: string }) => k.kid),
      [kidOf(b.publicPem), kidOf(a.publicPem)],
      'restarted with B: the set lists B, then A',
    );
    const fresh = await signUp(signup);
    // Signed by B without a kid, as tokens were before keys were named.
    const noKid = env.token(fresh.id, {}, await jwtSigner(t, b.privateKey));

    await t.test('profile-service with B and previous A', async (t) => {
      const { app } = await build(t, {
        env,
        vars: { JWT_PUBLIC_KEY: b.publicPem, JWT_PREVIOUS_PUBLIC_KEYS: a.publicPem },
      });
      const oldPatch = await patchProfile(app, old.id, { bio: 'signed by A' }, old.token);
      t.equal(oldPatch.statusCode, 200, 'a token of A (retired)');
      t.equal(oldPatch.json().bio, 'signed by A');
      const freshPatch = await patchProfile(app, fresh.id, { bio: 'signed by B' }, fresh.token);
      t.equal(freshPatch.statusCode, 200, 'a token of B');
      refusedAs401(
        t,
        await patchProfile(app, fresh.id, { bio: 'x' }, noKid),
        'no kid with two keys configured: which one signed it is not guessed',
      );
    });
    await t.test('profile-service with B only', async (t) => {
      const { app } = await build(t, { env, vars: { JWT_PUBLIC_KEY: b.publicPem } });
      refusedAs401(t, await patchProfile(app, old.id, { bio: 'x' }, old.token), 'a token of A');
      t.equal((await patchProfile(app, fresh.id, { bio: 'B' }, fresh.token)).statusCode, 200);
      t.equal(
        (await patchProfile(app, fresh.id, { bio: 'no kid' }, noKid)).statusCode,
        200,
        'no kid with one key configured: a token issued before kids',
      );
    });
  },
);

void t.test(
  "JWT_JWKS_URL: a running signup-service's tokens verify through its JWK Set; an unknown kid is a 401",
  async (t) => {
    const env = await testEnv(t);
    const signing = keyPair('ed25519');
    const signup = await startSignup(t, env, { JWT_PRIVATE_KEY: privatePem(signing.privateKey) });
    await signup.listen({ port: 0, host: '127.0.0.1' });
    const address = signup.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
    const { app } = await build(t, {
      env,
      vars: {
        JWT_PUBLIC_KEY: undefined,
        JWT_JWKS_URL: `http://127.0.0.1:${address.port}/.well-known/jwks.json`,
      },
    });

    const ada = await signUp(signup);
    const ok = await patchProfile(app, ada.id, { bio: 'via the JWK Set' }, ada.token);
    t.equal(ok.statusCode, 200, "signup-service's token");
    t.equal(ok.json().bio, 'via the JWK Set');

    const stranger = keyPair('ed25519');
    refusedAs401(
      t,
      await patchProfile(
        app,
        ada.id,
        { bio: 'x' },
        await foreignToken(ada.id, stranger.privateKey, kidOf(stranger.publicPem)),
      ),
      'a token of a key the set does not have (unknown kid)',
    );
    refusedAs401(
      t,
      await patchProfile(
        app,
        ada.id,
        { bio: 'x' },
        await foreignToken(ada.id, stranger.privateKey, kidOf(signing.publicPem)),
      ),
      "another key's token claiming the signing key's kid",
    );
    const noKid = env.token(ada.id, {}, await jwtSigner(t, signing.privateKey));
    refusedAs401(
      t,
      await patchProfile(app, ada.id, { bio: 'x' }, noKid),
      'no kid and no key configured here',
    );
    const read = await app.inject({ method: 'GET', url: `/v1/profiles/${ada.id}` });
    t.equal(read.json().bio, 'via the JWK Set', 'only the valid token wrote');
  },
);

void t.test(
  'JWT_JWKS_URL unreachable: a token that needs the set is a 503 with Retry-After',
  async (t) => {
    const env = await testEnv(t);
    // A port nothing listens on: the set cannot be fetched.
    const port = await freePort();
    const { app } = await build(t, {
      env,
      vars: {
        JWT_PUBLIC_KEY: undefined,
        JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      },
    });
    const id = await env.createUser('Ada');
    const key = keyPair('ed25519');
    const res = await patchProfile(
      app,
      id,
      { bio: 'x' },
      await foreignToken(id, key.privateKey, kidOf(key.publicPem)),
    );
    t.equal(res.statusCode, 503);
    t.match(res.headers['content-type'], /^application\/problem\+json/);
    t.equal(res.json().code, 'DEPENDENCY_UNAVAILABLE');
    t.equal(res.headers['retry-after'], '2');
  },
);
