// What other workspace packages may use: the app factory and its config, so that a benchmark or a
// system test can run this very service in its own process.
export { buildApp, SERVICE_NAME, type Deps } from './app.js';
export { loadConfig, ConfigSchema, type Config } from './config.js';
