// Which JWS algorithm a verification key is for. The key decides, never the token's header: an
// Ed25519 key verifies EdDSA only and a P-256 key ES256 only, so a token cannot choose a weaker
// or confused algorithm (signup-service picks the signing algorithm from its key the same way).
import { createPublicKey } from 'node:crypto';

export type JwtAlgorithm = 'EdDSA' | 'ES256';

/** The algorithm of a PEM public key; throws (naming JWT_PUBLIC_KEY) for any other key type. */
export function jwtAlgorithmFor(publicKeyPem: string): JwtAlgorithm {
  let key;
  try {
    key = createPublicKey(publicKeyPem);
  } catch {
    throw new Error('JWT_PUBLIC_KEY is not a readable PEM public key');
  }
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return 'ES256';
  }
  const type =
    key.asymmetricKeyType === 'ec'
      ? `ec ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown curve'}`
      : (key.asymmetricKeyType ?? 'unknown');
  throw new Error(`JWT_PUBLIC_KEY must be an Ed25519 or P-256 public key, not ${type}`);
}
