// Bearer-token verification for writes: JWTs issued by signup-service, checked with its public
// keys only (this service can verify tokens but never mint them), with issuer and audience. A
// token names its key by `kid` (the key's RFC 7638 thumbprint): the keys configured here
// (JWT_PUBLIC_KEY and, during a rotation, JWT_PREVIOUS_PUBLIC_KEYS) are looked up first, then
// signup-service's JWK Set (JWT_JWKS_URL), which jose caches and fetches again, at most once per
// cooldown, when a token names a key it does not hold. The key's type names the one algorithm
// accepted (Ed25519: EdDSA, P-256: ES256), whatever a token claims.
import type { KeyObject } from 'node:crypto';
import { redactUrl } from '@app/contracts';
import { loadJwtKeys, type JwtAlgorithm, type JwtPublicKey } from '@app/platform';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import {
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type CryptoKey,
  type JWSHeaderParameters,
} from 'jose';
import { errors } from '../errors.js';

export interface AuthPluginOptions {
  /** The PEM public key of the key that signs now. */
  publicKey?: string | undefined;
  /** Concatenated PEM public keys retired from signing, still accepted (needs `publicKey`). */
  previousPublicKeys?: string | undefined;
  /** signup-service's JWK Set, for the keys not configured here. */
  jwksUrl?: string | undefined;
  issuer: string;
  audience: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Verifies the request's bearer token; resolves to its subject (a user id) or throws a 401. */
    authenticate(request: FastifyRequest): Promise<string>;
  }
}

/** Every algorithm signup-service may sign with; each key still accepts only its own. */
const ALGORITHMS: JwtAlgorithm[] = ['EdDSA', 'ES256'];

/** The JWK Set could not be fetched or read: not the token's fault. */
class JwksUnavailable extends Error {}

/** The algorithm a key from the JWK Set is for, by its type (as platform's jwtAlgorithmFor does). */
function algorithmOf(key: CryptoKey): JwtAlgorithm | undefined {
  const algorithm = key.algorithm as { name: string; namedCurve?: string };
  if (algorithm.name === 'Ed25519') return 'EdDSA';
  if (algorithm.name === 'ECDSA' && algorithm.namedCurve === 'P-256') return 'ES256';
  return undefined;
}

export const authPlugin = fp<AuthPluginOptions>(
  async (app: FastifyInstance, options) => {
    const local = loadJwtKeys({
      JWT_PUBLIC_KEY: options.publicKey,
      JWT_PREVIOUS_PUBLIC_KEYS: options.previousPublicKeys,
    }).accepted;
    const byKid = new Map(local.map((k) => [k.kid, k]));
    const remote = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl)) : undefined;
    const jwksUrl = options.jwksUrl === undefined ? undefined : redactUrl(options.jwksUrl);
    if (local.length === 0 && !remote) {
      throw new Error('authPlugin: give publicKey or jwksUrl');
    }

    const localKey = (key: JwtPublicKey, header: JWSHeaderParameters): KeyObject => {
      if (header.alg !== key.alg) throw new joseErrors.JOSEAlgNotAllowed('not the key algorithm');
      return key.key;
    };

    const keyFor = async (header: JWSHeaderParameters): Promise<KeyObject | CryptoKey> => {
      if (header.kid === undefined) {
        // Tokens issued before signup-service named its key carry no kid. With exactly one key
        // configured here there is no doubt which key signed them, so they stay valid until they
        // expire; with several keys (a rotation) or only the JWK Set, a token must say which.
        const only = local.length === 1 ? local[0] : undefined;
        if (!only) throw new joseErrors.JWKSNoMatchingKey('no kid');
        return localKey(only, header);
      }
      const known = byKid.get(header.kid);
      if (known) return localKey(known, header);
      if (!remote) throw new joseErrors.JWKSNoMatchingKey('unknown kid');
      let key: CryptoKey;
      try {
        key = await remote(header);
      } catch (err) {
        // No key with that kid (after a fetch, at most one per cooldown), or an algorithm the
        // set has no key for: the token's fault. Anything else is the set's: unreachable,
        // timed out, not 200, not a JWK Set.
        if (
          err instanceof joseErrors.JWKSNoMatchingKey ||
          err instanceof joseErrors.JWKSMultipleMatchingKeys ||
          err instanceof joseErrors.JOSENotSupported
        ) {
          throw err;
        }
        throw new JwksUnavailable('JWK Set unavailable', { cause: err });
      }
      if (algorithmOf(key) !== header.alg) {
        throw new joseErrors.JOSEAlgNotAllowed('not the key algorithm');
      }
      return key;
    };

    if (remote) {
      // Fetched once at start-up so that a wrong URL shows in the log at once; not fatal, as
      // signup-service may start after this service (the first token fetches it again).
      app.addHook('onReady', async () => {
        await remote.reload().catch((err: unknown) => {
          app.log.warn({ err, url: jwksUrl }, 'JWK Set not fetched at start-up');
        });
      });
    }

    app.decorate('authenticate', async (request: FastifyRequest) => {
      const header = request.headers.authorization;
      if (!header) throw errors.unauthorized('Missing Authorization: Bearer token');
      const match = /^Bearer +(\S+)\s*$/i.exec(header);
      let payload: { sub?: unknown };
      try {
        if (!match?.[1]) throw new joseErrors.JWTInvalid('not a bearer token');
        ({ payload } = await jwtVerify(match[1], keyFor, {
          algorithms: ALGORITHMS,
          issuer: options.issuer,
          audience: options.audience,
          requiredClaims: ['exp'],
        }));
      } catch (err) {
        if (err instanceof JwksUnavailable) {
          request.log.warn({ err: err.cause, url: jwksUrl }, 'JWK Set unavailable');
          throw errors.jwksUnavailable();
        }
        // Which check failed (signature, expiry, audience, key) is not the client's business.
        throw errors.unauthorized('The bearer token is invalid or expired');
      }
      if (typeof payload.sub !== 'string') throw errors.unauthorized('The token has no subject');
      return payload.sub;
    });
  },
  { name: 'auth', fastify: '5.x' },
);
