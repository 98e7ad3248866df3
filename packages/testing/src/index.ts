// Public surface of @app/testing: the harness every test uses to reach real Postgres, Redis, NATS
// and SMTP, isolated per test file, plus private brokers and a proxy for failure tests; and the
// OpenAPI contract every service test's responses are checked against, merged for the gateway;
// and waiting on an outcome (waitUntil) rather than on time.
export * from './services.js';
export * from './isolation.js';
export * from './servers.js';
export * from './redis-cluster.js';
export * from './smtp.js';
export * from './service-app.js';
export * from './wait.js';
export * from './contract.js';
export * from './openapi.js';
export * from './otlp.js';
export * from './nats-cluster.js';
export * from './haproxy.js';
