// HTTP bodies of signup-service, and every answer of its routes with the problem codes each can
// carry. The password floor is in the schema (length and a mix of letters and non-letters) so the
// OpenAPI document states it and no handler checks it by hand. Every body string is a SafeString:
// Postgres cannot store NUL or unpaired surrogates, so they are a 400 here.
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

const EXAMPLE_TOKEN = 'eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl';
const EXAMPLE_USER_ID = '5b0a4c7e-3f7b-4d7e-9a51-2f4f8d6c1a3e';

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
  {
    additionalProperties: false,
    examples: [
      {
        email: 'ada@example.com',
        password: 'correct horse 9 battery',
        displayName: 'Ada Lovelace',
      },
    ],
  },
);
export type SignupBody = Static<typeof SignupBody>;

export const SignupHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      description:
        'Makes a retry safe: the same key with the same body gets the first answer again',
    }),
  ),
  traceparent: Type.Optional(
    Type.String({ maxLength: 256, description: 'W3C trace context, carried into the event' }),
  ),
});

export const SignupResponse = Type.Object(
  {
    userId: Type.String({ format: 'uuid' }),
    accessToken: Type.String({ description: 'A JWT for the new user' }),
  },
  { examples: [{ userId: EXAMPLE_USER_ID, accessToken: EXAMPLE_TOKEN }] },
);

export const LoginBody = Type.Object(
  {
    email: SafeString({ minLength: 1, maxLength: 254 }),
    password: SafeString({ minLength: 1, maxLength: 256 }),
  },
  {
    additionalProperties: false,
    examples: [{ email: 'ada@example.com', password: 'correct horse 9 battery' }],
  },
);
export type LoginBody = Static<typeof LoginBody>;

export const LoginResponse = Type.Object(
  { accessToken: Type.String({ description: 'A JWT for the user' }) },
  { examples: [{ accessToken: EXAMPLE_TOKEN }] },
);

export const ProblemRef = Type.Ref('Problem');

const REPLAYED: ResponseHeader = {
  type: 'string',
  enum: ['true'],
  description: 'Present on the answer to a retry with an Idempotency-Key already answered',
};

const BODY_PROBLEMS = {
  400: problemResponse(
    platformProblems(
      'VALIDATION_FAILED',
      'INVALID_JSON',
      'UNSUPPORTED_TEXT',
      'INVALID_CONTENT_LENGTH',
    ),
  ),
  413: problemResponse(platformProblems('PAYLOAD_TOO_LARGE')),
  415: problemResponse(platformProblems('UNSUPPORTED_MEDIA_TYPE')),
  429: problemResponse(platformProblems('RATE_LIMITED'), { 'retry-after': RETRY_AFTER }),
};

/** Every answer of POST /v1/signup. */
export const SignupResponses = {
  201: jsonResponse(SignupResponse, 'The account is created; the token is for the new user', {
    'idempotent-replayed': REPLAYED,
  }),
  ...BODY_PROBLEMS,
  409: problemResponse(
    {
      EMAIL_TAKEN: 'an account with this email already exists',
      IDEMPOTENCY_REQUEST_IN_PROGRESS: 'a request with this Idempotency-Key is still running',
    },
    { 'idempotent-replayed': REPLAYED },
  ),
  422: problemResponse({
    IDEMPOTENCY_KEY_REUSED: 'this Idempotency-Key was used with a different body',
  }),
  ...serverProblems(platformProblems('DEPENDENCY_UNAVAILABLE')),
};

/** Every answer of POST /v1/sessions. */
export const LoginResponses = {
  200: jsonResponse(LoginResponse, 'Logged in'),
  ...BODY_PROBLEMS,
  401: problemResponse({
    INVALID_CREDENTIALS: 'no account has this email and password (which one is wrong is not told)',
  }),
  ...serverProblems(platformProblems('DEPENDENCY_UNAVAILABLE')),
};
