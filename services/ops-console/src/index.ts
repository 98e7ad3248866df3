// Public surface of ops-console: the skeleton every service exports (app factory, its name and
// test hooks, config), so tests and scripts reach it the same way everywhere.
export { buildApp, SERVICE_NAME, type Deps } from './app.js';
export { loadConfig, ConfigSchema, type Config } from './config.js';
