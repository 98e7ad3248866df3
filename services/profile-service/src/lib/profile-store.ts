// Profiles in Postgres through Prisma Client's typed API: the read the cache falls back on (one
// query for any number of ids) and the update, which bumps the row version and returns the row in
// one statement and writes the `user.profile_updated` event into the outbox in the same
// transaction, so the event goes out if and only if the update committed. Database errors are
// left to platform's error handler, the one place that maps them to HTTP.
import { makeEnvelope } from '@app/contracts';
import type { PrismaClient } from '@app/db';
import { enqueuePrisma } from '@app/outbox';
import type { PublicProfile } from './entry.js';

export interface ProfilePatch {
  displayName?: string;
  bio?: string | null;
  avatarUrl?: string | null;
}

interface ProfileRow {
  userId: string;
  displayName: string;
  bio: string | null;
  avatarUrl: string | null;
  version: number;
  updatedAt: Date;
}

export function toPublic(row: ProfileRow): PublicProfile {
  return {
    id: row.userId,
    displayName: row.displayName,
    bio: row.bio,
    avatarUrl: row.avatarUrl,
    version: row.version,
    updatedAt: row.updatedAt.toISOString(),
  };
}

const SELECT = {
  userId: true,
  displayName: true,
  bio: true,
  avatarUrl: true,
  version: true,
  updatedAt: true,
} as const;

export class ProfileStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly subject: string,
    /** The outbox producer: the relay of this service publishes only its own rows. */
    private readonly producer: string,
  ) {}

  async findMany(ids: string[]): Promise<PublicProfile[]> {
    const rows = await this.prisma.profile.findMany({
      where: { userId: { in: ids } },
      select: SELECT,
    });
    return rows.map(toPublic);
  }

  /** Applies the patch; null when there is no such profile (nothing is written then). */
  async update(
    id: string,
    patch: ProfilePatch,
    traceparent?: string,
  ): Promise<PublicProfile | null> {
    return this.prisma.$transaction(async (tx) => {
      const [row] = await tx.profile.updateManyAndReturn({
        where: { userId: id },
        data: { ...patch, version: { increment: 1 } },
        select: SELECT,
      });
      if (!row) return null;
      const envelope = makeEnvelope('user.profile_updated', 1, {
        userId: id,
        profileVersion: row.version,
        changed: Object.keys(patch).sort(),
      });
      await enqueuePrisma(tx, {
        producer: this.producer,
        subject: this.subject,
        envelope,
        traceparent,
      });
      return toPublic(row);
    });
  }
}
