// Database and dependency errors in one place: tells apart, from what a driver throws, the failures
// that are not a bug of ours. A dependency that is unreachable or went away mid-query (503, retry
// later), a transaction that lost a write conflict (503, retry), text Postgres cannot store (400), a
// unique or foreign-key violation (409) and a record Prisma needed but did not find (404). Knows the
// shapes node-postgres, Prisma and @prisma/adapter-pg throw, including the adapter's wrapping, so
// services never map them themselves: errors.ts answers them, and these predicates let a service
// turn one into its own outcome (`isUniqueViolation(err, 'users_email_key')` -> EMAIL_TAKEN).

/** Socket errors that mean "could not reach it" or "it went away". */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);

/** Prisma: can't reach the server, timed out reaching it, server closed the connection. */
const PRISMA_UNAVAILABLE = new Set(['P1001', 'P1002', 'P1017']);

/** @prisma/adapter-pg's names for the same failures. */
const ADAPTER_UNAVAILABLE = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
]);

/**
 * SQLSTATE: class 08 (connection exception), 57P01-03 (admin/crash shutdown, cannot connect now),
 * 53300 (too many connections): the server is there but cannot serve us right now.
 */
function unavailableSqlState(code: string): boolean {
  return code.startsWith('08') || /^57P0[1-3]$/.test(code) || code === '53300';
}

/** SQLSTATE 22021 (NUL, bytes invalid in UTF-8) and 22P05 (jsonb \u0000 escape). */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);

/** pg and the adapter throw these without a code when a socket ends under a query. */
const UNAVAILABLE_MESSAGE =
  /Connection terminated|Server has closed the connection|timeout exceeded when trying to connect|Can't reach database server|Client has encountered a connection error/i;

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The error and everything it wraps: `cause`, Prisma's `meta.driverAdapterError`, aggregates. */
function chain(error: unknown): Array<Record<string, unknown>> {
  const seen: Array<Record<string, unknown>> = [];
  const queue: unknown[] = [error];
  while (queue.length > 0 && seen.length < 16) {
    const e = queue.shift();
    if (typeof e !== 'object' || e === null || seen.includes(e as Record<string, unknown>))
      continue;
    const item = e as Record<string, unknown>;
    seen.push(item);
    queue.push(item.cause);
    const meta = item.meta as Record<string, unknown> | undefined;
    if (meta && typeof meta === 'object') queue.push(meta.driverAdapterError);
    if (Array.isArray(item.errors)) queue.push(...(item.errors as unknown[]));
  }
  return seen;
}

/** Every SQLSTATE the chain carries (pg's `code`, the adapter's `originalCode` / `code`). */
function sqlStates(item: Record<string, unknown>): string[] {
  return [item.code, item.originalCode].filter(
    (c): c is string => typeof c === 'string' && SQLSTATE.test(c),
  );
}

/** True when the error means a dependency (Postgres) is unreachable or dropped the connection. */
export function isDependencyUnavailable(error: unknown): boolean {
  return chain(error).some((item) => {
    const code = typeof item.code === 'string' ? item.code : '';
    if (NETWORK_CODES.has(code) || PRISMA_UNAVAILABLE.has(code)) return true;
    if (item.name === 'PrismaClientInitializationError') return true;
    if (typeof item.kind === 'string' && ADAPTER_UNAVAILABLE.has(item.kind)) return true;
    if (sqlStates(item).some(unavailableSqlState)) return true;
    return typeof item.message === 'string' && UNAVAILABLE_MESSAGE.test(item.message);
  });
}

/** True when Postgres refused text it cannot store (a NUL, or an escape jsonb refuses). */
export function isUnstorableText(error: unknown): boolean {
  return chain(error).some((item) => sqlStates(item).some((c) => UNSTORABLE_TEXT.has(c)));
}

/** The constraint names an error in the chain carries: pg's `constraint`, the adapter's, Prisma's `target`. */
function constraintNames(item: Record<string, unknown>): string[] {
  const names: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === 'string') names.push(v);
    else if (Array.isArray(v)) for (const x of v) add(x);
  };
  const c = item.constraint;
  if (typeof c === 'string') names.push(c);
  else if (c && typeof c === 'object') {
    const o = c as Record<string, unknown>;
    add(o.index);
    add(o.fields);
  }
  const meta = item.meta as Record<string, unknown> | undefined;
  if (meta && typeof meta === 'object') add(meta.target);
  return names;
}

interface Violation {
  prismaCode: string;
  sqlState: string;
  adapterKind: string;
}

function isViolation(error: unknown, v: Violation, constraint?: string): boolean {
  const items = chain(error);
  const matches = items.some(
    (item) =>
      item.code === v.prismaCode ||
      item.kind === v.adapterKind ||
      sqlStates(item).includes(v.sqlState),
  );
  if (!matches) return false;
  if (constraint === undefined) return true;
  return items.some((item) => constraintNames(item).includes(constraint));
}

/**
 * True for a unique violation (Prisma P2002, SQLSTATE 23505), optionally of one constraint, named
 * as Postgres names it (`users_email_key`) or by a column it covers.
 */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  return isViolation(
    error,
    { prismaCode: 'P2002', sqlState: '23505', adapterKind: 'UniqueConstraintViolation' },
    constraint,
  );
}

/** True for a foreign-key violation (Prisma P2003, SQLSTATE 23503), optionally of one constraint. */
export function isForeignKeyViolation(error: unknown, constraint?: string): boolean {
  return isViolation(
    error,
    { prismaCode: 'P2003', sqlState: '23503', adapterKind: 'ForeignKeyConstraintViolation' },
    constraint,
  );
}

/** True when Prisma did not find a record the operation required (P2025: update/delete of a missing row). */
export function isRecordNotFound(error: unknown): boolean {
  return chain(error).some((item) => item.code === 'P2025');
}

/** SQLSTATE 40001 (serialization failure) and 40P01 (deadlock detected). */
const CONFLICT_SQLSTATES = new Set(['40001', '40P01']);

/** True when a transaction lost a write conflict or a deadlock (P2034): retrying it may succeed. */
export function isTransactionConflict(error: unknown): boolean {
  return chain(error).some(
    (item) =>
      item.code === 'P2034' ||
      item.kind === 'TransactionWriteConflict' ||
      sqlStates(item).some((c) => CONFLICT_SQLSTATES.has(c)),
  );
}
