// Which JWS algorithm a key is for, decided by the key and never by a token's header: an Ed25519
// key signs and verifies EdDSA only, a P-256 key ES256 only, so no token can pick a weaker or
// confused algorithm. signup-service signs with it, profile-service verifies with it.
import { createPublicKey } from 'node:crypto';
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
