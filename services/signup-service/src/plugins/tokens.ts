// Access tokens as `app.tokens`: asymmetric JWTs (EdDSA with an Ed25519 key, or ES256 with a P-256
// one) signed with the private key this service alone holds. Each token's header names its key by
// `kid` (the key's RFC 7638 thumbprint), and `jwks` is the JWK Set verifiers fetch: the signing key
// plus the keys retired from signing during a rotation, still good for the tokens they signed.
import { loadJwtKeys, type JwtAlgorithm, type JwtPublicJwk } from '@app/platform';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { SignJWT } from 'jose';

export interface TokensPluginOptions {
  privateKey: string;
  /** If given, must be the private key's public key (it is derived from the private key). */
  publicKey?: string | undefined;
  /** Concatenated PEM public keys retired from signing: published, never used to sign. */
  previousPublicKeys?: string | undefined;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** An RFC 7517 JWK Set. */
export interface JwkSet {
  keys: JwtPublicJwk[];
}

export interface Tokens {
  issue(userId: string): Promise<string>;
  algorithm: JwtAlgorithm;
  /** The signing key's kid, in every token's header. */
  keyId: string;
  /** The signing key first, then the previous keys. */
  jwks: JwkSet;
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: Tokens;
  }
}

export const tokensPlugin = fp<TokensPluginOptions>(
  async (app: FastifyInstance, options) => {
    const keys = loadJwtKeys({
      JWT_PRIVATE_KEY: options.privateKey,
      JWT_PUBLIC_KEY: options.publicKey,
      JWT_PREVIOUS_PUBLIC_KEYS: options.previousPublicKeys,
    });
    if (!keys.signing) throw new Error('tokensPlugin: privateKey is required');
    const { privateKey, publicKey } = keys.signing;
    const header = { alg: publicKey.alg, kid: publicKey.kid, typ: 'JWT' };
    const jwks: JwkSet = { keys: keys.accepted.map((k) => k.jwk) };
    app.decorate('tokens', {
      algorithm: publicKey.alg,
      keyId: publicKey.kid,
      jwks,
      issue: async (userId: string) => {
        const now = Math.floor(Date.now() / 1000);
        return new SignJWT({})
          .setProtectedHeader(header)
          .setSubject(userId)
          .setIssuer(options.issuer)
          .setAudience(options.audience)
          .setIssuedAt(now)
          .setExpirationTime(now + options.ttlSeconds)
          .sign(privateKey);
      },
    });
  },
  { name: 'tokens', fastify: '5.x' },
);
