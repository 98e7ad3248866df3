// What other workspace packages may use: the app factory and its config, so that a benchmark can
// run this very service (same plugins, same connections, same process) with a route of its own.
export { buildApp, SERVICE_NAME, type ProfileDeps } from './app.js';
export { profileConfig, type ProfileConfig } from './config.js';
