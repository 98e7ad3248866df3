// Entry point of `pnpm start`: reads the environment, builds the app, listens, and closes
// gracefully on SIGTERM (readiness fails first, then in-flight work finishes).
// Tracing starts first, when configured: pg and ioredis must be loaded after its hook (telemetry.ts).
import { startTelemetry } from '@app/platform/telemetry';

const telemetry = await startTelemetry('profile-service');
const { runServer } = await import('@app/platform');
const { buildApp } = await import('./app.js');
const { loadConfig } = await import('./config.js');

const config = loadConfig(process.env);
await runServer({
  build: () => buildApp(config),
  port: config.PORT,
  host: config.HOST,
  drainMs: config.SHUTDOWN_DRAIN_MS,
  afterClose: telemetry.shutdown,
});
