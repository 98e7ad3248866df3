// Bearer-token verification for writes: JWTs issued by signup-service, checked with its public key
// only (this service can verify tokens but never mint them), with issuer and audience. The key's
// type names the one algorithm accepted (Ed25519: EdDSA, P-256: ES256), whatever a token claims.
import { jwtAlgorithmFor } from '@app/platform';
import jwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { errors } from '../errors.js';

export interface AuthPluginOptions {
  publicKey: string;
  issuer: string;
  audience: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Verifies the request's bearer token; resolves to its subject (a user id) or throws a 401. */
    authenticate(request: FastifyRequest): Promise<string>;
  }
}

export const authPlugin = fp<AuthPluginOptions>(
  async (app: FastifyInstance, options) => {
    await app.register(jwt, {
      secret: { public: options.publicKey },
      verify: {
        algorithms: [jwtAlgorithmFor(options.publicKey, 'JWT_PUBLIC_KEY')],
        allowedIss: options.issuer,
        allowedAud: options.audience,
      },
    });
    app.decorate('authenticate', async (request: FastifyRequest) => {
      if (!request.headers.authorization) {
        throw errors.unauthorized('Missing Authorization: Bearer token');
      }
      let payload: { sub?: unknown };
      try {
        payload = await request.jwtVerify<{ sub?: unknown }>();
      } catch {
        // Which check failed (signature, expiry, audience) is not the client's business.
        throw errors.unauthorized('The bearer token is invalid or expired');
      }
      if (typeof payload.sub !== 'string') throw errors.unauthorized('The token has no subject');
      return payload.sub;
    });
  },
  { name: 'auth', fastify: '5.x' },
);
