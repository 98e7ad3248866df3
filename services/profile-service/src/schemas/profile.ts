// TypeBox schemas of profile-service's HTTP bodies, params and query strings. Body strings are
// SafeStrings: Postgres cannot store NUL or unpaired surrogates, so they are refused here (400).
import { SafeString } from '@app/contracts';
import { Type, type Static } from '@sinclair/typebox';

const UUID_SOURCE = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
export const MAX_IDS = 100;

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

export const Profile = Type.Object({
  id: Type.String(),
  displayName: Type.String(),
  bio: Type.Union([Type.String(), Type.Null()]),
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  version: Type.Integer({ description: 'bumped by every update' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

export const ProfileList = Type.Object({
  profiles: Type.Array(Profile),
  /** Ids that have no profile. */
  missing: Type.Array(Type.String()),
});

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
  { additionalProperties: false, minProperties: 1 },
);
export type ProfilePatchBody = Static<typeof ProfilePatchBody>;

/** A 304 has no body. */
export const NotModified = Type.Null();

/** The bearer token's header; optional in the schema so a missing one is our 401, not a 400. */
export const BearerHeaders = Type.Object({ authorization: Type.Optional(Type.String()) });

export const ProblemRef = Type.Unsafe<{
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
}>(Type.Ref('Problem'));
