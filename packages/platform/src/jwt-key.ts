// The access tokens' keys. Which JWS algorithm a key is for is decided by the key and never by a
// token's header: an Ed25519 key signs and verifies EdDSA only, a P-256 key ES256 only, so no
// token can pick a weaker or confused algorithm. A key is named by its RFC 7638 thumbprint (the
// `kid` of tokens and of signup-service's JWK Set), derived rather than configured, so signer and
// verifiers agree on it without a shared setting. Several keys travel in one variable as
// concatenated PEM blocks (a rotation: the retired keys stay accepted until their tokens expire).
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ConfigError } from './config.js';

export type JwtAlgorithm = 'EdDSA' | 'ES256';

/**
 * The algorithm of a PEM key (private or public); throws a ConfigError naming `variable` for an
 * unreadable key or any other key type.
 */
export function jwtAlgorithmFor(pem: string, variable: string): JwtAlgorithm {
  let key;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new ConfigError([{ variable, problem: 'is not a readable PEM key' }]);
  }
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return 'ES256';
  }
  const type =
    key.asymmetricKeyType === 'ec'
      ? `ec ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown curve'}`
      : (key.asymmetricKeyType ?? 'unknown');
  throw new ConfigError([{ variable, problem: `must be an Ed25519 or P-256 key, not ${type}` }]);
}

/** Checks every key at once: one ConfigError naming each variable whose key is unusable. */
export function checkJwtKeys(keys: Record<string, string>): void {
  const problems = Object.entries(keys).flatMap(([variable, pem]) => {
    try {
      jwtAlgorithmFor(pem, variable);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return [...err.problems];
      throw err;
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * `env` with the PEM `variables` given on one line with literal `\n` (as many secret stores keep
 * them) turned back into lines; a value that already has line breaks is left as it is.
 */
export function withPemNewlines(
  env: Record<string, string | undefined>,
  variables: readonly string[],
): Record<string, string | undefined> {
  const fixed = { ...env };
  for (const key of variables) {
    const v = fixed[key];
    if (v && !v.includes('\n')) fixed[key] = v.replaceAll('\\n', '\n');
  }
  return fixed;
}

/** A public key as a member of a JWK Set (RFC 7517), named by its RFC 7638 thumbprint. */
export interface JwtPublicJwk {
  kty: 'OKP' | 'EC';
  crv: 'Ed25519' | 'P-256';
  x: string;
  /** P-256 only. */
  y?: string;
  alg: JwtAlgorithm;
  use: 'sig';
  kid: string;
}

/** A key that verifies access tokens: the key itself, its algorithm, and its JWK. */
export interface JwtPublicKey {
  /** The RFC 7638 thumbprint of the key: derived, so every service computes the same one. */
  kid: string;
  alg: JwtAlgorithm;
  key: KeyObject;
  jwk: JwtPublicJwk;
}

/** The signing key and every key a verifier accepts (the signing one or JWT_PUBLIC_KEY first). */
export interface JwtKeys {
  signing?: { privateKey: KeyObject; publicKey: JwtPublicKey };
  /** Distinct by kid; empty when no key variable is set. */
  accepted: JwtPublicKey[];
}

/** The variables of the keys; unset (or empty) ones are left out. */
export interface JwtKeyVariables {
  JWT_PRIVATE_KEY?: string | undefined;
  JWT_PUBLIC_KEY?: string | undefined;
  JWT_PREVIOUS_PUBLIC_KEYS?: string | undefined;
}

/**
 * The RFC 7638 JWK thumbprint (SHA-256, base64url) of an OKP or EC public key: the hash of its
 * required members, in lexicographic order, with no whitespace.
 */
export function jwkThumbprint(jwk: { kty: string; crv?: string; x?: string; y?: string }): string {
  const required =
    jwk.kty === 'EC'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  if (Object.values(required).some((v) => typeof v !== 'string')) {
    throw new TypeError(`a ${jwk.kty} JWK needs ${Object.keys(required).join(', ')}`);
  }
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url');
}

/** The public half of a PEM key (private or public) with its kid and JWK; ConfigError naming `variable`. */
export function jwtPublicKey(pem: string, variable: string): JwtPublicKey {
  const alg = jwtAlgorithmFor(pem, variable);
  const key = createPublicKey(pem);
  const { kty, crv, x, y } = key.export({ format: 'jwk' });
  const kid = jwkThumbprint({ kty: kty ?? '', crv, x, y });
  const jwk = {
    kty: kty as JwtPublicJwk['kty'],
    crv: crv as JwtPublicJwk['crv'],
    x: x as string,
    ...(y === undefined ? {} : { y }),
    alg,
    use: 'sig' as const,
    kid,
  };
  return { kid, alg, key, jwk };
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * Splits concatenated PEM blocks (what a variable holding several keys carries); `stray` says
 * whether anything but whitespace lies between or around them (a truncated block, a stray line).
 */
export function pemBlocks(text: string): { blocks: string[]; stray: boolean } {
  const blocks = [...text.matchAll(PEM_BLOCK)].map((m) => m[0]);
  const stray = text.replace(PEM_BLOCK, '').trim() !== '';
  return { blocks, stray };
}

/**
 * The public keys of a variable holding zero or more concatenated PEM public keys; ConfigError
 * naming the variable and each bad block (its number, from 1), a private key included: that one
 * must never travel in a variable every verifier is given.
 */
export function readJwtPublicKeys(text: string, variable: string): JwtPublicKey[] {
  const { blocks, stray } = pemBlocks(text);
  const problems: Problem[] = [];
  if (stray) {
    problems.push({
      variable,
      problem: 'holds text outside its PEM blocks (a truncated or mangled block?)',
    });
  }
  const keys = blocks.flatMap((block, i) => {
    const which = `block ${i + 1} of ${blocks.length}`;
    if (/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(block)) {
      problems.push({ variable, problem: `${which} is a private key: give its public key` });
      return [];
    }
    try {
      return [jwtPublicKey(block, variable)];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems.map((p) => ({ variable, problem: `${which} ${p.problem}` })));
      return [];
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return keys;
}

/**
 * Reads every key variable at once: JWT_PRIVATE_KEY signs, JWT_PUBLIC_KEY (if set next to it) must
 * be its public key, and JWT_PREVIOUS_PUBLIC_KEYS (keys retired from signing, still accepted
 * during a rotation) needs one of the other two. One ConfigError names every bad variable and block.
 */
export function loadJwtKeys(vars: JwtKeyVariables): JwtKeys {
  const set = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';
  const problems: Problem[] = [];
  let signing: JwtKeys['signing'];
  let current: JwtPublicKey | undefined;
  let previous: JwtPublicKey[] = [];

  if (set(vars.JWT_PRIVATE_KEY)) {
    const pem = vars.JWT_PRIVATE_KEY;
    const publicKey = attempt(problems, () => jwtPublicKey(pem, 'JWT_PRIVATE_KEY'));
    if (publicKey) {
      try {
        signing = { privateKey: createPrivateKey(pem), publicKey };
      } catch {
        problems.push({ variable: 'JWT_PRIVATE_KEY', problem: 'is not a private key' });
      }
    }
  }
  if (set(vars.JWT_PUBLIC_KEY)) {
    const pem = vars.JWT_PUBLIC_KEY;
    current = attempt(problems, () => jwtPublicKey(pem, 'JWT_PUBLIC_KEY'));
    if (current && signing && current.kid !== signing.publicKey.kid) {
      problems.push({
        variable: 'JWT_PUBLIC_KEY',
        problem: 'is not the public key of JWT_PRIVATE_KEY (leave it unset: it is derived)',
      });
    }
  }
  if (set(vars.JWT_PREVIOUS_PUBLIC_KEYS)) {
    const text = vars.JWT_PREVIOUS_PUBLIC_KEYS;
    previous = attempt(problems, () => readJwtPublicKeys(text, 'JWT_PREVIOUS_PUBLIC_KEYS')) ?? [];
    if (!set(vars.JWT_PRIVATE_KEY) && !set(vars.JWT_PUBLIC_KEY)) {
      problems.push({
        variable: 'JWT_PREVIOUS_PUBLIC_KEYS',
        problem: 'needs the key that signs now next to it (JWT_PUBLIC_KEY)',
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const accepted: JwtPublicKey[] = [];
  for (const key of [signing?.publicKey ?? current, ...previous]) {
    if (key && !accepted.some((k) => k.kid === key.kid)) accepted.push(key);
  }
  return { ...(signing ? { signing } : {}), accepted };
}

type Problem = { variable: string; problem: string };

/** Runs `read`; a ConfigError's problems go to `problems` and the result is undefined. */
function attempt<T>(problems: Problem[], read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
    return undefined;
  }
}
