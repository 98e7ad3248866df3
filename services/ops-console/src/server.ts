// Entry point of `pnpm start`: config from env, then listen; SIGTERM fails readiness, finishes the
// requests in flight and closes the connections within the grace period.
import { runServer } from '@app/platform';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';

const config = loadConfig(process.env);
await runServer({
  build: () => buildApp(config),
  port: config.PORT,
  host: config.HOST,
  graceMs: config.OPS_GRACE_MS,
});
