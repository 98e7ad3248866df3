// GET /.well-known/jwks.json: the JWK Set verifiers (profile-service's JWT_JWKS_URL) fetch to
// check access tokens by their `kid`, so a key rotation needs no change to any verifier's config.
import type { App } from '@app/platform';
import { JWKS_MAX_AGE_SECONDS, JwksResponses } from '../schemas/jwks.js';

export async function jwksRoutes(app: App): Promise<void> {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        summary: 'The public keys that verify access tokens (JWK Set, RFC 7517)',
        description:
          "Each key is named by `kid`, the RFC 7638 thumbprint a token's header carries; during a " +
          'rotation the keys retired from signing stay listed until their tokens have expired.',
        operationId: 'getJwks',
        tags: ['accounts'],
        security: [],
        response: JwksResponses,
      },
    },
    async (_request, reply) => {
      void reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
      return app.tokens.jwks;
    },
  );
}
