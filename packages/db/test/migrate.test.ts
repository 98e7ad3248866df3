import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { migrate, MigrationError, migrationsDir } from '../src/index.js';
import {
  createTestDatabase,
  databaseUrlFor,
  dropInTeardown,
  randomDatabaseName,
  withClient,
  within,
} from './helpers.js';

const APP_TABLES = [
  'deadletter_redrives',
  'idempotency_keys',
  'notification_deliveries',
  'outbox_events',
  'profiles',
  'redrive_jobs',
  'users',
];

async function localMigrations(dir = migrationsDir): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

async function tablesOf(url: string): Promise<string[]> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
    );
    return rows.map((r) => r.table_name);
  });
}

async function copyMigrations(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'db-migrations-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(migrationsDir, dir, { recursive: true });
  return dir;
}

void t.test('migrating twice: the second run applies nothing', async (t) => {
  const url = await createTestDatabase(t);
  const names = await localMigrations();
  t.ok(names.length > 0, 'the package ships migrations');

  const lines: string[] = [];
  const first = await migrate({ databaseUrl: url, log: (line) => lines.push(line) });
  t.same(first, { applied: names, alreadyApplied: [] });
  t.same(
    lines,
    names.map((n) => `applied ${n}`),
  );
  t.same(await tablesOf(url), ['_prisma_migrations', ...APP_TABLES]);

  const second = await migrate({ databaseUrl: url });
  t.same(second, { applied: [], alreadyApplied: names });

  // Recorded the way `prisma migrate deploy` records, so Prisma's CLI can take over this database.
  const rows = await withClient(url, async (c) => {
    const result = await c.query(
      `SELECT id, migration_name, checksum, finished_at, rolled_back_at, logs, applied_steps_count
         FROM _prisma_migrations ORDER BY migration_name`,
    );
    return result.rows;
  });
  t.equal(rows.length, names.length);
  for (const [i, row] of rows.entries()) {
    const name = names[i] ?? '';
    const sql = await readFile(join(migrationsDir, name, 'migration.sql'));
    t.equal(row.migration_name, name);
    t.equal(row.checksum, createHash('sha256').update(sql).digest('hex'), 'sha256 of the file');
    t.match(row.id, /^[0-9a-f-]{36}$/);
    t.ok(row.finished_at instanceof Date, 'finished_at set');
    t.equal(row.rolled_back_at, null);
    t.equal(row.logs, null);
    t.equal(row.applied_steps_count, 1);
  }
});

void t.test('two concurrent runs on a fresh database apply each migration once', async (t) => {
  const url = await createTestDatabase(t);
  const names = await localMigrations();
  const [a, b] = await Promise.all([migrate({ databaseUrl: url }), migrate({ databaseUrl: url })]);
  t.same([...a.applied, ...b.applied].sort(), names, 'every migration applied by exactly one run');
  t.same([...a.alreadyApplied, ...b.alreadyApplied].sort(), names, 'the other run saw it applied');
  const counts = await withClient(url, async (c) => {
    const { rows } = await c.query<{ migration_name: string; n: number }>(
      `SELECT migration_name, count(*)::int AS n FROM _prisma_migrations GROUP BY migration_name`,
    );
    return Object.fromEntries(rows.map((r) => [r.migration_name, r.n]));
  });
  t.same(counts, Object.fromEntries(names.map((n) => [n, 1])));
  t.same(await tablesOf(url), ['_prisma_migrations', ...APP_TABLES]);
});

void t.test('an applied migration that was edited afterwards is refused, by name', async (t) => {
  const url = await createTestDatabase(t);
  const dir = await copyMigrations(t);
  const [name] = await localMigrations(dir);
  await migrate({ databaseUrl: url, migrationsDir: dir });

  const file = join(dir, name ?? '', 'migration.sql');
  await writeFile(
    file,
    (await readFile(file, 'utf8')) + '\nCREATE TABLE "sneaky" ("id" INTEGER);\n',
  );
  const error = await migrate({ databaseUrl: url, migrationsDir: dir }).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(error instanceof MigrationError, 'a MigrationError');
  t.match((error as Error).message, `migration ${name} was modified after it was applied`);
  t.notOk((await tablesOf(url)).includes('sneaky'), 'the edited SQL did not run');
});

void t.test('an applied migration whose folder is gone is refused, by name', async (t) => {
  const url = await createTestDatabase(t);
  const dir = await copyMigrations(t);
  await mkdir(join(dir, '29991231000000_extra'));
  await writeFile(join(dir, '29991231000000_extra', 'migration.sql'), 'CREATE TABLE "extra" ();\n');
  await migrate({ databaseUrl: url, migrationsDir: dir });
  await rm(join(dir, '29991231000000_extra'), { recursive: true });
  await t.rejects(migrate({ databaseUrl: url, migrationsDir: dir }), {
    name: 'MigrationError',
    migration: '29991231000000_extra',
    message: /migration 29991231000000_extra is applied in the database but its folder is missing/,
  });
});

void t.test(
  'a failing migration rolls back, names itself, and blocks nothing once fixed',
  async (t) => {
    const url = await createTestDatabase(t);
    const dir = await copyMigrations(t);
    const bad = join(dir, '29991231000000_bad');
    await mkdir(bad);
    await writeFile(
      join(bad, 'migration.sql'),
      'CREATE TABLE "half_done" ("id" INTEGER);\nSELECT * FROM "no_such_table";\n',
    );
    await t.rejects(migrate({ databaseUrl: url, migrationsDir: dir }), {
      name: 'MigrationError',
      message: /migration 29991231000000_bad failed and was rolled back: .*no_such_table/,
    });
    t.notOk((await tablesOf(url)).includes('half_done'), 'its first statement was rolled back');

    await writeFile(join(bad, 'migration.sql'), 'CREATE TABLE "half_done" ("id" INTEGER);\n');
    const result = await migrate({ databaseUrl: url, migrationsDir: dir });
    t.same(result.applied, ['29991231000000_bad']);
  },
);

void t.test('a migration left failed by another tool is refused until resolved', async (t) => {
  const url = await createTestDatabase(t);
  const dir = await copyMigrations(t);
  await migrate({ databaseUrl: url, migrationsDir: dir });
  // What `prisma migrate deploy` leaves behind when a migration fails half-way.
  await withClient(url, (c) =>
    c.query(
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, applied_steps_count)
       VALUES ('00000000-0000-4000-8000-000000000000', 'x', '29991231000000_crashed', 'boom', 0)`,
    ),
  );
  await mkdir(join(dir, '29991231000000_crashed'));
  await writeFile(join(dir, '29991231000000_crashed', 'migration.sql'), 'SELECT 1;\n');
  await t.rejects(migrate({ databaseUrl: url, migrationsDir: dir }), {
    name: 'MigrationError',
    migration: '29991231000000_crashed',
    message: /migration 29991231000000_crashed failed or is still running/,
  });
});

void t.test('the outbox insert trigger notifies listeners with the row seq', async (t) => {
  const url = await createTestDatabase(t);
  await migrate({ databaseUrl: url });
  await withClient(url, async (listener) => {
    await listener.query('LISTEN outbox_events');
    const notified = new Promise<string | undefined>((resolve) => {
      listener.once('notification', (msg) => resolve(msg.payload));
    });
    const { rows } = await listener.query<{ seq: string }>(
      `INSERT INTO outbox_events (id, producer, subject, type, payload)
       VALUES (gen_random_uuid(), 'signup-service', 'user.signed_up', 'user.signed_up', '{}')
       RETURNING seq`,
    );
    t.equal(await within(5000, 'the outbox_events notification', notified), rows[0]?.seq);
  });
});

function runCli(
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string; err: string }> {
  const packageDir = fileURLToPath(new URL('..', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import=tsx', '--conditions=app-source', 'src/cli/migrate.ts'],
      { cwd: packageDir, env: { ...process.env, ...env } },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

void t.test('the CLI creates the database, migrates it and prints a summary', async (t) => {
  const name = randomDatabaseName('db_cli');
  dropInTeardown(t, name);
  const url = databaseUrlFor(name);
  const names = await localMigrations();

  const first = await within(60_000, 'the migrate CLI', runCli({ DATABASE_URL: url }));
  t.equal(first.code, 0, first.err);
  t.same(first.out.trim().split('\n'), [
    `created database ${url}`,
    ...names.map((n) => `applied ${n}`),
    `migrations: ${names.length} applied, 0 already applied (${url})`,
  ]);

  const second = await within(60_000, 'the migrate CLI', runCli({ DATABASE_URL: url }));
  t.equal(second.code, 0, second.err);
  t.match(second.out, `migrations: 0 applied, ${names.length} already applied`);
});

void t.test('the CLI exits 1 with a clear message for a bad DATABASE_URL', async (t) => {
  const result = await within(
    60_000,
    'the migrate CLI',
    runCli({ DATABASE_URL: 'mysql://root:hunter2@127.0.0.1/app' }),
  );
  t.equal(result.code, 1);
  t.match(result.err, 'migrate failed: DATABASE_URL must start with postgresql://');
  t.notMatch(result.err + result.out, 'hunter2', 'the password is never printed');
});

void t.test('the producer migration assigns existing outbox rows by event type', async (t) => {
  const url = await createTestDatabase(t);
  const dir = await copyMigrations(t);
  const producerMigration = '20261202100000_outbox_producer';
  const later = (await localMigrations(dir)).filter((n) => n >= producerMigration);
  // A database as it was before the migration, with rows both relays had written.
  const held = await mkdtemp(join(tmpdir(), 'db-migrations-held-'));
  t.teardown(() => rm(held, { recursive: true, force: true }));
  for (const name of later) await cp(join(dir, name), join(held, name), { recursive: true });
  for (const name of later) await rm(join(dir, name), { recursive: true });
  await migrate({ databaseUrl: url, migrationsDir: dir });
  await withClient(url, (c) =>
    c.query(
      `INSERT INTO outbox_events (id, subject, type, payload) VALUES
         (gen_random_uuid(), 'user.signed_up', 'user.signed_up', '{}'),
         (gen_random_uuid(), 'user.profile_updated', 'user.profile_updated', '{}'),
         (gen_random_uuid(), 'user.other', 'user.other', '{}')`,
    ),
  );

  for (const name of later) await cp(join(held, name), join(dir, name), { recursive: true });
  const result = await migrate({ databaseUrl: url, migrationsDir: dir });
  t.same(result.applied, later);
  const rows = await withClient(url, async (c) => {
    const r = await c.query<{ type: string; producer: string }>(
      'SELECT type, producer FROM outbox_events ORDER BY seq',
    );
    return r.rows;
  });
  t.same(rows, [
    { type: 'user.signed_up', producer: 'signup-service' },
    { type: 'user.profile_updated', producer: 'profile-service' },
    { type: 'user.other', producer: 'unassigned' },
  ]);
  await t.rejects(
    withClient(url, (c) =>
      c.query(
        `INSERT INTO outbox_events (id, subject, type, payload)
         VALUES (gen_random_uuid(), 'user.signed_up', 'user.signed_up', '{}')`,
      ),
    ),
    { code: '23502' },
    'a new row must name its producer',
  );
});
