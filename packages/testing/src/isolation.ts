// Per-test isolation on the shared services: each test file gets its own Postgres database (cloned
// from a migrated template, so it costs one CREATE DATABASE), its own Redis key prefix and its own
// NATS namespace, all removed in teardown. This is what lets tap run test files in parallel.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  jetstream,
  jetstreamManager,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import pg from 'pg';
import { serviceUrls } from './services.js';

/** The part of a tap test the harness uses; typed structurally so tap's types are not needed. */
export interface TestLike {
  teardown(fn: () => unknown): void;
}

/** @app/db's `migrate`: applies the migrations of `migrationsDir` to an existing database. */
export type MigrateFn = (options: {
  databaseUrl: string;
  migrationsDir?: string;
}) => Promise<unknown>;

interface DbModule {
  migrate?: MigrateFn;
  migrationsDir?: string;
}

export interface IsolatedDatabaseOptions {
  /** Migrations folder whose contents name the template; default: @app/db's. */
  migrationsDir?: string;
  /** Applies the schema to the template; default: @app/db's `migrate`. */
  migrate?: MigrateFn;
}

export interface IsolatedDatabase {
  url: string;
  name: string;
}

export interface IsolatedRedis {
  url: string;
  /** `t:<hex>:`; every key the test writes must start with it. */
  prefix: string;
  /** A connected client without a key prefix; closed in teardown. */
  client: Redis;
}

export interface IsolatedNats {
  url: string;
  /** For `names(namespace)` / `topology({ namespace })` of @app/contracts. */
  namespace: string;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export interface IsolatedSystem {
  db: IsolatedDatabase;
  redis: IsolatedRedis;
  nats: IsolatedNats;
  /** `DATABASE_URL`, `REDIS_URL`, `NATS_URL` and `NATS_NAMESPACE` of the isolated services. */
  vars: Record<string, string>;
}

const TEMPLATE_PREFIX = 'app_test_template_';
// Arbitrary constant shared by every test process: serialises template creation across them.
const TEMPLATE_LOCK_KEY = 727_274_001;

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

// Imported lazily: @app/db loads the Prisma client, which tests that never touch Postgres should not
// pay for. Assigning to DbModule checks that its exports still fit what the harness calls.
async function loadDbModule(): Promise<DbModule> {
  const db: DbModule = await import('@app/db');
  return db;
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('@app/testing: cannot find its package.json');
    dir = parent;
  }
  return dir;
}

function defaultMigrationsDir(): string {
  return join(packageRoot(), '..', 'db', 'prisma', 'migrations');
}

/** sha256 over every file's relative path and bytes, in a stable order; first 16 hex chars. */
export function hashDirectory(dir: string): string {
  if (!existsSync(dir)) throw new Error(`Migrations folder not found: ${dir}`);
  const hash = createHash('sha256');
  const walk = (current: string): void => {
    for (const entry of readdirSync(current).sort()) {
      const path = join(current, entry);
      if (statSync(path).isDirectory()) {
        walk(path);
      } else {
        hash.update(relative(dir, path).split('\\').join('/')).update('\0');
        hash.update(readFileSync(path)).update('\0');
      }
    }
  };
  walk(dir);
  return hash.digest('hex').slice(0, 16);
}

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const templates = new Map<string, Promise<string>>();

async function createTemplate(
  adminUrl: string,
  template: string,
  migrate: MigrateFn,
  migrationsDir: string,
): Promise<string> {
  return withAdmin(adminUrl, async (admin) => {
    await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK_KEY]);
    try {
      const existing = await admin.query<{ datistemplate: boolean }>(
        'SELECT datistemplate FROM pg_database WHERE datname = $1',
        [template],
      );
      if (existing.rows[0]?.datistemplate) return template;
      // Present but not marked: a run died while migrating it. Start over.
      if (existing.rows[0]) await admin.query(`DROP DATABASE ${quoteIdent(template)} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${quoteIdent(template)}`);
      await migrate({ databaseUrl: withDatabase(adminUrl, template), migrationsDir });
      // A pooled connection left open by the migrator would block every CREATE ... TEMPLATE.
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [template],
      );
      await admin.query(
        `ALTER DATABASE ${quoteIdent(template)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`,
      );
      const stale = await admin.query<{ datname: string }>(
        'SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2',
        [`${TEMPLATE_PREFIX}%`, template],
      );
      for (const { datname } of stale.rows) {
        await admin.query(`ALTER DATABASE ${quoteIdent(datname)} WITH IS_TEMPLATE false`);
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
      }
      return template;
    } finally {
      await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK_KEY]);
    }
  });
}

async function ensureTemplate(adminUrl: string, options: IsolatedDatabaseOptions): Promise<string> {
  const db = options.migrate && options.migrationsDir ? {} : await loadDbModule();
  const exported = typeof db.migrationsDir === 'string' ? db.migrationsDir : undefined;
  const migrationsDir = options.migrationsDir ?? exported ?? defaultMigrationsDir();
  const migrate = options.migrate ?? db.migrate;
  if (typeof migrate !== 'function') {
    throw new Error(
      '@app/db does not export migrate({ databaseUrl }): cannot build the test template',
    );
  }
  const template = `${TEMPLATE_PREFIX}${hashDirectory(migrationsDir)}`;
  const key = `${adminUrl} ${template}`;
  let ready = templates.get(key);
  if (!ready) {
    ready = createTemplate(adminUrl, template, migrate, migrationsDir);
    templates.set(key, ready);
    // A failure must not stick: the next test may retry after the cause is fixed.
    ready.catch(() => templates.delete(key));
  }
  return ready;
}

/** A fresh, migrated database of its own for this test; dropped in teardown. */
export async function isolatedDatabase(
  t: TestLike,
  options: IsolatedDatabaseOptions = {},
): Promise<IsolatedDatabase> {
  const { databaseUrl: adminUrl } = await serviceUrls();
  const template = await ensureTemplate(adminUrl, options);
  const name = `test_${hex(8)}`;
  await withAdmin(adminUrl, (admin) =>
    admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`),
  );
  t.teardown(() =>
    withAdmin(adminUrl, (admin) =>
      admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`),
    ),
  );
  return { url: withDatabase(adminUrl, name), name };
}

/** Deletes every key matching `pattern` with SCAN (never KEYS, never FLUSH*). */
export async function deleteKeys(client: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** A random key prefix on the shared Redis; its keys are deleted and the client quit in teardown. */
export async function isolatedRedis(t: TestLike): Promise<IsolatedRedis> {
  const { redisUrl } = await serviceUrls();
  const prefix = `t:${hex(8)}:`;
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
  await client.connect();
  t.teardown(async () => {
    try {
      await deleteKeys(client, `${prefix}*`);
    } finally {
      await client.quit();
    }
  });
  return { url: redisUrl, prefix, client };
}

/** Deletes every stream of a namespace (`NAMESPACE_UPPER_*`); returns their names. */
export async function deleteNamespaceStreams(
  jsm: JetStreamManager,
  namespace: string,
): Promise<string[]> {
  const prefix = `${namespace.toUpperCase()}_`;
  const doomed: string[] = [];
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(prefix)) doomed.push(name);
  }
  await Promise.all(doomed.map((name) => jsm.streams.delete(name)));
  return doomed;
}

/**
 * The one stream on the shared server that no test deletes. nats-server 2.9 removes an account's
 * storage directory (`<store>/jetstream/$G`) when its last file stream is deleted, and a stream
 * created in that moment fails (`could not create storage directory - mkdir .../$G/streams: no
 * such file or directory`, in the server's log only), so its first publish answers "no
 * responders": with test files creating and deleting namespaces two at a time, that failed a CI
 * run. A file stream that stays keeps the directory. Created once per process; adding a stream
 * that exists with the same configuration is a no-op, so concurrent processes agree.
 */
export const ANCHOR_STREAM = 'TESTING_ANCHOR';
let anchored: Promise<unknown> | undefined;
function ensureAnchorStream(jsm: JetStreamManager): Promise<unknown> {
  anchored ??= jsm.streams
    .add({
      name: ANCHOR_STREAM,
      subjects: ['_testing.anchor'],
      storage: StorageType.File,
      max_msgs: 1,
      max_bytes: 1024,
    })
    .catch((err: unknown) => {
      anchored = undefined;
      throw err;
    });
  return anchored;
}

/** A random namespace on the shared NATS; its streams are deleted and the connection drained. */
export async function isolatedNats(t: TestLike): Promise<IsolatedNats> {
  const { natsUrl } = await serviceUrls();
  const namespace = `t_${hex(6)}`;
  const nc = await connect({ servers: natsUrl.split(',').map((s) => s.trim()) });
  const jsm = await jetstreamManager(nc);
  await ensureAnchorStream(jsm);
  const js = jetstream(nc);
  t.teardown(async () => {
    try {
      await deleteNamespaceStreams(jsm, namespace);
    } finally {
      await nc.drain();
    }
  });
  return { url: natsUrl, namespace, nc, js, jsm };
}

/** All three at once, with the variables every service reads them from. */
export async function isolatedSystem(t: TestLike): Promise<IsolatedSystem> {
  const [db, redis, nats] = await Promise.all([
    isolatedDatabase(t),
    isolatedRedis(t),
    isolatedNats(t),
  ]);
  return {
    db,
    redis,
    nats,
    vars: {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      NATS_URL: nats.url,
      NATS_NAMESPACE: nats.namespace,
    },
  };
}
