// The key decides the JWS algorithm: Ed25519 -> EdDSA and P-256 -> ES256, for private and public
// PEMs alike; anything else is a configuration error naming the variable, every bad one at once.
// A key's kid is its RFC 7638 thumbprint; a variable of several PEM blocks names each bad block.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import {
  checkJwtKeys,
  ConfigError,
  jwkThumbprint,
  jwtAlgorithmFor,
  jwtPublicKey,
  loadJwtKeys,
  readJwtPublicKeys,
  withPemNewlines,
} from '../src/index.js';

const pems = (pair: ReturnType<typeof generateKeyPairSync>) => ({
  privatePem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
});
const ed25519 = pems(generateKeyPairSync('ed25519'));
const p256 = pems(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
const p384 = pems(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }));
const rsa = pems(generateKeyPairSync('rsa', { modulusLength: 2048 }));

void t.test('Ed25519 is EdDSA and P-256 is ES256, private or public', async (t) => {
  t.equal(jwtAlgorithmFor(ed25519.privatePem, 'K'), 'EdDSA');
  t.equal(jwtAlgorithmFor(ed25519.publicPem, 'K'), 'EdDSA');
  t.equal(jwtAlgorithmFor(p256.privatePem, 'K'), 'ES256');
  t.equal(jwtAlgorithmFor(p256.publicPem, 'K'), 'ES256');
});

void t.test('other keys are configuration errors naming the variable', async (t) => {
  const problemOf = (pem: string) => {
    try {
      jwtAlgorithmFor(pem, 'JWT_PUBLIC_KEY');
    } catch (err) {
      t.type(err, ConfigError);
      return (err as ConfigError).problems;
    }
    return t.fail('no error');
  };
  t.same(problemOf(rsa.publicPem), [
    { variable: 'JWT_PUBLIC_KEY', problem: 'must be an Ed25519 or P-256 key, not rsa' },
  ]);
  t.same(problemOf(p384.publicPem), [
    { variable: 'JWT_PUBLIC_KEY', problem: 'must be an Ed25519 or P-256 key, not ec secp384r1' },
  ]);
  t.same(problemOf('-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----'), [
    { variable: 'JWT_PUBLIC_KEY', problem: 'is not a readable PEM key' },
  ]);
});

void t.test('checkJwtKeys names every bad variable in one error', async (t) => {
  t.doesNotThrow(() => checkJwtKeys({ A: ed25519.privatePem, B: p256.publicPem }));
  let problems: ConfigError['problems'] = [];
  try {
    checkJwtKeys({ JWT_PRIVATE_KEY: rsa.privatePem, JWT_PUBLIC_KEY: 'junk' });
  } catch (err) {
    t.type(err, ConfigError);
    problems = (err as ConfigError).problems;
  }
  t.same(problems, [
    { variable: 'JWT_PRIVATE_KEY', problem: 'must be an Ed25519 or P-256 key, not rsa' },
    { variable: 'JWT_PUBLIC_KEY', problem: 'is not a readable PEM key' },
  ]);
});

void t.test(
  'a key is named by its RFC 7638 thumbprint, from its private or public PEM',
  async (t) => {
    // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    t.equal(
      jwkThumbprint({
        kty: 'OKP',
        crv: 'Ed25519',
        x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
      }),
      'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k',
    );
    for (const [pair, alg] of [
      [ed25519, 'EdDSA'],
      [p256, 'ES256'],
    ] as const) {
      const fromPrivate = jwtPublicKey(pair.privatePem, 'K');
      const fromPublic = jwtPublicKey(pair.publicPem, 'K');
      t.equal(fromPrivate.kid, fromPublic.kid, `${alg}: one kid for both halves`);
      t.equal(fromPublic.key.type, 'public');
      const { kty, crv, x, y } = createPublicKey(pair.publicPem).export({ format: 'jwk' });
      t.strictSame(fromPublic.jwk, {
        kty,
        crv,
        x,
        ...(y === undefined ? {} : { y }),
        alg,
        use: 'sig',
        kid: fromPublic.kid,
      });
    }
    t.equal(jwtPublicKey(p256.publicPem, 'K').jwk.crv, 'P-256');
    t.notOk('y' in jwtPublicKey(ed25519.publicPem, 'K').jwk, 'an Ed25519 JWK has no y');
  },
);

void t.test('concatenated PEM public keys: each bad block is named, by number', async (t) => {
  t.strictSame(readJwtPublicKeys('', 'V'), []);
  const both = readJwtPublicKeys(`${ed25519.publicPem}\n${p256.publicPem}`, 'V');
  t.same(
    both.map((k) => k.alg),
    ['EdDSA', 'ES256'],
    'in order',
  );
  const problemsOf = (text: string) => {
    try {
      readJwtPublicKeys(text, 'JWT_PREVIOUS_PUBLIC_KEYS');
    } catch (err) {
      t.type(err, ConfigError);
      return (err as ConfigError).problems;
    }
    return t.fail('no error');
  };
  t.same(problemsOf(ed25519.publicPem + rsa.publicPem + p384.publicPem + p256.privatePem), [
    {
      variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
      problem: 'block 2 of 4 must be an Ed25519 or P-256 key, not rsa',
    },
    {
      variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
      problem: 'block 3 of 4 must be an Ed25519 or P-256 key, not ec secp384r1',
    },
    {
      variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
      problem: 'block 4 of 4 is a private key: give its public key',
    },
  ]);
  t.same(problemsOf(`${ed25519.publicPem}${p256.publicPem.slice(0, 80)}`), [
    {
      variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
      problem: 'holds text outside its PEM blocks (a truncated or mangled block?)',
    },
  ]);
  t.same(problemsOf('-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----'), [
    { variable: 'JWT_PREVIOUS_PUBLIC_KEYS', problem: 'block 1 of 1 is not a readable PEM key' },
  ]);
});

void t.test('loadJwtKeys: the signing key, the keys accepted, every problem at once', async (t) => {
  const other = pems(generateKeyPairSync('ed25519'));
  const signer = loadJwtKeys({
    JWT_PRIVATE_KEY: ed25519.privatePem,
    JWT_PREVIOUS_PUBLIC_KEYS: p256.publicPem + other.publicPem + ed25519.publicPem,
  });
  t.equal(signer.signing?.privateKey.type, 'private');
  t.equal(signer.signing?.publicKey.kid, jwtPublicKey(ed25519.publicPem, 'K').kid);
  t.same(
    signer.accepted.map((k) => k.kid),
    [ed25519, p256, other].map((p) => jwtPublicKey(p.publicPem, 'K').kid),
    'the signing key first, then the previous ones, each once',
  );
  t.doesNotThrow(
    () => loadJwtKeys({ JWT_PRIVATE_KEY: p256.privatePem, JWT_PUBLIC_KEY: p256.publicPem }),
    'a JWT_PUBLIC_KEY that matches',
  );
  const verifier = loadJwtKeys({ JWT_PUBLIC_KEY: p256.publicPem });
  t.equal(verifier.signing, undefined);
  t.same(
    verifier.accepted.map((k) => k.alg),
    ['ES256'],
  );
  t.strictSame(loadJwtKeys({ JWT_PUBLIC_KEY: '' }).accepted, [], 'empty means unset');

  let problems: ConfigError['problems'] = [];
  try {
    loadJwtKeys({
      JWT_PRIVATE_KEY: ed25519.privatePem,
      JWT_PUBLIC_KEY: other.publicPem,
      JWT_PREVIOUS_PUBLIC_KEYS: 'junk',
    });
  } catch (err) {
    t.type(err, ConfigError);
    problems = (err as ConfigError).problems;
  }
  t.same(problems, [
    {
      variable: 'JWT_PUBLIC_KEY',
      problem: 'is not the public key of JWT_PRIVATE_KEY (leave it unset: it is derived)',
    },
    {
      variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
      problem: 'holds text outside its PEM blocks (a truncated or mangled block?)',
    },
  ]);
  const problemsOf = (vars: Parameters<typeof loadJwtKeys>[0]) => {
    try {
      loadJwtKeys(vars);
    } catch (err) {
      return (err as ConfigError).problems;
    }
    return t.fail('no error');
  };
  t.same(problemsOf({ JWT_PRIVATE_KEY: ed25519.publicPem }), [
    { variable: 'JWT_PRIVATE_KEY', problem: 'is not a private key' },
  ]);
  t.same(problemsOf({ JWT_PREVIOUS_PUBLIC_KEYS: p256.publicPem }), [
    {
      variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
      problem: 'needs the key that signs now next to it (JWT_PUBLIC_KEY)',
    },
  ]);
});

void t.test('withPemNewlines: one-line PEMs with literal \\n become lines', async (t) => {
  const oneLine = ed25519.publicPem.replaceAll('\n', '\\n');
  const fixed = withPemNewlines({ A: oneLine, B: oneLine, C: ed25519.publicPem }, ['A', 'C']);
  t.equal(fixed.A, ed25519.publicPem);
  t.equal(fixed.B, oneLine, 'only the variables named');
  t.equal(fixed.C, ed25519.publicPem, 'a PEM with line breaks is left as it is');
});
