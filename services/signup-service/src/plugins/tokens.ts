// Access tokens as `app.tokens`: asymmetric JWTs (EdDSA with an Ed25519 key, or ES256 with a P-256
// one) signed with the private key this service alone holds; other services verify with the public key.
import { jwtAlgorithmFor, type JwtAlgorithm } from '@app/platform';
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
  algorithm: JwtAlgorithm;
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: Tokens;
  }
}

export const tokensPlugin = fp<TokensPluginOptions>(
  async (app: FastifyInstance, options) => {
    const algorithm = jwtAlgorithmFor(options.privateKey, 'JWT_PRIVATE_KEY');
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
