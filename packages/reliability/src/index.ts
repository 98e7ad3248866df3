// Public surface of @app/reliability: the system harness, the load generator, the fault scenarios,
// the fuzzers and security checks, and the report, all sized by an explicit parameter.
export * from './system.js';
export * from './http.js';
export * from './load.js';
export * from './ledger.js';
export * from './scenarios.js';
export * from './fuzz.js';
export * from './security.js';
export * from './messages.js';
export * from './report.js';
export * from './replicas.js';
