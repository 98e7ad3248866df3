// `pnpm start` entry of signup-service: read the environment, build the app, listen, and close
// gracefully on SIGTERM/SIGINT (platform's runServer).
import { runServer } from '@app/platform';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';

const config = loadConfig(process.env);
await runServer({ build: () => buildApp(config), port: config.PORT, host: config.HOST });
