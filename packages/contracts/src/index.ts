// Public surface of @app/contracts: event and HTTP schemas, the JetStream topology as data, and the
// few cross-cutting helpers every layer shares (the Logger type, URL redaction, traceparent checks,
// the dead-letter headers and NATS subject matching).
import './formats.js';

export * from './deadletter.js';
export * from './events.js';
export * from './http.js';
export * from './logger.js';
export * from './redact.js';
export * from './text.js';
export * from './topology.js';
export * from './trace.js';
