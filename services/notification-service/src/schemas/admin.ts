// TypeBox schemas of the admin API's bodies, querystrings, params and replies: dead-letter listing,
// dry-run and background redrive, and the redrive job's status; and every answer of the admin
// routes, with the ones the admin scope's token check and rate limits give to all of them.
import { Type } from '@sinclair/typebox';
import {
  jsonResponse,
  platformProblems,
  problemResponse,
  RETRY_AFTER,
  SafeString,
  serverProblems,
} from '@app/contracts';

const EXAMPLE_JOB_ID = '0f8b3c1e-6a2d-4b5f-8e9a-7c1d2e3f4a5b';

export const Filter = Type.Object(
  {
    subject: Type.Optional(
      SafeString({
        minLength: 1,
        maxLength: 256,
        description: 'original subject; * and > allowed',
      }),
    ),
    reason: Type.Optional(
      SafeString({ minLength: 1, maxLength: 200, description: 'substring of Dlq-Reason' }),
    ),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    seqs: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 10_000 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  },
  { additionalProperties: false },
);

export const ListQuery = Type.Object(
  {
    subject: Type.Optional(SafeString({ minLength: 1, maxLength: 256 })),
    reason: Type.Optional(SafeString({ minLength: 1, maxLength: 200 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
  },
  { additionalProperties: false },
);

const Nullable = <T extends ReturnType<typeof Type.String | typeof Type.Integer>>(t: T) =>
  Type.Union([t, Type.Null()]);

export const DeadLetter = Type.Object({
  seq: Type.Integer(),
  subject: Type.String(),
  deadLetteredAt: Type.String(),
  originalSubject: Nullable(Type.String()),
  originalStream: Nullable(Type.String()),
  originalSeq: Nullable(Type.Integer()),
  originalTime: Nullable(Type.String()),
  consumer: Nullable(Type.String()),
  deliveries: Nullable(Type.Integer()),
  reason: Nullable(Type.String()),
  size: Type.Integer(),
  sha256: Type.String(),
});

export const DeadLetterList = Type.Object({
  count: Type.Integer(),
  items: Type.Array(DeadLetter),
});

export const RedriveBody = Type.Object(
  {
    filter: Filter,
    dryRun: Type.Boolean({
      default: true,
      description: 'true (default): only show what would move; false: start a redrive job',
    }),
    rate: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10_000, description: 'messages per second' }),
    ),
    actor: Type.Optional(SafeString({ minLength: 1, maxLength: 100 })),
  },
  {
    additionalProperties: false,
    examples: [{ filter: { reason: 'smtp', limit: 100 }, dryRun: false, rate: 50, actor: 'ada' }],
  },
);

export const DryRunReply = Type.Object({
  batchId: Type.String(),
  dryRun: Type.Literal(true),
  selected: Type.Integer(),
  redriven: Type.Literal(0),
  items: Type.Array(
    Type.Intersect([
      DeadLetter,
      Type.Object({ newMsgId: Type.String(), skipped: Type.Optional(Type.String()) }),
    ]),
  ),
});

export const RedriveJob = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    status: Type.Union(
      ['queued', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => Type.Literal(s)),
    ),
    actor: Type.String(),
    filter: Filter,
    rate: Type.Integer({ description: 'messages per second' }),
    total: Type.Integer({ description: 'dead letters selected (known once the job has started)' }),
    moved: Type.Integer(),
    failed: Type.Integer(),
    skipped: Type.Integer(),
    lastError: Nullable(Type.String()),
    cancelRequested: Type.Boolean(),
    createdAt: Type.String(),
    startedAt: Nullable(Type.String()),
    finishedAt: Nullable(Type.String()),
  },
  {
    examples: [
      {
        id: EXAMPLE_JOB_ID,
        status: 'running',
        actor: 'http:ada',
        filter: { reason: 'smtp', limit: 100 },
        rate: 50,
        total: 12,
        moved: 5,
        failed: 0,
        skipped: 0,
        lastError: null,
        cancelRequested: false,
        createdAt: '2025-12-02T10:15:00.000Z',
        startedAt: '2025-12-02T10:15:00.120Z',
        finishedAt: null,
      },
    ],
  },
);

export const JobParams = Type.Object(
  { id: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);

/** Every admin route needs the ADMIN_TOKEN (the `adminToken` scheme of the OpenAPI document). */
export const ADMIN_SECURITY = [{ adminToken: [] }];

const ADMIN_DISABLED = 'ADMIN_TOKEN is not configured on this instance';

/**
 * The answers of an admin route: its own, and those of the admin scope's checks (401 for a missing
 * or wrong token, 429 per client IP and after wrong tokens, 503 while ADMIN_TOKEN is unset), with
 * the codes of a status both give merged.
 */
export function adminResponses<T extends object>(
  own: T,
  codes: { 400?: Record<string, string>; 503?: Record<string, string> } = {},
) {
  return {
    ...own,
    400: problemResponse({ ...platformProblems('VALIDATION_FAILED'), ...codes[400] }),
    401: problemResponse({
      UNAUTHORIZED: 'no `Authorization: Bearer <ADMIN_TOKEN>` header, or a wrong token',
    }),
    429: problemResponse(
      {
        RATE_LIMITED:
          'too many admin requests from this IP, or too many wrong tokens (then even the right ' +
          'one waits): retry after `Retry-After`',
      },
      { 'retry-after': RETRY_AFTER },
    ),
    ...serverProblems(
      {
        ADMIN_DISABLED,
        ...platformProblems('DEPENDENCY_UNAVAILABLE'),
        ...codes[503],
      },
      { retryAfter: false },
    ),
  };
}

/** What a POST with a JSON body can be refused for before its handler runs. */
export const BODY_CODES = platformProblems(
  'INVALID_JSON',
  'UNSUPPORTED_TEXT',
  'INVALID_CONTENT_LENGTH',
);
export const BODY_RESPONSES = {
  413: problemResponse(platformProblems('PAYLOAD_TOO_LARGE')),
  415: problemResponse(platformProblems('UNSUPPORTED_MEDIA_TYPE')),
};

const INVALID_FILTER = {
  INVALID_FILTER: 'the filter is inconsistent (e.g. `since` after `until`)',
};
const NOT_PROVISIONED = {
  STREAM_NOT_PROVISIONED: 'the dead-letter stream does not exist yet: run the provision Job',
};
const JOB_NOT_FOUND = problemResponse({ REDRIVE_NOT_FOUND: 'no redrive job has this id' });

/** Every answer of GET /admin/deadletters. */
export const ListResponses = adminResponses(
  { 200: jsonResponse(DeadLetterList, 'The dead letters that match, oldest first') },
  { 400: INVALID_FILTER, 503: NOT_PROVISIONED },
);

/** Every answer of POST /admin/deadletters/redrive. */
export const RedriveResponses = adminResponses(
  {
    200: jsonResponse(DryRunReply, 'A dry run: what would move, recorded as such'),
    202: jsonResponse(RedriveJob, 'The redrive job is started: follow it at its `Location`', {
      location: {
        type: 'string',
        description: "The job's status route, `/admin/redrives/<id>`",
        required: true,
      },
    }),
    ...BODY_RESPONSES,
    409: problemResponse({
      REDRIVE_IN_PROGRESS: 'another redrive job is still running (`jobId` names it)',
    }),
  },
  { 400: { ...BODY_CODES, ...INVALID_FILTER }, 503: NOT_PROVISIONED },
);

/** Every answer of GET /admin/redrives/:id. */
export const JobResponses = adminResponses({
  200: jsonResponse(RedriveJob, 'The job: status, counts so far, times, actor, filter and rate'),
  404: JOB_NOT_FOUND,
});

/** Every answer of POST /admin/redrives/:id/cancel. */
export const CancelResponses = adminResponses(
  {
    202: jsonResponse(RedriveJob, 'The job, cancelling: it stops after the dead letter in hand'),
    ...BODY_RESPONSES,
    404: JOB_NOT_FOUND,
    409: problemResponse({ REDRIVE_FINISHED: 'the job has already finished' }),
  },
  { 400: BODY_CODES },
);
