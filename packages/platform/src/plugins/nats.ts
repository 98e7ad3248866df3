// The NATS connection as `app.nats`: the core connection, a JetStream client and manager. It
// reconnects forever once connected, logs every disconnect/reconnect, and drains on close so that
// in-flight publishes and acks are flushed. With `required: false` the service starts while NATS is
// down (the outbox keeps events until it returns); `nc`/`js`/`jsm` then throw until it connects.
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { withTimeout } from '../util.js';

export interface NatsPluginOptions {
  servers: string | string[];
  /** The connection name, shown by `nats server report connections`. */
  name: string;
  /** Fail start-up when NATS is unreachable (default true). */
  required?: boolean;
  connectTimeoutMs?: number;
  /** How long close() waits for drain before it forces the connection shut. */
  drainTimeoutMs?: number;
}

export class NatsUnavailableError extends Error {
  readonly code = 'NATS_UNAVAILABLE';
  constructor() {
    super('NATS is not connected yet');
    this.name = 'NatsUnavailableError';
  }
}

export interface NatsHandle {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** True while a connection is up. */
  readonly connected: boolean;
  /** Resolves once the first connection is made (at once when `required`). */
  whenConnected(): Promise<void>;
  /** A server round trip; rejects when disconnected. */
  ping(timeoutMs?: number): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    nats: NatsHandle;
  }
}

interface Connected {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export const natsPlugin = fp<NatsPluginOptions>(
  async (app: FastifyInstance, options) => {
    const required = options.required ?? true;
    const servers = Array.isArray(options.servers) ? options.servers : [options.servers];
    const log = app.log.child({ plugin: 'nats' });
    let closing = false;
    let state: Connected | undefined;
    let up = false;

    const open = async (): Promise<Connected> => {
      const nc = await connect({
        servers,
        name: options.name,
        timeout: options.connectTimeoutMs ?? 2000,
        maxReconnectAttempts: -1,
        waitOnFirstConnect: !required,
        // Called before every dial: throwing stops a background first-connect loop at close.
        reconnectToServer: () => {
          if (closing) throw new Error('closing');
          return null;
        },
      });
      up = true;
      log.info({ server: nc.getServer(), version: nc.info?.version }, 'nats connected');
      void (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'disconnect') {
            up = false;
            log.warn({ server: s.server }, 'nats disconnected');
          } else if (s.type === 'reconnect') {
            up = true;
            log.info({ server: s.server }, 'nats reconnected');
          } else if (s.type === 'error') {
            log.warn({ err: s.error }, 'nats error');
          } else if (s.type === 'ldm') {
            log.warn({ server: s.server }, 'nats server entering lame duck mode');
          }
        }
      })();
      void nc.closed().then((err) => {
        up = false;
        if (err) log.error({ err }, 'nats connection closed with an error');
      });
      try {
        const jsm = await jetstreamManager(nc);
        return { nc, js: jetstream(nc), jsm };
      } catch (err) {
        await nc.close();
        throw err;
      }
    };

    // Not required: keep trying until connected or closing. A first connection can succeed and
    // JetStream still fail to answer (the server stopping at that moment); that must not leave the
    // service without NATS for the rest of its life.
    const openUntilConnected = async (): Promise<Connected> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await open();
        } catch (err) {
          if (closing) throw err;
          const delayMs = Math.min(5000, 250 * 2 ** Math.min(attempt, 5));
          log.warn(
            { err, attempt: attempt + 1, retryInMs: delayMs },
            'nats not usable yet; retrying',
          );
          await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
          if (closing) throw new Error('closing');
        }
      }
    };

    let firstConnect: Promise<void>;
    if (required) {
      try {
        state = await open();
      } catch (err) {
        throw new Error(`NATS at ${servers.join(',')} is unreachable: ${(err as Error).message}`, {
          cause: err,
        });
      }
      firstConnect = Promise.resolve();
    } else {
      firstConnect = openUntilConnected().then(
        (s) => {
          if (closing) return void s.nc.close();
          state = s;
        },
        (err: unknown) => {
          if (!closing) log.error({ err }, 'nats gave up connecting');
        },
      );
    }

    const get = (): Connected => {
      if (!state) throw new NatsUnavailableError();
      return state;
    };
    const handle: NatsHandle = {
      get nc() {
        return get().nc;
      },
      get js() {
        return get().js;
      },
      get jsm() {
        return get().jsm;
      },
      get connected() {
        return state !== undefined && up && !state.nc.isClosed();
      },
      whenConnected: () => firstConnect,
      async ping(timeoutMs = 1000) {
        const { nc } = get();
        if (!up) throw new NatsUnavailableError();
        await withTimeout(nc.flush(), timeoutMs, 'nats ping');
      },
    };
    app.decorate('nats', handle);

    app.addHook('onClose', async () => {
      closing = true;
      const nc = state?.nc;
      if (!nc || nc.isClosed()) return;
      try {
        await withTimeout(nc.drain(), options.drainTimeoutMs ?? 5000, 'nats drain');
        log.info('nats drained');
      } catch (err) {
        log.warn({ err }, 'nats drain failed; closing');
        await nc.close();
      }
    });
  },
  { name: 'nats', fastify: '5.x' },
);
