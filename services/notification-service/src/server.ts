// Entry point of `pnpm start` (and of the crash test's child process): config from env, then
// consume, listen; SIGTERM stops pulling, settles in-flight events and drains within the grace.
// Tracing starts first, when configured: pg and ioredis must be loaded after its hook (telemetry.ts).
import { startTelemetry } from '@app/platform/telemetry';

const telemetry = await startTelemetry('notification-service');
const { runServer } = await import('@app/platform');
const { buildApp } = await import('./app.js');
const { loadConfig } = await import('./config.js');

const config = loadConfig(process.env);
await runServer({
  build: () => buildApp(config),
  port: config.PORT,
  host: config.HOST,
  drainMs: config.SHUTDOWN_DRAIN_MS,
  graceMs: config.NOTIFY_GRACE_MS,
  afterClose: telemetry.shutdown,
});
