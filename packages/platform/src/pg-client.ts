// A node-postgres pool client held across awaits, without the crash pg leaves in that window.
//
// pg-pool removes its own 'error' listener from a client while it is checked out, and a pg Client
// whose connection dies with no query running emits 'error' itself: with no listener that is an
// uncaught exception and the process exits. A client held open across other work (the outbox
// relay's transaction stays open while it publishes to NATS; a signup transaction between two
// statements) meets exactly that when Postgres goes away (`write ECONNRESET` from
// Connection._send). Here the error is kept instead, the next query on the dead client fails as
// usual, and the client is destroyed rather than put back into the pool.
// Structural types: @app/platform does not depend on pg.

type ErrorListener = (err: Error) => void;

/** What this needs of a `pg.PoolClient`. */
export interface PoolClientLike {
  on(event: 'error', listener: ErrorListener): unknown;
  removeListener(event: 'error', listener: ErrorListener): unknown;
  release(destroy?: boolean | Error): void;
}

export interface WithPoolClientOptions {
  /** Destroy the client when fn throws even if its connection is alive (default: put it back). */
  destroyOnError?: boolean;
}

/**
 * Checks a client out of the pool for fn, and releases it (destroyed if its connection died).
 * Name C where the pool's `connect` is overloaded (pg.Pool's is): inference reads the last
 * overload, the callback one.
 */
export async function withPoolClient<C extends PoolClientLike, T>(
  pool: { connect(): Promise<C> },
  fn: (client: C) => Promise<T>,
  options: WithPoolClientOptions = {},
): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError: ErrorListener = (err) => {
    lost ??= err;
  };
  client.on('error', onError);
  let failed = false;
  try {
    return await fn(client);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    client.removeListener('error', onError);
    if (lost) client.release(lost);
    else client.release(failed && options.destroyOnError === true);
  }
}
