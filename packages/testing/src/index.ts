// Public surface of @app/testing: the harness every test uses to reach real Postgres, Redis, NATS
// and SMTP, isolated per test file, plus private brokers and a proxy for failure tests.
export * from './services.js';
export * from './isolation.js';
export * from './servers.js';
export * from './smtp.js';
export * from './service-app.js';
