// Event envelopes and the payloads of every event the system emits. A consumer validates an
// envelope against these schemas before it acts, so a malformed message is terminated, not retried.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { v7 as uuidv7 } from 'uuid';

export const Uuid = Type.String({ format: 'uuid', minLength: 36, maxLength: 36 });

/** The shape every event on the bus shares: `{ id, type, version, occurredAt, data }`. */
export function Envelope<T extends string, V extends number, D extends TSchema>(
  type: T,
  version: V,
  data: D,
) {
  return Type.Object(
    {
      id: Uuid,
      type: Type.Literal(type),
      version: Type.Literal(version),
      occurredAt: Type.String({ format: 'date-time' }),
      data,
    },
    { additionalProperties: false, $id: `${type}.v${version}` },
  );
}

export const UserSignedUpDataV1 = Type.Object(
  {
    userId: Uuid,
    email: Type.String({ format: 'email', maxLength: 254 }),
    displayName: Type.String({ minLength: 1, maxLength: 100 }),
  },
  { additionalProperties: false },
);
export const UserSignedUpV1 = Envelope('user.signed_up', 1, UserSignedUpDataV1);
export type UserSignedUpV1 = Static<typeof UserSignedUpV1>;

export const UserProfileUpdatedDataV1 = Type.Object(
  {
    userId: Uuid,
    /** The profile's row version after the update: consumers drop anything older. */
    profileVersion: Type.Integer({ minimum: 1 }),
    changed: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }),
  },
  { additionalProperties: false },
);
export const UserProfileUpdatedV1 = Envelope('user.profile_updated', 1, UserProfileUpdatedDataV1);
export type UserProfileUpdatedV1 = Static<typeof UserProfileUpdatedV1>;

/** Builds an envelope with a fresh time-ordered id (UUIDv7), which is also the `Nats-Msg-Id`. */
export function makeEnvelope<T extends string, V extends number, D>(
  type: T,
  version: V,
  data: D,
  now: Date = new Date(),
): { id: string; type: T; version: V; occurredAt: string; data: D } {
  return {
    id: uuidv7({ msecs: now.getTime() }),
    type,
    version,
    occurredAt: now.toISOString(),
    data,
  };
}

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; errors: string[] };

// Consumers validate every message: a check compiled once per schema object is several times
// faster than interpreting the schema each time (Value.Check). Keyed weakly so ad-hoc schemas go.
const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checkerOf<S extends TSchema>(schema: S): TypeCheck<S> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check as TypeCheck<S>;
}

/** Validates unknown input against a schema and lists every problem as `path: message`. */
export function validate<S extends TSchema>(
  schema: S,
  input: unknown,
): ValidationResult<Static<S>> {
  if (checkerOf(schema).Check(input)) return { ok: true, value: input };
  // The failure path keeps Value.Errors, so messages read exactly as they always have.
  const errors = [...Value.Errors(schema, input)].map((e) => `${e.path || '/'}: ${e.message}`);
  return { ok: false, errors };
}
