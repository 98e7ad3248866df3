// TypeBox schemas of profile-service's HTTP bodies, params and query strings, and every answer of
// its routes with the headers and problem codes each carries. Body strings are SafeStrings:
// Postgres cannot store NUL or unpaired surrogates, so they are refused here (400).
import {
  jsonResponse,
  platformProblems,
  problemResponse,
  RETRY_AFTER,
  SafeString,
  serverProblems,
  type ResponseHeader,
} from '@app/contracts';
import { Type, type Static } from '@sinclair/typebox';

const UUID_SOURCE = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
export const MAX_IDS = 100;

const EXAMPLE_ID = '5b0a4c7e-3f7b-4d7e-9a51-2f4f8d6c1a3e';
const EXAMPLE_PROFILE = {
  id: EXAMPLE_ID,
  displayName: 'Ada Lovelace',
  bio: 'Wrote the first program.',
  avatarUrl: null,
  version: 3,
  updatedAt: '2025-12-02T10:15:00.000Z',
};

export const ProfileId = Type.String({
  pattern: `^${UUID_SOURCE}$`,
  description: 'a user id (UUID)',
});

export const IdParams = Type.Object({ id: ProfileId });

export const IdsQuery = Type.Object(
  {
    ids: Type.String({
      pattern: `^${UUID_SOURCE}(,${UUID_SOURCE}){0,${MAX_IDS - 1}}$`,
      description: `comma-separated user ids (UUIDs), at most ${MAX_IDS}`,
    }),
  },
  { additionalProperties: false },
);

export const Profile = Type.Object(
  {
    id: Type.String(),
    displayName: Type.String(),
    bio: Type.Union([Type.String(), Type.Null()]),
    avatarUrl: Type.Union([Type.String(), Type.Null()]),
    version: Type.Integer({ description: 'bumped by every update' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { examples: [EXAMPLE_PROFILE] },
);

export const ProfileList = Type.Object(
  {
    profiles: Type.Array(Profile),
    /** Ids that have no profile. */
    missing: Type.Array(Type.String(), { description: 'the requested ids that have no profile' }),
  },
  { examples: [{ profiles: [EXAMPLE_PROFILE], missing: [] }] },
);

export const ProfilePatchBody = Type.Object(
  {
    displayName: Type.Optional(SafeString({ minLength: 1, maxLength: 100 })),
    bio: Type.Optional(Type.Union([SafeString({ maxLength: 500 }), Type.Null()])),
    avatarUrl: Type.Optional(
      Type.Union([
        SafeString({ maxLength: 2048, pattern: '^https://[^\\s]+$', description: 'an https URL' }),
        Type.Null(),
      ]),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    examples: [{ bio: 'Wrote the first program.' }],
  },
);
export type ProfilePatchBody = Static<typeof ProfilePatchBody>;

/** The bearer token's header; optional in the schema so a missing one is our 401, not a 400. */
export const BearerHeaders = Type.Object({ authorization: Type.Optional(Type.String()) });

const ETAG: ResponseHeader = {
  type: 'string',
  description: 'The validator to send back as `If-None-Match`',
  required: true,
};
const CACHE_CONTROL: ResponseHeader = {
  type: 'string',
  description: 'How long a gateway or browser may reuse the answer without revalidating',
  required: true,
};
const X_CACHE: ResponseHeader = {
  type: 'string',
  enum: ['HIT', 'MISS', 'BYPASS', 'STALE'],
  description:
    'Where the answer came from: the cache (`HIT`, `STALE` while refreshed), the database ' +
    '(`MISS`), or the database with the cache unavailable (`BYPASS`)',
  required: true,
};
const READ_HEADERS = { etag: ETAG, 'cache-control': CACHE_CONTROL, 'x-cache': X_CACHE };

/** A 304 has no body. */
const NOT_MODIFIED = Type.Null({
  description: 'Not modified: the `If-None-Match` validator still matches (no body)',
  headers: READ_HEADERS,
});

const READ_PROBLEMS = serverProblems({
  OVERLOADED: 'too many profile reads wait for the database: retry after `Retry-After`',
  ...platformProblems('DEPENDENCY_UNAVAILABLE'),
});

/** Every answer of GET /v1/profiles/:id. */
export const ProfileResponses = {
  200: jsonResponse(Profile, 'The profile', READ_HEADERS),
  304: NOT_MODIFIED,
  400: problemResponse(platformProblems('VALIDATION_FAILED', 'BAD_URL')),
  404: problemResponse(
    { PROFILE_NOT_FOUND: 'no profile has this id (the answer is cached briefly too)' },
    { 'cache-control': CACHE_CONTROL, 'x-cache': X_CACHE },
  ),
  414: problemResponse(platformProblems('URI_TOO_LONG')),
  ...READ_PROBLEMS,
};

/** Every answer of GET /v1/profiles?ids=. */
export const ProfileListResponses = {
  200: jsonResponse(
    ProfileList,
    'The profiles found, in the order asked, and the ids without one',
    READ_HEADERS,
  ),
  304: NOT_MODIFIED,
  400: problemResponse(platformProblems('VALIDATION_FAILED')),
  ...READ_PROBLEMS,
};

/** Every answer of PATCH /v1/profiles/:id. */
export const ProfilePatchResponses = {
  200: jsonResponse(Profile, 'The updated profile', {
    etag: ETAG,
    'cache-control': { ...CACHE_CONTROL, description: '`no-store`: a private answer' },
  }),
  400: problemResponse(
    platformProblems(
      'VALIDATION_FAILED',
      'INVALID_JSON',
      'UNSUPPORTED_TEXT',
      'INVALID_CONTENT_LENGTH',
      'BAD_URL',
    ),
  ),
  401: problemResponse({
    UNAUTHORIZED: 'no bearer token, or one that is invalid, expired or has no subject',
  }),
  403: problemResponse({ FORBIDDEN: "the token's subject is not this profile's owner" }),
  404: problemResponse({ PROFILE_NOT_FOUND: 'no profile has this id' }),
  413: problemResponse(platformProblems('PAYLOAD_TOO_LARGE')),
  414: problemResponse(platformProblems('URI_TOO_LONG')),
  415: problemResponse(platformProblems('UNSUPPORTED_MEDIA_TYPE')),
  429: problemResponse(
    { RATE_LIMITED: 'too many updates by this account: retry after `Retry-After`' },
    { 'retry-after': RETRY_AFTER },
  ),
  ...serverProblems(platformProblems('DEPENDENCY_UNAVAILABLE', 'TRANSACTION_CONFLICT')),
};
