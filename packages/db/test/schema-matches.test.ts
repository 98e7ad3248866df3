// Proves the hand-written migrations build exactly the database schema.prisma describes: tables,
// columns (name, SQL type, nullability, presence of a default), indexes (unique or not, columns,
// Prisma's names) and foreign keys. The DMMF comes from running `prisma generate` now, offline,
// with only the dmmf generator, so the test always reads the current schema.prisma.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import t from 'tap';
import { migrate } from '../src/index.js';
import { createTestDatabase, withClient, within } from './helpers.js';

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  type: string;
  isRequired: boolean;
  isList: boolean;
  isUpdatedAt: boolean;
  hasDefaultValue: boolean;
  default?: { name: string } | string | number | boolean;
  nativeType?: [string, string[]] | null;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { name: string | null; fields: string[] } | null;
}
interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal' | 'fulltext';
  name?: string | null;
  dbName?: string | null;
  fields: { name: string }[];
}
interface Datamodel {
  models: DmmfModel[];
  indexes: DmmfIndex[];
}

const packageDir = fileURLToPath(new URL('..', import.meta.url));

async function currentDatamodel(t: { teardown(fn: () => unknown): void }): Promise<Datamodel> {
  const dir = await mkdtemp(join(tmpdir(), 'db-dmmf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const output = join(dir, 'dmmf.json');
  const prismaCli = createRequire(import.meta.url).resolve('prisma/build/index.js');
  const child = spawn(process.execPath, [prismaCli, 'generate', '--generator', 'dmmf'], {
    cwd: packageDir,
    env: {
      ...process.env,
      DMMF_OUTPUT: output,
      PRISMA_SCHEMA_ENGINE_BINARY: join(packageDir, 'scripts', 'schema-engine-stand-in.mjs'),
      CHECKPOINT_DISABLE: '1',
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    },
  });
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  child.stdout.resume();
  const code = await within(
    60_000,
    'prisma generate --generator dmmf',
    new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    }),
  );
  if (code !== 0) throw new Error(`prisma generate failed (${code}): ${err}`);
  return JSON.parse(await readFile(output, 'utf8')) as Datamodel;
}

// Prisma's default column types on PostgreSQL, and its native types, as pg's format_type() prints them.
const DEFAULT_SQL_TYPE: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Boolean: 'boolean',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

function sqlType(field: DmmfField): string {
  const native = field.nativeType;
  if (!native) {
    const type = DEFAULT_SQL_TYPE[field.type];
    if (!type) throw new Error(`no default SQL type known for Prisma type ${field.type}`);
    return type;
  }
  const [name, args] = native;
  const arg = args.length ? `(${args.join(',')})` : '';
  switch (name) {
    case 'Uuid':
      return 'uuid';
    case 'Citext':
      return 'citext';
    case 'Text':
      return 'text';
    case 'VarChar':
      return `character varying${arg}`;
    case 'Timestamptz':
      return `timestamp${arg} with time zone`;
    case 'Timestamp':
      return `timestamp${arg} without time zone`;
    case 'Integer':
      return 'integer';
    case 'BigInt':
      return 'bigint';
    default:
      throw new Error(`native type @db.${name} is not mapped in this test yet`);
  }
}

const tableOf = (model: DmmfModel): string => model.dbName ?? model.name;
const columnOf = (field: DmmfField): string => field.dbName ?? field.name;
// Client-side defaults (uuid(), cuid(), ...) leave the column without a DB default.
const hasDbDefault = (field: DmmfField): boolean =>
  field.hasDefaultValue &&
  !(
    typeof field.default === 'object' &&
    ['uuid', 'cuid', 'nanoid', 'ulid'].includes(field.default.name)
  );

interface Column {
  type: string;
  nullable: boolean;
  hasDefault: boolean;
}
interface Index {
  columns: string[];
  unique: boolean;
  primary: boolean;
}

/** What schema.prisma says the database should hold, in the same shape as readDatabase(). */
function expectedSchema(dm: Datamodel) {
  const tables: Record<string, Record<string, Column>> = {};
  const indexes: Record<string, Index> = {};
  const foreignKeys: Record<string, string> = {};
  const models = new Map(dm.models.map((m) => [m.name, m]));
  for (const model of dm.models) {
    const table = tableOf(model);
    const columns: Record<string, Column> = {};
    for (const field of model.fields) {
      if (field.kind !== 'scalar' && field.kind !== 'enum') continue;
      columns[columnOf(field)] = {
        type: sqlType(field) + (field.isList ? '[]' : ''),
        nullable: !field.isRequired,
        hasDefault: hasDbDefault(field),
      };
    }
    tables[table] = columns;
    for (const field of model.fields) {
      if (field.kind !== 'object' || !field.relationFromFields?.length) continue;
      const cols = field.relationFromFields.map((f) =>
        columnOf(model.fields.find((x) => x.name === f) as DmmfField),
      );
      const target = models.get(field.type) as DmmfModel;
      const toCols = (field.relationToFields ?? []).map((f) =>
        columnOf(target.fields.find((x) => x.name === f) as DmmfField),
      );
      foreignKeys[`${table}_${cols.join('_')}_fkey`] =
        `(${cols.join(',')}) -> ${tableOf(target)}(${toCols.join(',')}) on delete ${(field.relationOnDelete ?? 'NoAction').toLowerCase()}`;
    }
  }
  for (const index of dm.indexes) {
    const model = models.get(index.model) as DmmfModel;
    const table = tableOf(model);
    const columns = index.fields.map((f) =>
      columnOf(model.fields.find((x) => x.name === f.name) as DmmfField),
    );
    const suffix = index.type === 'id' ? 'pkey' : index.type === 'unique' ? 'key' : 'idx';
    // Prisma's default constraint names: <table>_pkey, <table>_<columns>_key / _idx.
    const name =
      index.dbName ??
      (index.type === 'id' ? `${table}_pkey` : `${table}_${columns.join('_')}_${suffix}`);
    indexes[`${table}.${name}`] = {
      columns,
      unique: index.type !== 'normal',
      primary: index.type === 'id',
    };
  }
  return { tables, indexes, foreignKeys };
}

/** The migrated database's tables, columns, indexes and foreign keys, read from pg_catalog. */
async function readDatabase(client: pg.Client): Promise<ReturnType<typeof expectedSchema>> {
  // Each row comes back in the shape the comparison uses, so no re-mapping here.
  const columns = await client.query<{ table: string; column: string; spec: Column }>(
    `SELECT c.relname AS table, a.attname AS column,
            json_build_object('type', format_type(a.atttypid, a.atttypmod),
                              'nullable', NOT a.attnotnull, 'hasDefault', a.atthasdef) AS spec
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
        AND c.relname <> '_prisma_migrations'`,
  );
  const tables: Record<string, Record<string, Column>> = {};
  for (const row of columns.rows) (tables[row.table] ??= {})[row.column] = row.spec;
  const indexRows = await client.query<{ key: string; spec: Index }>(
    `SELECT t.relname || '.' || i.relname AS key,
            json_build_object(
              'columns', array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
                                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                                ORDER BY k.ord),
              'unique', x.indisunique, 'primary', x.indisprimary) AS spec
       FROM pg_index x
       JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = 'public' AND t.relname <> '_prisma_migrations'`,
  );
  const indexes: Record<string, Index> = Object.fromEntries(
    indexRows.rows.map((row) => [row.key, row.spec]),
  );
  const foreignKeys: Record<string, string> = {};
  const fkRows = await client.query<{
    name: string;
    table: string;
    cols: string[];
    target: string;
    tocols: string[];
    ondelete: string;
  }>(
    `SELECT con.conname AS name, t.relname AS table, f.relname AS target,
            array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                   ORDER BY k.ord)::text[] AS cols,
            array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = f.oid AND a.attnum = k.attnum
                   ORDER BY k.ord)::text[] AS tocols,
            CASE con.confdeltype WHEN 'c' THEN 'cascade' WHEN 'r' THEN 'restrict'
              WHEN 'n' THEN 'setnull' WHEN 'd' THEN 'setdefault' ELSE 'noaction' END AS ondelete
       FROM pg_constraint con
       JOIN pg_class t ON t.oid = con.conrelid
       JOIN pg_class f ON f.oid = con.confrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE con.contype = 'f' AND n.nspname = 'public'`,
  );
  for (const row of fkRows.rows) {
    foreignKeys[row.name] =
      `(${row.cols.join(',')}) -> ${row.target}(${row.tocols.join(',')}) on delete ${row.ondelete}`;
  }
  return { tables, indexes, foreignKeys };
}

void t.test('the migrated database matches schema.prisma', async (t) => {
  const [datamodel, url] = await Promise.all([currentDatamodel(t), createTestDatabase(t)]);
  await migrate({ databaseUrl: url });
  const expected = expectedSchema(datamodel);
  t.ok(Object.keys(expected.tables).length >= 6, 'the DMMF lists the models');

  await withClient(url, async (client) => {
    t.same(await readDatabase(client), expected, 'tables, columns, indexes and foreign keys');

    const ext = await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'citext'`);
    t.equal(ext.rowCount, 1, 'the citext extension is installed');

    // The comparison is strict enough to notice drift: break the database three ways.
    await client.query(`ALTER TABLE profiles DROP COLUMN bio`);
    await client.query(`ALTER TABLE users ALTER COLUMN email TYPE text`);
    await client.query(`ALTER TABLE outbox_events ALTER COLUMN published_at SET NOT NULL`);
    await client.query(`DROP INDEX notification_deliveries_event_id_kind_key`);
    const drifted = await readDatabase(client);
    t.notSame(drifted, expected);
    t.equal(drifted.tables.profiles?.bio, undefined, 'a missing column is seen');
    t.equal(drifted.tables.users?.email?.type, 'text', 'a changed type is seen');
    t.equal(drifted.tables.outbox_events?.published_at?.nullable, false, 'nullability is seen');
    t.notOk(
      'notification_deliveries.notification_deliveries_event_id_kind_key' in drifted.indexes,
      'a missing unique index is seen',
    );
  });
});
