// Process lifecycle of a service: build, listen, and on SIGTERM/SIGINT fail readiness first, keep
// serving for a drain delay (a balancer that learns of a replica only from its health checks needs
// a check or two to stop sending to it), then close (Fastify stops accepting, finishes in-flight
// requests, plugins drain and disconnect), all within a grace period after which the process exits
// anyway.
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';

export interface RunServerOptions {
  build: () => Promise<FastifyInstance>;
  port: number;
  host: string;
  /** How long shutdown may take before the process exits with code 1 (default 10 s). */
  graceMs?: number;
  /**
   * How long the service keeps serving after it has failed readiness, before it closes its
   * listener (SHUTDOWN_DRAIN_MS; default 0). Part of the grace period, so it must be shorter.
   * Kubernetes needs none (its preStop sleep happens before SIGTERM); a balancer with active
   * health checks (HAProxy) needs a few of its check intervals.
   */
  drainMs?: number;
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
  const graceMs = options.graceMs ?? 10_000;
  const drainMs = options.drainMs ?? 0;
  if (drainMs >= graceMs) {
    // Every shutdown would end past the grace period, with exit code 1: refuse to start.
    throw new Error(
      `the drain delay (${drainMs} ms) must be shorter than the grace (${graceMs} ms)`,
    );
  }
  const app = await options.build();
  const shutdown = async (reason: string) => {
    app.log.info({ reason }, 'shutdown: marking not ready');
    if (typeof app.markNotReady === 'function') app.markNotReady();
    if (drainMs > 0) {
      app.log.info({ drainMs }, 'shutdown: draining (still serving while balancers notice)');
      await new Promise((resolve) => setTimeout(resolve, drainMs));
    }
    app.log.info('shutdown: closing (in-flight requests finish, connections drain)');
    await app.close();
    await options
      .afterClose?.()
      .catch((err: unknown) => app.log.warn({ err }, 'shutdown: exporting the last spans failed'));
    app.log.info('shutdown: closed');
  };

  const grace = closeWithGrace(
    {
      delay: graceMs,
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
