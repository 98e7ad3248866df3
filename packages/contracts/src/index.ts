// Public surface of @app/contracts: event and HTTP schemas, and the JetStream topology as data.
import './formats.js';

export * from './events.js';
export * from './http.js';
export * from './text.js';
export * from './topology.js';
