// Access tokens as `app.tokens`: asymmetric JWTs (EdDSA with an Ed25519 key, or ES256 with a P-256
// one) signed with the private key this service alone holds; other services verify with the public key.
import { createPrivateKey } from 'node:crypto';
import jwt from '@fastify/jwt';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface TokensPluginOptions {
  privateKey: string;
  publicKey: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export interface Tokens {
  issue(userId: string): Promise<string>;
  algorithm: 'EdDSA' | 'ES256';
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: Tokens;
  }
}

export function algorithmFor(privateKeyPem: string): 'EdDSA' | 'ES256' {
  let key;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch {
    throw new Error('JWT_PRIVATE_KEY is not a readable PEM private key');
  }
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'ES256';
  throw new Error(
    `JWT_PRIVATE_KEY must be an Ed25519 or P-256 key, not ${key.asymmetricKeyType ?? 'unknown'}`,
  );
}

export const tokensPlugin = fp<TokensPluginOptions>(
  async (app: FastifyInstance, options) => {
    const algorithm = algorithmFor(options.privateKey);
    await app.register(jwt, {
      secret: { private: options.privateKey, public: options.publicKey },
      sign: {
        algorithm,
        iss: options.issuer,
        aud: options.audience,
        expiresIn: options.ttlSeconds,
      },
      verify: { algorithms: [algorithm], allowedIss: options.issuer, allowedAud: options.audience },
    });
    app.decorate('tokens', {
      algorithm,
      issue: async (userId: string) => app.jwt.sign({}, { sub: userId }),
    });
  },
  { name: 'tokens', fastify: '5.x' },
);
