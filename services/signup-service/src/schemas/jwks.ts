// The JWK Set (RFC 7517) signup-service publishes at /.well-known/jwks.json: the public keys that
// verify its access tokens, each named by `kid`, the RFC 7638 thumbprint a token's header carries.
import { jsonResponse, serverProblems, type ResponseHeader } from '@app/contracts';
import { Type } from '@sinclair/typebox';

/** How long a verifier or a gateway may reuse the set before fetching it again. */
export const JWKS_MAX_AGE_SECONDS = 300;

export const Jwk = Type.Object(
  {
    kty: Type.Union([Type.Literal('OKP'), Type.Literal('EC')], {
      description: '`OKP` for an Ed25519 key, `EC` for a P-256 one',
    }),
    crv: Type.Union([Type.Literal('Ed25519'), Type.Literal('P-256')]),
    x: Type.String({ description: 'The public key (its x coordinate for P-256), base64url' }),
    y: Type.Optional(Type.String({ description: 'P-256 only: the y coordinate, base64url' })),
    alg: Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256')], {
      description: 'The one algorithm this key verifies, implied by its type',
    }),
    use: Type.Literal('sig'),
    kid: Type.String({
      description: "The key's RFC 7638 thumbprint (SHA-256, base64url), as in a token's header",
    }),
  },
  { additionalProperties: false },
);

export const JwkSet = Type.Object(
  {
    keys: Type.Array(Jwk, {
      description: 'The signing key first, then keys retired from signing still accepted',
    }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        keys: [
          {
            kty: 'OKP',
            crv: 'Ed25519',
            x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
            alg: 'EdDSA',
            use: 'sig',
            kid: 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k',
          },
        ],
      },
    ],
  },
);

const CACHE_CONTROL: ResponseHeader = {
  type: 'string',
  description: `\`public, max-age=${JWKS_MAX_AGE_SECONDS}\`: the set changes only when a key is rotated`,
  required: true,
};

/** Every answer of GET /.well-known/jwks.json. */
export const JwksResponses = {
  200: jsonResponse(JwkSet, 'The public keys that verify access tokens', {
    'cache-control': CACHE_CONTROL,
  }),
  ...serverProblems(),
};
