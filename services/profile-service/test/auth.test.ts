// Access tokens: the configured public key decides the one algorithm accepted (Ed25519: EdDSA,
// P-256: ES256, as signup-service signs with either); a token of any other algorithm is a 401,
// and a key of any other type stops the service at start-up, naming JWT_PUBLIC_KEY (or the block
// of JWT_PREVIOUS_PUBLIC_KEYS). Verification by kid, rotation and the JWK Set: jwks.test.ts.
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { ConfigError } from '@app/platform';
import t from 'tap';
import { loadConfig } from '../src/config.js';
import { build, jwtSigner, keyPair, patchProfile, testEnv } from './helper.js';

const KINDS = ['ed25519', 'p256'] as const;

/** An HS256 token keyed with the public key's PEM: the classic algorithm-confusion forgery. */
function hs256WithPublicKey(payload: Record<string, unknown>, publicPem: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${head}.${createHmac('sha256', publicPem).update(head).digest('base64url')}`;
}

void t.test('PATCH with a token signed by the configured key type', async (t) => {
  const env = await testEnv(t);
  const pairs = Object.fromEntries(KINDS.map((kind) => [kind, keyPair(kind)]));
  const signers = Object.fromEntries(
    await Promise.all(KINDS.map(async (k) => [k, await jwtSigner(t, pairs[k]!.privateKey)])),
  );
  for (const kind of KINDS) {
    const other = kind === 'ed25519' ? 'p256' : 'ed25519';
    await t.test(`${kind} key`, async (t) => {
      const { app } = await build(t, { env, vars: { JWT_PUBLIC_KEY: pairs[kind]!.publicPem } });
      const id = await env.createUser('Ada');
      const ok = await patchProfile(app, id, { bio: kind }, env.token(id, {}, signers[kind]));
      t.equal(ok.statusCode, 200, 'a token signed by the matching private key');
      t.match(ok.json(), { id, bio: kind, version: 2 });

      const foreign = await patchProfile(app, id, { bio: 'x' }, env.token(id, {}, signers[other]));
      t.equal(foreign.statusCode, 401, `a token of the other algorithm (${other} key)`);
      t.equal(foreign.json().code, 'UNAUTHORIZED');
      const now = Math.floor(Date.now() / 1000);
      const claims = { sub: id, iss: 'signup-service', aud: 'app', iat: now, exp: now + 300 };
      const confused = hs256WithPublicKey(claims, pairs[kind]!.publicPem);
      t.equal(
        (await patchProfile(app, id, { bio: 'x' }, confused)).statusCode,
        401,
        'HS256 keyed with the public key',
      );
      const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
        JSON.stringify(claims),
      ).toString('base64url')}.`;
      t.equal((await patchProfile(app, id, { bio: 'x' }, unsigned)).statusCode, 401, 'alg none');
      const read = await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
      t.equal(read.json().bio, kind, 'only the valid token wrote');
    });
  }
});

void t.test('any other key type is a configuration error naming JWT_PUBLIC_KEY', async (t) => {
  const pem = (key: { export(o: object): string | Buffer }) =>
    key.export({ type: 'spki', format: 'pem' }).toString();
  const others = {
    rsa: pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey),
    'P-384': pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey),
    'not a key': 'hello',
  };
  for (const [what, key] of Object.entries(others)) {
    let error: unknown;
    try {
      loadConfig({ JWT_PUBLIC_KEY: key });
    } catch (err) {
      error = err;
    }
    t.type(error, ConfigError, `${what}: refused`);
    t.same(
      (error as ConfigError).problems.map((p) => p.variable),
      ['JWT_PUBLIC_KEY'],
      `${what}: names JWT_PUBLIC_KEY`,
    );
  }
  t.doesNotThrow(() => loadConfig({ JWT_PUBLIC_KEY: keyPair('p256').publicPem }), 'P-256');
});

void t.test(
  'JWT_PREVIOUS_PUBLIC_KEYS and JWT_JWKS_URL: each bad block or missing key is named',
  async (t) => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        t.type(err, ConfigError);
        return (err as ConfigError).problems;
      }
      t.fail('no error');
      return [];
    };
    const current = keyPair('ed25519').publicPem;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    t.same(
      problemsOf({
        JWT_PUBLIC_KEY: current,
        JWT_PREVIOUS_PUBLIC_KEYS: keyPair('p256').publicPem + rsa,
      }),
      [
        {
          variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
          problem: 'block 2 of 2 must be an Ed25519 or P-256 key, not rsa',
        },
      ],
    );
    t.same(problemsOf({}), [
      {
        variable: 'JWT_PUBLIC_KEY',
        problem: 'required, missing (or set JWT_JWKS_URL to verify with the JWK Set)',
      },
    ]);
    t.same(
      problemsOf({ JWT_JWKS_URL: 'http://signup:3001/jwks', JWT_PREVIOUS_PUBLIC_KEYS: current }),
      [
        {
          variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
          problem: 'needs the key that signs now next to it (JWT_PUBLIC_KEY)',
        },
      ],
    );
    t.same(
      problemsOf({ JWT_JWKS_URL: 'signup:3001' }).map((p) => p.variable),
      ['JWT_JWKS_URL'],
    );
    t.doesNotThrow(
      () => loadConfig({ JWT_JWKS_URL: 'http://signup-service:3001/.well-known/jwks.json' }),
      'the JWK Set alone',
    );
    t.doesNotThrow(
      () =>
        loadConfig({
          JWT_PUBLIC_KEY: current,
          JWT_PREVIOUS_PUBLIC_KEYS: keyPair('p256').publicPem + keyPair('ed25519').publicPem,
        }),
      'a key and two previous ones',
    );
  },
);
