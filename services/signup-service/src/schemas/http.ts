// HTTP bodies of signup-service. The password floor is in the schema (length and a mix of letters
// and non-letters) so the OpenAPI document states it and no handler checks it by hand. Every body
// string is a SafeString: Postgres cannot store NUL or unpaired surrogates, so they are a 400 here.
import { SafeString } from '@app/contracts';
import { Type, type Static } from '@sinclair/typebox';

export const SignupBody = Type.Object(
  {
    email: SafeString({ format: 'email', minLength: 3, maxLength: 254 }),
    password: SafeString({
      minLength: 10,
      maxLength: 256,
      pattern: '^(?=.*[A-Za-z])(?=.*[^A-Za-z]).*$',
      description: '10 to 256 characters, with at least one letter and one non-letter',
    }),
    displayName: SafeString({ minLength: 1, maxLength: 100, pattern: '\\S' }),
  },
  { additionalProperties: false },
);
export type SignupBody = Static<typeof SignupBody>;

export const SignupHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  traceparent: Type.Optional(Type.String({ maxLength: 256 })),
});

export const SignupResponse = Type.Object({
  userId: Type.String({ format: 'uuid' }),
  accessToken: Type.String(),
});

export const LoginBody = Type.Object(
  {
    email: SafeString({ minLength: 1, maxLength: 254 }),
    password: SafeString({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

export const LoginResponse = Type.Object({ accessToken: Type.String() });

export const ProblemRef = Type.Ref('Problem');
