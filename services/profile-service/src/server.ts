// Entry point of `pnpm start`: reads the environment, builds the app, listens, and closes
// gracefully on SIGTERM (readiness fails first, then in-flight work finishes).
import { runServer } from '@app/platform';
import { buildApp } from './app.js';
import { profileConfig } from './config.js';

const config = profileConfig(process.env);
await runServer({ build: () => buildApp(config), port: config.PORT, host: config.HOST });
