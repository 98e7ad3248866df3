// The one logger type of the codebase: what a library needs from a logger to report what it does.
// pino's Logger and Fastify's FastifyBaseLogger both satisfy it, so any package can log through the
// service's logger without depending on pino or Fastify.

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A Logger that drops everything (a library's default when the caller gives none). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
