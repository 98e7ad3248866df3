// `pnpm start` entry of signup-service: read the environment, build the app, listen, and close
// gracefully on SIGTERM/SIGINT (platform's runServer).
// Tracing starts first, when configured: pg and ioredis must be loaded after its hook (telemetry.ts).
import { startTelemetry } from '@app/platform/telemetry';

const telemetry = await startTelemetry('signup-service');
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
