// The service's public surface, the same names as every other service: the app factory, its
// dependencies hook and its config.
export { buildApp, SERVICE_NAME, type Deps } from './app.js';
export { loadConfig, ConfigSchema, type Config } from './config.js';
