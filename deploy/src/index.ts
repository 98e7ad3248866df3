// Public surface of @app/deploy: the readers and checks that the deploy tests use to hold the
// Dockerfile, docker-compose.yml and Kubernetes manifests to the services' real configuration.
export * from './commands.js';
export * from './compose.js';
export * from './dockerfile.js';
export * from './env-schema.js';
export * from './gateway.js';
export * from './kubernetes.js';
export * from './observability.js';
export * from './dashboards.js';
export * from './paths.js';
export * from './ports.js';
