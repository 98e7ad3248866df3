// Applies the SQL migrations in prisma/migrations and records them in `_prisma_migrations` exactly
// as `prisma migrate deploy` does (same table, lock id and checksum), so either tool can take over
// a database. It exists because Prisma's native schema engine cannot be downloaded everywhere this
// project runs; this needs nothing but `pg`.
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** Absolute path of the package's migrations folder (Prisma's layout: `<name>/migration.sql`). */
export const migrationsDir = fileURLToPath(new URL('../prisma/migrations', import.meta.url));

/** Prisma's own migrate lock id: holding it keeps this and `prisma migrate deploy` from overlapping. */
export const MIGRATE_ADVISORY_LOCK_ID = 72707369;

export interface MigrateOptions {
  databaseUrl: string;
  migrationsDir?: string;
  log?: (line: string) => void;
}

export interface MigrateResult {
  /** Migrations applied by this run, in order. */
  applied: string[];
  /** Migrations found already recorded as applied. */
  alreadyApplied: string[];
}

/** Thrown when the database's migration history does not agree with the migration folders. */
export class MigrationError extends Error {
  constructor(
    message: string,
    readonly migration: string,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

// Byte for byte the DDL the schema engine runs, so the table is the one Prisma expects.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);`;

interface LocalMigration {
  name: string;
  sql: string;
  checksum: string;
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

async function readMigrations(dir: string): Promise<LocalMigration[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new Error(`cannot read migrations folder ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const migrations: LocalMigration[] = [];
  for (const name of names) {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, name, 'migration.sql'));
    } catch {
      throw new MigrationError(`migration ${name} has no migration.sql in ${dir}`, name);
    }
    // Prisma's checksum: sha256 of the file's bytes, lower-case hex.
    const checksum = createHash('sha256').update(bytes).digest('hex');
    migrations.push({ name, sql: bytes.toString('utf8'), checksum });
  }
  return migrations;
}

/**
 * Applies every pending migration, each in its own transaction, under Prisma's advisory lock so
 * that concurrent runs (several replicas starting at once) apply each migration exactly once.
 * Refuses to touch the database when its history disagrees with the folders: an applied
 * migration edited since, an applied migration whose folder is gone, or a failed migration.
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const dir = options.migrationsDir ?? migrationsDir;
  const log = options.log ?? (() => {});
  const local = await readMigrations(dir);

  const client = new pg.Client({ connectionString: options.databaseUrl });
  // A dropped connection already rejects the query in flight; without a listener it would also
  // crash the process as an unhandled 'error' event.
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATE_ADVISORY_LOCK_ID]);
    try {
      return await migrateLocked(client, local, log);
    } finally {
      // Closing the session releases the lock anyway; an unlock failure must not hide the real error.
      await client
        .query('SELECT pg_advisory_unlock($1)', [MIGRATE_ADVISORY_LOCK_ID])
        .catch(() => {});
    }
  } finally {
    await client.end();
  }
}

async function migrateLocked(
  client: pg.Client,
  local: LocalMigration[],
  log: (line: string) => void,
): Promise<MigrateResult> {
  const exists = await client.query<{ present: boolean }>(
    `SELECT to_regclass('_prisma_migrations') IS NOT NULL AS present`,
  );
  if (!exists.rows[0]?.present) await client.query(CREATE_MIGRATIONS_TABLE);

  const { rows } = await client.query<AppliedRow>(
    `SELECT migration_name, checksum, finished_at, rolled_back_at
       FROM _prisma_migrations ORDER BY started_at, migration_name`,
  );

  // Rolled-back attempts are history only, as in Prisma: the migration counts as not applied.
  const live = rows.filter((row) => row.rolled_back_at === null);
  const failed = live.find((row) => row.finished_at === null);
  if (failed) {
    throw new MigrationError(
      `migration ${failed.migration_name} failed or is still running in this database ` +
        `(finished_at is empty); fix the database, then mark it rolled back or applied ` +
        `(prisma migrate resolve) before migrating again`,
      failed.migration_name,
    );
  }
  const applied = new Map(live.map((row) => [row.migration_name, row]));
  const localNames = new Set(local.map((m) => m.name));
  for (const row of live) {
    if (!localNames.has(row.migration_name)) {
      throw new MigrationError(
        `migration ${row.migration_name} is applied in the database but its folder is missing ` +
          `from the migrations directory`,
        row.migration_name,
      );
    }
  }
  for (const migration of local) {
    const row = applied.get(migration.name);
    if (row && row.checksum !== migration.checksum) {
      throw new MigrationError(
        `migration ${migration.name} was modified after it was applied ` +
          `(checksum ${migration.checksum} differs from the recorded ${row.checksum}); ` +
          `add a new migration instead of editing an applied one`,
        migration.name,
      );
    }
  }

  const result: MigrateResult = { applied: [], alreadyApplied: [] };
  for (const migration of local) {
    if (applied.has(migration.name)) {
      result.alreadyApplied.push(migration.name);
      log(`already applied ${migration.name}`);
      continue;
    }
    await client.query('BEGIN');
    try {
      const id = randomUUID();
      await client.query(
        `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at)
         VALUES ($1, $2, $3, now())`,
        [id, migration.checksum, migration.name],
      );
      await client.query(migration.sql);
      await client.query(
        `UPDATE _prisma_migrations
            SET finished_at = clock_timestamp(), applied_steps_count = applied_steps_count + 1
          WHERE id = $1`,
        [id],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      // The transaction rolled back, so the database is as before and a fixed file can be retried.
      throw new MigrationError(
        `migration ${migration.name} failed and was rolled back: ${(error as Error).message}`,
        migration.name,
      );
    }
    result.applied.push(migration.name);
    log(`applied ${migration.name}`);
  }
  return result;
}
