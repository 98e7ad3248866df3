// TypeBox schemas of the console's HTTP surface: the form bodies (urlencoded: every field a
// string, the `seq` checkboxes a list), the query strings and params, the JSON the pages refresh
// from, and every answer of each route, pages included: a page's errors come as an HTML page to a
// browser and as problem+json to anything else (routes/console.ts), so both are declared.
import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import {
  platformProblems,
  problemResponse,
  RETRY_AFTER,
  SafeString,
  serverProblems,
} from '@app/contracts';

const HTML = { 'text/html': { schema: Type.String() } };

/** A 200 page. */
export function htmlResponse(description: string) {
  return { description, content: HTML };
}

/** A 303 to another page (`type: 'null'`: @fastify/swagger documents it without a body). */
export function redirectResponse(description: string) {
  return {
    type: 'null' as const,
    description,
    headers: {
      location: {
        type: 'string' as const,
        description: 'Where the browser goes next',
        required: true,
      },
    },
  };
}

type Answer = { description: string; headers?: object; content: Record<string, unknown> };

/** A problem response that a browser gets as an HTML page instead. */
function withHtml<T extends Answer>(answer: T): T {
  return { ...answer, content: { ...answer.content, ...HTML } };
}

export function problem(
  codes: Record<string, string>,
  headers?: Parameters<typeof problemResponse>[1],
) {
  return withHtml(problemResponse(codes, headers));
}

/** 500 and 503 of every route, as pages or problems. */
export function serverAnswers(extra503: Record<string, string> = {}) {
  const s = serverProblems(extra503, { retryAfter: false });
  return { 500: withHtml(s[500]), 503: withHtml(s[503]) };
}

const SIGNED_OUT = { UNAUTHORIZED: 'no session, or it expired: sign in again' };

/** The answers of a page that needs a session (303 to the sign-in page without one). */
export function pageAnswers<T extends object>(
  own: T,
  codes: { 400?: Record<string, string> } = {},
) {
  return {
    ...own,
    303: redirectResponse('Not signed in: a browser goes to the sign-in page, then back here'),
    400: problem({ ...platformProblems('VALIDATION_FAILED'), ...codes[400] }),
    401: problem({ UNAUTHORIZED: 'not signed in, and not a browser (no `text/html` in Accept)' }),
    ...serverAnswers(),
  };
}

const CHANGE_403 = {
  ORIGIN_MISMATCH: 'the form was not posted from a page of this console',
  CSRF_FAILED: "the form did not carry this session's CSRF token",
  OPERATOR_ONLY: 'a viewer session: it can change nothing',
};

const FORM_400 = platformProblems('VALIDATION_FAILED', 'INVALID_CONTENT_LENGTH', 'INVALID_JSON');

/** The answers of a form post that changes something (operators only). */
export function changeAnswers<T extends object>(
  own: T,
  codes: { 400?: Record<string, string>; 503?: Record<string, string> } = {},
) {
  return {
    ...own,
    400: problem({ ...FORM_400, ...codes[400] }),
    401: problem(SIGNED_OUT),
    403: problem(CHANGE_403),
    413: problem(platformProblems('PAYLOAD_TOO_LARGE')),
    415: problem(platformProblems('UNSUPPORTED_MEDIA_TYPE')),
    ...serverAnswers(codes[503]),
  };
}

/** What the admin API's answers become on the console's routes that call it. */
export const ADMIN_503 = {
  REDRIVE_DISABLED: 'ADMIN_TOKEN is not set on the console',
  NOTIFICATION_UNAVAILABLE: "notification-service's admin API did not answer",
  STREAM_NOT_PROVISIONED: 'the dead-letter stream does not exist yet',
};
export const ADMIN_502 = problem({
  ADMIN_API_REFUSED: "notification-service refused the console's ADMIN_TOKEN",
});

/** The answers of a JSON route that needs a session. */
export function apiAnswers<T extends object>(own: T, extra503: Record<string, string> = {}) {
  return {
    ...own,
    400: problem(platformProblems('VALIDATION_FAILED')),
    401: problem(SIGNED_OUT),
    ...serverAnswers(extra503),
  };
}

// ----- inputs

/** A time in a filter: `2025-12-02T10:15` (a datetime-local field, UTC) or full ISO 8601. */
const FilterTime = Type.String({
  maxLength: 40,
  pattern: '^$|^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})?$',
  description: 'UTC date and time, as a datetime-local field sends it, or ISO 8601',
});

const FilterFields = {
  subject: Type.Optional(
    SafeString({ maxLength: 256, description: 'original subject; * and > allowed' }),
  ),
  reason: Type.Optional(SafeString({ maxLength: 200, description: 'substring of the reason' })),
  since: Type.Optional(FilterTime),
  until: Type.Optional(FilterTime),
};

const GroupId = Type.String({ pattern: '^[0-9a-f]{16}$', description: 'a reason signature id' });

export const ListQuery = Type.Object(
  { ...FilterFields, group: Type.Optional(GroupId) },
  { additionalProperties: false },
);

export const SeqParams = Type.Object(
  { seq: Type.Integer({ minimum: 1, description: 'a dead-letter stream sequence' }) },
  { additionalProperties: false },
);

export const JobParams = Type.Object(
  { id: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);

const Csrf = Type.String({ maxLength: 100, description: "the session's CSRF token" });

export const SignInQuery = Type.Object(
  { next: Type.Optional(Type.String({ maxLength: 2000 })) },
  { additionalProperties: false },
);

export const SignInBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 512 }),
    name: Type.Optional(
      Type.String({ maxLength: 40, pattern: '^[A-Za-z0-9 ._@-]*$', description: 'who signs in' }),
    ),
    next: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);

export const CsrfBody = Type.Object(
  { _csrf: Type.Optional(Csrf) },
  { additionalProperties: false },
);

export const DryRunBody = Type.Object(
  {
    _csrf: Type.Optional(Csrf),
    scope: Type.Union([Type.Literal('group'), Type.Literal('selected'), Type.Literal('filter')]),
    group: Type.Optional(GroupId),
    seq: Type.Optional(
      Type.Array(Type.String({ pattern: '^[1-9]\\d{0,15}$' }), { maxItems: 10_000 }),
    ),
    ...FilterFields,
  },
  { additionalProperties: false },
);

export const RedriveBody = Type.Object(
  {
    _csrf: Type.Optional(Csrf),
    seqs: Type.String({
      minLength: 1,
      maxLength: 200_000,
      pattern: '^\\d+(-\\d+)?(,\\d+(-\\d+)?)*$',
      description: 'the dry run’s dead letters: 3-7,9,12',
    }),
    rate: Type.String({ pattern: '^[1-9]\\d{0,4}$', description: 'messages per second, 1..10000' }),
    ...FilterFields,
  },
  { additionalProperties: false },
);

// ----- JSON answers

/** An object with these properties and possibly more (typed without an index signature). */
const Loose = <P extends TProperties>(description: string, properties: P) =>
  Type.Unsafe<Static<TObject<P>>>({
    ...Type.Object(properties),
    additionalProperties: true,
    description,
  });

const Live = {
  fields: Type.Record(Type.String(), Type.String(), {
    description: 'The text of each number, by the data-field name the page uses',
  }),
  states: Type.Record(Type.String(), Type.String(), { description: 'The state of each status' }),
  final: Type.Boolean({ description: 'Nothing will change any more: stop refreshing' }),
};

const Nullable = (t: TSchema) => Type.Union([t, Type.Null()]);

export const OverviewReply = Type.Object({
  overview: Type.Object({
    at: Type.String(),
    services: Type.Array(
      Loose('A service: readiness and checks', {
        name: Type.String(),
        status: Type.Union(['ready', 'not_ready', 'unreachable'].map((s) => Type.Literal(s))),
      }),
    ),
    nats: Loose('Whether JetStream could be read', { ok: Type.Boolean() }),
    streams: Type.Array(
      Loose('A stream, as stream info reports it', {
        role: Type.String(),
        name: Type.String(),
        exists: Type.Boolean(),
        messages: Type.Integer(),
        bytes: Type.Integer(),
        firstTime: Nullable(Type.String()),
        lastTime: Nullable(Type.String()),
      }),
    ),
    consumers: Type.Array(
      Loose('A consumer, as consumer info reports it', {
        stream: Type.String(),
        name: Type.String(),
        pending: Type.Integer(),
        ackPending: Type.Integer(),
        maxAckPending: Type.Integer(),
        redelivered: Type.Integer(),
        lastActive: Nullable(Type.String()),
      }),
    ),
    outbox: Loose('The outbox backlog per producer', { ok: Type.Boolean() }),
    emails: Loose('Welcome emails over the last hour', { ok: Type.Boolean() }),
    cache: Loose('Profile cache hit ratio per tier and breaker state', { ok: Type.Boolean() }),
  }),
  ...Live,
});

export const RedriveJobReply = Type.Object({
  job: Loose('The background redrive job, as notification-service reports it', {
    id: Type.String(),
    status: Type.String(),
    actor: Type.String(),
    total: Type.Integer(),
    moved: Type.Integer(),
    failed: Type.Integer(),
    skipped: Type.Integer(),
  }),
  ...Live,
});

export const GroupsReply = Type.Object({
  total: Type.Integer({ description: 'dead letters in the stream' }),
  scanned: Type.Integer({ description: 'dead letters read (the newest OPS_DEADLETTER_SCAN_MAX)' }),
  groups: Type.Array(
    Type.Object({
      id: Type.String(),
      signature: Type.String(),
      example: Nullable(Type.String()),
      count: Type.Integer(),
      firstSeen: Type.String(),
      lastSeen: Type.String(),
      seqs: Type.Array(Type.Integer()),
      subjects: Type.Array(Type.String()),
      consumers: Type.Array(Type.String()),
    }),
  ),
});

export { RETRY_AFTER };
