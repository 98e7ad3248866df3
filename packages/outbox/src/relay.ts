// The transactional-outbox relay: moves one producer's committed rows of `outbox_events` to
// JetStream, in seq order, marking each published only after its PubAck. Safe with several replicas (rows are
// claimed with FOR UPDATE SKIP LOCKED), woken by LISTEN/NOTIFY with a slow poll as a safety net.
// A crash between publish and mark republishes the row with the same Nats-Msg-Id, which the
// stream's duplicate window drops, so events go out exactly once as far as consumers can see.
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import pg from 'pg';
import { Registry } from 'prom-client';
import { silentLogger, type Logger } from '@app/contracts';
import {
  activeTraceHeaders,
  backoffDelay,
  contextFromHeaders,
  SpanKind,
  withPoolClient,
  withSpan,
} from '@app/platform';
import { relayMetrics, type RelayMetrics } from './metrics.js';

export interface RelayOptions {
  databaseUrl: string;
  /**
   * The service this relay publishes for: it claims, counts and prunes only the rows whose
   * `producer` is this, so services sharing the table never publish each other's events.
   */
  producer: string;
  /** The NATS connection; its reconnects wake a relay that is backing off. */
  nc: NatsConnection;
  /** Defaults to `jetstream(nc)`. */
  js?: JetStreamClient;
  log?: Logger;
  metricsRegistry?: Registry;
  /** Rows claimed per transaction. Default 100. */
  batchSize?: number;
  /** Safety-net poll when no NOTIFY arrives. Default 5000 ms. */
  pollIntervalMs?: number;
  /** Published rows older than this are deleted. Default 7 days. */
  retentionMs?: number;
  /** How often pruning runs. Default 60 s. */
  pruneIntervalMs?: number;
  /** How long to wait for each PubAck. Default 5000 ms. */
  publishTimeoutMs?: number;
  /** Backoff after a failed batch: doubles from `initialMs` up to `maxMs`. Default 200 ms..5 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** How often the backlog is measured for the growth log. Default 10 s. */
  backlogCheckIntervalMs?: number;
  /** The backlog size from which growth is logged as a warning. Default 100. */
  backlogWarnThreshold?: number;
  /**
   * Test hook, run after each PubAck and before the row is marked: a test makes it throw or kill
   * the process to prove the duplicate window absorbs a crash between publish and mark.
   */
  afterPublish?: (id: string) => void | Promise<void>;
  /** Names this relay in its logs. Default: the producer. */
  name?: string;
}

export interface Backlog {
  count: number;
  oldestAgeMs: number;
}

export interface Relay {
  /** Stops the loop after the batch in flight, closes the LISTEN connection and the pool. */
  stop(): Promise<void>;
  /** Claims and publishes one batch now; resolves to how many rows it published. Throws on a publish failure. */
  drainOnce(): Promise<number>;
  /** Deletes published rows older than the retention; resolves to how many it deleted. */
  prune(): Promise<number>;
  /** Pending rows and the age of the oldest. */
  backlog(): Promise<Backlog>;
  metrics: RelayMetrics;
}

export const OUTBOX_CHANNEL = 'outbox_events';

interface OutboxRow {
  id: string;
  seq: string;
  subject: string;
  payload: string;
  headers: Record<string, string> | null;
}

class PublishFailure extends Error {
  constructor(
    readonly eventId: string,
    override readonly cause: unknown,
  ) {
    super(`publishing outbox event ${eventId} failed: ${errorMessage(cause)}`);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function startRelay(options: RelayOptions): Promise<Relay> {
  const log = options.log ?? silentLogger;
  const producer = options.producer;
  if (!producer) throw new Error('startRelay needs the producer whose rows it publishes');
  const name = options.name ?? producer;
  const batchSize = options.batchSize ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 5000;
  const retentionMs = options.retentionMs ?? 7 * 86_400_000;
  const pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
  const publishTimeoutMs = options.publishTimeoutMs ?? 5000;
  const backoffSchedule = {
    baseMs: options.backoff?.initialMs ?? 200,
    maxMs: options.backoff?.maxMs ?? 5000,
  };
  const backlogCheckIntervalMs = options.backlogCheckIntervalMs ?? 10_000;
  const backlogWarnThreshold = options.backlogWarnThreshold ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error('batchSize must be a positive integer');
  const js = options.js ?? jetstream(options.nc);

  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 3 });
  // An idle pooled client losing its server emits here; without a listener it would crash the process.
  pool.on('error', (err) => log.warn({ err: errorMessage(err) }, 'outbox pool connection lost'));

  async function backlog(): Promise<Backlog> {
    const { rows } = await pool.query<{ count: number; age_ms: number | null }>(
      `SELECT count(*)::int AS count,
              (extract(epoch FROM now() - min(created_at)) * 1000)::float8 AS age_ms
         FROM outbox_events WHERE producer = $1 AND published_at IS NULL`,
      [producer],
    );
    return { count: rows[0]?.count ?? 0, oldestAgeMs: Math.max(0, rows[0]?.age_ms ?? 0) };
  }

  const metrics = relayMetrics(options.metricsRegistry ?? new Registry(), backlog);

  let stopped = false;
  // One waiter at a time: the loop. `wakeReason` remembers a wake that came while it was busy.
  let wakeUp: (() => void) | undefined;
  let wokenByNotify = false;
  let wokenByNats = false;
  function wake(kind: 'notify' | 'nats' | 'stop'): void {
    if (kind === 'notify') wokenByNotify = true;
    if (kind === 'nats') wokenByNats = true;
    wakeUp?.();
  }
  function wait(ms: number, acceptNotify: boolean): Promise<void> {
    if (stopped || wokenByNats || (acceptNotify && wokenByNotify)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = () => {
        if (stopped || wokenByNats || (acceptNotify && wokenByNotify)) done();
      };
    });
  }

  async function drainOnce(): Promise<number> {
    const done: string[] = [];
    // The transaction stays open while publishing: withPoolClient keeps a connection lost in
    // that window from crashing the process.
    const failure = await withPoolClient<pg.PoolClient, PublishFailure | undefined>(
      pool,
      (client) => publishBatch(client, done),
      {
        destroyOnError: true,
      },
    );
    if (done.length > 0) log.debug({ count: done.length }, 'outbox events published');
    if (failure) throw failure;
    return done.length;
  }

  /**
   * One batch in one transaction: the rows locked, published in order (ids into done), marked,
   * committed. Returns the first publish that failed, if one did.
   */
  async function publishBatch(
    client: pg.PoolClient,
    done: string[],
  ): Promise<PublishFailure | undefined> {
    let failure: PublishFailure | undefined;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<OutboxRow>(
        `SELECT id, seq, subject, payload::text AS payload, headers
           FROM outbox_events
          WHERE producer = $1 AND published_at IS NULL
          ORDER BY seq
          LIMIT $2
          FOR UPDATE SKIP LOCKED`,
        [producer, batchSize],
      );
      for (const row of rows) {
        try {
          const stored = row.headers ?? {};
          const ack = await withSpan(
            `${row.subject} publish`,
            () => ({
              kind: SpanKind.PRODUCER,
              parent: contextFromHeaders({
                get: (k) => (typeof stored[k] === 'string' ? stored[k] : undefined),
              }),
              attributes: {
                'messaging.system': 'nats',
                'messaging.operation.type': 'send',
                'messaging.destination.name': row.subject,
                'messaging.message.id': row.id,
              },
            }),
            async () => {
              const h = natsHeaders();
              // Traced, the message names the publish span as its parent; else the stored context.
              for (const [k, v] of Object.entries({ ...stored, ...activeTraceHeaders() })) {
                if (typeof v === 'string') h.set(k, v);
              }
              return js.publish(row.subject, row.payload, {
                msgID: row.id,
                headers: h,
                timeout: publishTimeoutMs,
              });
            },
          );
          metrics.published.inc({ duplicate: String(ack.duplicate) });
          if (ack.duplicate)
            log.info(
              { eventId: row.id, seq: ack.seq },
              'outbox event was already in the stream (deduplicated)',
            );
          await options.afterPublish?.(row.id);
          done.push(row.id);
        } catch (err) {
          metrics.failures.inc();
          failure = new PublishFailure(row.id, err);
          // Stop at the first failure: publishing later rows first would break the order.
          break;
        }
      }
      if (done.length > 0) {
        await client.query(
          `UPDATE outbox_events SET published_at = now(), attempts = attempts + 1, last_error = NULL
            WHERE id = ANY($1::uuid[])`,
          [done],
        );
      }
      if (failure) {
        await client.query(
          'UPDATE outbox_events SET attempts = attempts + 1, last_error = $2 WHERE id = $1',
          [failure.eventId, errorMessage(failure.cause).slice(0, 1000)],
        );
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    return failure;
  }

  async function prune(): Promise<number> {
    let total = 0;
    // Small batches keep each delete short, so it never holds up the claiming transactions.
    for (;;) {
      const { rowCount } = await pool.query(
        `DELETE FROM outbox_events WHERE id IN (
           SELECT id FROM outbox_events
            WHERE producer = $1
              AND published_at IS NOT NULL AND published_at < now() - make_interval(secs => $2::float8 / 1000)
            LIMIT 1000)`,
        [producer, retentionMs],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < 1000) return total;
    }
  }

  // Growth logging: warn while the backlog is above the threshold and growing, say when it drains.
  let lastBacklogCheck = 0;
  let lastCount = 0;
  let warned = false;
  async function checkBacklog(): Promise<void> {
    lastBacklogCheck = Date.now();
    const b = await backlog();
    metrics.backlog.set(b.count);
    metrics.oldestAge.set(b.oldestAgeMs / 1000);
    if (b.count >= backlogWarnThreshold && b.count > lastCount) {
      warned = true;
      log.warn(
        { relay: name, backlog: b.count, oldestAgeMs: Math.round(b.oldestAgeMs) },
        'outbox backlog is growing',
      );
    } else if (warned && b.count === 0) {
      warned = false;
      log.info({ relay: name }, 'outbox backlog drained');
    }
    lastCount = b.count;
  }

  // LISTEN on a dedicated connection (a pooled one could be handed to a transaction). It is
  // re-established with backoff if Postgres drops it; a catch-up drain follows every reconnect.
  let listener: pg.Client | undefined;
  let listenerRetry: NodeJS.Timeout | undefined;
  let listenerFailures = 0;
  async function listen(): Promise<void> {
    const client = new pg.Client({ connectionString: options.databaseUrl });
    listener = client;
    const lost = (err?: Error) => {
      if (listener !== client) return;
      listener = undefined;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (stopped) return;
      log.warn(
        { relay: name, err: err ? errorMessage(err) : 'connection ended' },
        'outbox LISTEN connection lost, reconnecting',
      );
      scheduleListen();
    };
    client.on('notification', () => wake('notify'));
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      listenerFailures = 0;
      wake('notify');
    } catch (err) {
      lost(err instanceof Error ? err : new Error(String(err)));
    }
  }
  function scheduleListen(): void {
    if (stopped || listenerRetry) return;
    const delay = backoffDelay(++listenerFailures, backoffSchedule);
    listenerRetry = setTimeout(() => {
      listenerRetry = undefined;
      void listen();
    }, delay);
  }

  // A NATS reconnect ends a backoff early, so a recovered server gets the backlog at once.
  void (async () => {
    for await (const s of options.nc.status()) {
      if (s.type === 'reconnect') wake('nats');
    }
  })().catch(() => undefined);

  let lastPrune = 0;
  async function loop(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      wokenByNotify = false;
      wokenByNats = false;
      let published = 0;
      try {
        published = await drainOnce();
        failures = 0;
      } catch (err) {
        failures++;
        const delay = backoffDelay(failures, backoffSchedule);
        log.warn(
          { relay: name, err: errorMessage(err), retryInMs: delay, failures },
          'outbox relay cannot publish, backing off',
        );
        await checkBacklog().catch(() => undefined);
        // New rows must not cut the backoff short (NATS is still down); a NATS reconnect may.
        await wait(delay, false);
        continue;
      }
      try {
        const now = Date.now();
        if (now - lastBacklogCheck >= backlogCheckIntervalMs) await checkBacklog();
        if (now - lastPrune >= pruneIntervalMs) {
          lastPrune = now;
          const pruned = await prune();
          if (pruned > 0) log.info({ relay: name, pruned }, 'pruned published outbox events');
        }
      } catch (err) {
        log.warn({ relay: name, err: errorMessage(err) }, 'outbox housekeeping failed');
      }
      // A full batch means more is probably waiting: go again without sleeping.
      if (published === batchSize) continue;
      await wait(pollIntervalMs, true);
    }
  }

  await listen();
  const running = loop();
  log.info({ relay: name, producer, batchSize, pollIntervalMs }, 'outbox relay started');

  return {
    metrics,
    drainOnce,
    prune,
    backlog,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (listenerRetry) clearTimeout(listenerRetry);
      wake('stop');
      await running;
      const l = listener;
      listener = undefined;
      await l?.end().catch(() => undefined);
      await pool.end();
      log.info({ relay: name }, 'outbox relay stopped');
    },
  };
}
