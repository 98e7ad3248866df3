// GET /.well-known/jwks.json and the kid of tokens: the set lists the signing key (Ed25519 or
// P-256) under the RFC 7638 thumbprint every token's header names, so a verifier needs nothing but
// the set; after a rotation it lists the retired keys too. Bad keys stop start-up, each named.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { ConfigError, type App } from '@app/platform';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  type JSONWebKeySet,
} from 'jose';
import t from 'tap';
import { loadConfig } from '../src/config.js';
import { build, postSignup, signupBody, testEnv } from './helper.js';

const KINDS = { ed25519: 'EdDSA', p256: 'ES256' } as const;

function pemPair(kind: keyof typeof KINDS | 'rsa') {
  const { privateKey, publicKey } =
    kind === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : kind === 'p256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The JWK a verifier expects for a public key: its RFC 7517 members, alg, use and thumbprint. */
async function expectedJwk(publicPem: string, alg: string) {
  const jwk = createPublicKey(publicPem).export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: await calculateJwkThumbprint(jwk, 'sha256') };
}

async function getJwks(app: App): Promise<JSONWebKeySet> {
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  if (res.statusCode !== 200) throw new Error(`JWKS answered ${res.statusCode}`);
  return res.json();
}

const CLAIMS = { issuer: 'signup-service', audience: 'app' };

void t.test(
  'the JWK Set lists the signing key under the kid of its tokens, which verify with the set alone',
  async (t) => {
    const env = await testEnv(t, { SIGNUP_RELAY_ENABLED: 'false' });
    for (const [kind, alg] of Object.entries(KINDS)) {
      await t.test(`${kind} key (${alg})`, async (t) => {
        const pair = pemPair(kind as keyof typeof KINDS);
        // No JWT_PUBLIC_KEY: the public key is derived from the private one.
        const { app } = await build(t, {
          env,
          vars: { JWT_PRIVATE_KEY: pair.privatePem, JWT_PUBLIC_KEY: undefined },
        });
        const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
        t.equal(res.statusCode, 200);
        t.match(res.headers['content-type'], /^application\/json/);
        t.equal(res.headers['cache-control'], 'public, max-age=300');
        const jwks = res.json<JSONWebKeySet>();
        t.strictSame(jwks, { keys: [await expectedJwk(pair.publicPem, alg)] });

        const body = signupBody();
        const signup = await postSignup(app, body);
        t.equal(signup.statusCode, 201);
        const login = await app.inject({
          method: 'POST',
          url: '/v1/sessions',
          payload: { email: body.email, password: body.password },
        });
        for (const token of [signup.json().accessToken, login.json().accessToken] as string[]) {
          t.strictSame(decodeProtectedHeader(token), { alg, kid: jwks.keys[0]!.kid, typ: 'JWT' });
          const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), CLAIMS);
          t.equal(payload.sub, signup.json().userId);
          await t.rejects(
            jwtVerify(token, createLocalJWKSet(jwks), { ...CLAIMS, audience: 'other' }),
            { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
            'the audience is checked',
          );
          await t.rejects(
            jwtVerify(token, createLocalJWKSet(jwks), { ...CLAIMS, issuer: 'other' }),
            { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
            'the issuer is checked',
          );
        }
        const other = await expectedJwk(pemPair(kind as keyof typeof KINDS).publicPem, alg);
        await t.rejects(
          jwtVerify(signup.json().accessToken, createLocalJWKSet({ keys: [other] }), CLAIMS),
          { code: 'ERR_JWKS_NO_MATCHING_KEY' },
          "another key's set does not verify it",
        );

        const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
        t.match(doc.paths['/.well-known/jwks.json'].get, {
          operationId: 'getJwks',
          tags: ['accounts'],
          summary: /JWK Set/,
        });
      });
    }
  },
);

void t.test(
  'rotation: restarted with key B and JWT_PREVIOUS_PUBLIC_KEYS=A, the set lists B then A and verifies both tokens',
  async (t) => {
    const env = await testEnv(t, { SIGNUP_RELAY_ENABLED: 'false' });
    const a = pemPair('ed25519');
    const b = pemPair('p256');
    let tokenA = '';
    await t.test('signing with A', async (t) => {
      const { app } = await build(t, {
        env,
        vars: { JWT_PRIVATE_KEY: a.privatePem, JWT_PUBLIC_KEY: undefined },
      });
      tokenA = (await postSignup(app, signupBody())).json().accessToken;
      t.strictSame(await getJwks(app), { keys: [await expectedJwk(a.publicPem, 'EdDSA')] });
    });

    const { app } = await build(t, {
      env,
      vars: {
        JWT_PRIVATE_KEY: b.privatePem,
        JWT_PUBLIC_KEY: b.publicPem,
        JWT_PREVIOUS_PUBLIC_KEYS: a.publicPem,
      },
    });
    const jwks = await getJwks(app);
    t.strictSame(jwks, {
      keys: [await expectedJwk(b.publicPem, 'ES256'), await expectedJwk(a.publicPem, 'EdDSA')],
    });
    const tokenB = (await postSignup(app, signupBody())).json().accessToken as string;
    t.equal(decodeProtectedHeader(tokenB).kid, jwks.keys[0]!.kid, 'B signs now');
    t.equal(decodeProtectedHeader(tokenA).kid, jwks.keys[1]!.kid);
    for (const token of [tokenA, tokenB]) {
      await t.resolves(jwtVerify(token, createLocalJWKSet(jwks), CLAIMS));
    }
  },
);

void t.test(
  'config: a bad JWT_PUBLIC_KEY or JWT_PREVIOUS_PUBLIC_KEYS block is named',
  async (t) => {
    const a = pemPair('ed25519');
    const b = pemPair('ed25519');
    const c = pemPair('p256');
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        t.type(err, ConfigError);
        return (err as ConfigError).problems;
      }
      return t.fail('no error');
    };

    t.same(problemsOf({ JWT_PRIVATE_KEY: a.privatePem, JWT_PUBLIC_KEY: b.publicPem }), [
      {
        variable: 'JWT_PUBLIC_KEY',
        problem: 'is not the public key of JWT_PRIVATE_KEY (leave it unset: it is derived)',
      },
    ]);

    const truncated = c.publicPem.slice(0, 60) + '\n-----END PUBLIC KEY-----\n';
    const problems = problemsOf({
      JWT_PRIVATE_KEY: a.privatePem,
      JWT_PUBLIC_KEY: b.publicPem,
      JWT_PREVIOUS_PUBLIC_KEYS: [
        c.publicPem,
        pemPair('rsa').publicPem,
        truncated,
        b.privatePem,
      ].join(''),
    });
    t.same(problems, [
      {
        variable: 'JWT_PUBLIC_KEY',
        problem: 'is not the public key of JWT_PRIVATE_KEY (leave it unset: it is derived)',
      },
      {
        variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
        problem: 'block 2 of 4 must be an Ed25519 or P-256 key, not rsa',
      },
      { variable: 'JWT_PREVIOUS_PUBLIC_KEYS', problem: 'block 3 of 4 is not a readable PEM key' },
      {
        variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
        problem: 'block 4 of 4 is a private key: give its public key',
      },
    ]);
    let message = '';
    try {
      loadConfig({ JWT_PRIVATE_KEY: a.privatePem, JWT_PREVIOUS_PUBLIC_KEYS: b.privatePem });
    } catch (err) {
      message = (err as Error).message;
    }
    t.match(message, /JWT_PREVIOUS_PUBLIC_KEYS: block 1 of 1 is a private key/);
    t.notMatch(message, /-----BEGIN|MC4CAQAw/, 'the message never quotes a key');

    const config = loadConfig({
      JWT_PRIVATE_KEY: a.privatePem.replaceAll('\n', '\\n'),
      JWT_PUBLIC_KEY: a.publicPem,
      JWT_PREVIOUS_PUBLIC_KEYS: (b.publicPem + c.publicPem).replaceAll('\n', '\\n'),
    });
    t.equal(config.JWT_PREVIOUS_PUBLIC_KEYS, b.publicPem + c.publicPem, 'one-line PEMs are read');
  },
);
