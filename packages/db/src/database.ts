// Creating the application database itself, which no migration can do since migrations run inside it.
import pg from 'pg';

function parseDatabaseUrl(databaseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new Error('DATABASE_URL is not a valid URL (expected postgresql://user@host:port/db)');
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw new Error(
      `DATABASE_URL must start with postgresql:// or postgres:// (got ${url.protocol}//)`,
    );
  }
  return url;
}

/**
 * Creates the database named in the URL if it does not exist, connecting to the server's
 * `postgres` maintenance database. Returns true when it created it. Safe to race: a concurrent
 * creation by someone else counts as "already there".
 */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = parseDatabaseUrl(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database (expected .../<database>)');
  const admin = new URL(url.toString());
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  client.on('error', () => {});
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      return true;
    } catch (error) {
      // 42P04 duplicate_database; 23505 when two CREATE DATABASE race on the catalog's unique index.
      const code = (error as { code?: string }).code;
      if (code === '42P04' || code === '23505') return false;
      throw error;
    }
  } finally {
    await client.end();
  }
}
