// Public surface of @app/outbox: write events inside a transaction (enqueue), relay each producer's
// events to JetStream (startRelay), and run the relay inside a service (outboxRelayPlugin). Used by
// signup-service (user.signed_up) and profile-service (user.profile_updated).
export * from './enqueue.js';
export * from './metrics.js';
export * from './plugin.js';
export * from './relay.js';
