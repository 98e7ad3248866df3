// Test isolation for @app/db: every test gets its own throwaway database on the real Postgres,
// dropped in teardown, so files run in parallel without seeing each other's tables.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Server to create test databases on; DATABASE_URL (read, never written) or the local default. */
const serverUrl = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export function databaseUrlFor(name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrlFor('postgres') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function randomDatabaseName(prefix = 'db_test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** Drops the named database in teardown (whether or not the test created it). */
export function dropInTeardown(t: Teardown, name: string): void {
  t.teardown(() =>
    admin((client) =>
      client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`),
    ),
  );
}

/** Creates an empty database for this test and returns its URL. */
export async function createTestDatabase(t: Teardown, prefix?: string): Promise<string> {
  const name = randomDatabaseName(prefix);
  await admin((client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  dropInTeardown(t, name);
  return databaseUrlFor(name);
}

/** Runs fn with a connection to url, closing it afterwards. */
export async function withClient<T>(
  url: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Rejects with a clear message when promise has not settled within ms. */
export async function within<T>(ms: number, label: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
