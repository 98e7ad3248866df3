// Public surface of @app/platform: what every service builds on (config, logging, the base app,
// one plugin per external dependency, process lifecycle, JetStream provisioning, and the shared
// mechanisms: the retry schedule, the micro-batcher and the JetStream consumer loop).
export * from './config.js';
export * from './logger.js';
export * from './errors.js';
export * from './dependency-errors.js';
export * from './linger.js';
export * from './security-headers.js';
export * from './app.js';
export * from './health.js';
export * from './jwt-key.js';
export * from './metrics.js';
export * from './server.js';
export * from './provision.js';
export * from './backoff.js';
export * from './batcher.js';
export * from './consumer.js';
export * from './consumer-metrics.js';
export * from './spans.js';
export { tracingEnabled, tracingConfigured } from './telemetry.js';
export * from './redis-topology.js';
export * from './plugins/redis.js';
export * from './plugins/nats.js';
export * from './plugins/prisma.js';
export * from './plugins/rate-limiter.js';
export * from './log-destination.js';
export * from './pg-client.js';
