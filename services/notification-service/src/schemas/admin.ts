// TypeBox schemas of the admin API's bodies, querystrings, params and replies: dead-letter listing,
// dry-run and background redrive, and the redrive job's status.
import { Type } from '@sinclair/typebox';
import { SafeString } from '@app/contracts';

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
  { additionalProperties: false },
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

export const RedriveJob = Type.Object({
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
});

export const JobParams = Type.Object(
  { id: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);
