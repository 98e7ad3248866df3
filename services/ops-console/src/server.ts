// Entry point of `pnpm start`: config from env, then listen; SIGTERM fails readiness, finishes the
// requests in flight and closes the connections within the grace period.
// Tracing starts first, when configured: pg and ioredis must be loaded after its hook (telemetry.ts).
import { startTelemetry } from '@app/platform/telemetry';

const telemetry = await startTelemetry('ops-console');
const { runServer } = await import('@app/platform');
const { buildApp } = await import('./app.js');
const { loadConfig } = await import('./config.js');

const config = loadConfig(process.env);
await runServer({
  build: () => buildApp(config),
  port: config.PORT,
  host: config.HOST,
  drainMs: config.SHUTDOWN_DRAIN_MS,
  graceMs: config.OPS_GRACE_MS,
  afterClose: telemetry.shutdown,
});
