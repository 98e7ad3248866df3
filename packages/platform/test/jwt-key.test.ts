// The key decides the JWS algorithm: Ed25519 -> EdDSA and P-256 -> ES256, for private and public
// PEMs alike; anything else is a configuration error naming the variable, every bad one at once.
import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { checkJwtKeys, ConfigError, jwtAlgorithmFor } from '../src/index.js';

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
