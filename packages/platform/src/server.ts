// Process lifecycle of a service: build, listen, and on SIGTERM/SIGINT fail readiness first, then
// close (Fastify stops accepting, finishes in-flight requests, plugins drain and disconnect),
// within a grace period after which the process exits anyway.
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';

export interface RunServerOptions {
  build: () => Promise<FastifyInstance>;
  port: number;
  host: string;
  /** How long shutdown may take before the process exits with code 1 (default 10 s). */
  graceMs?: number;
  /** Runs once the app has closed (the spans still buffered are exported). */
  afterClose?: () => Promise<void>;
}

export interface RunningServer {
  app: FastifyInstance;
  /** The listening address, e.g. `http://127.0.0.1:3001`. */
  address: string;
  /** Runs the same shutdown as SIGTERM (useful for tests and embedding). */
  close(): Promise<void>;
}

export async function runServer(options: RunServerOptions): Promise<RunningServer> {
  const app = await options.build();
  const shutdown = async (reason: string) => {
    app.log.info({ reason }, 'shutdown: marking not ready');
    if (typeof app.markNotReady === 'function') app.markNotReady();
    app.log.info('shutdown: closing (in-flight requests finish, connections drain)');
    await app.close();
    await options
      .afterClose?.()
      .catch((err: unknown) => app.log.warn({ err }, 'shutdown: exporting the last spans failed'));
    app.log.info('shutdown: closed');
  };

  const grace = closeWithGrace(
    {
      delay: options.graceMs ?? 10_000,
      logger: { error: (msg: unknown) => app.log.error(msg) },
      onTimeout: (delay) => app.log.error({ delay }, 'shutdown: grace period exceeded, exiting'),
    },
    async ({ signal, err }) => {
      if (err) app.log.error({ err }, 'shutdown: fatal error');
      await shutdown(signal ?? (err ? 'error' : 'manual'));
    },
  );
  app.addHook('onClose', async () => grace.uninstall());

  try {
    app.log.info('startup: waiting for plugins');
    await app.ready();
    const address = await app.listen({ port: options.port, host: options.host });
    app.log.info({ address }, 'startup: listening');
    return { app, address, close: () => shutdown('manual') };
  } catch (err) {
    app.log.error({ err }, 'startup: failed');
    grace.uninstall();
    await app.close().catch(() => undefined);
    throw err;
  }
}
