// Entry point of `pnpm start`: reads the environment, builds the app, listens, and closes
// gracefully on SIGTERM (readiness fails first, then in-flight work finishes).
import { runServer } from '@app/platform';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';

const config = loadConfig(process.env);
await runServer({ build: () => buildApp(config), port: config.PORT, host: config.HOST });
