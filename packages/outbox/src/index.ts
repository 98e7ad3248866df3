// Public surface of @app/outbox: write events inside a transaction (enqueue) and relay them to
// JetStream (startRelay). Used by signup-service (user.signed_up) and profile-service (user.profile_updated).
export * from './enqueue.js';
export * from './metrics.js';
export * from './relay.js';
