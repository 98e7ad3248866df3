// Entry point of `pnpm start` (and of the crash test's child process): config from env, then
// consume, listen; SIGTERM stops pulling, settles in-flight events and drains within the grace.
import { runServer } from '@app/platform';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';

const config = loadConfig(process.env);
await runServer({
  build: () => buildApp(config),
  port: config.PORT,
  host: config.HOST,
  graceMs: config.NOTIFY_GRACE_MS,
});
