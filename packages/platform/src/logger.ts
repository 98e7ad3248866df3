// Logging conventions every service shares: pino JSON lines tagged with the service name, ISO
// timestamps, secrets redacted wherever they tend to end up (bodies, headers, nested objects), and
// request ids that follow a request across services through the `x-request-id` header.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { stdTimeFunctions, type LoggerOptions } from 'pino';

/** Field names whose values are never logged. An idempotency key is not one: it is not secret. */
export const REDACTED_FIELDS = [
  'password',
  'passwordHash',
  'newPassword',
  'currentPassword',
  'token',
  'accessToken',
  'refreshToken',
  'authorization',
  'cookie',
  'set-cookie',
  'x-admin-token',
  'smtpPassword',
  'privateKey',
] as const;

export const REDACTION_CENSOR = '[REDACTED]';

function key(field: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(field) ? `.${field}` : `["${field}"]`;
}

/** The pino redact paths: each field at the top level and up to three levels deep. */
export function redactPaths(fields: readonly string[] = REDACTED_FIELDS): string[] {
  const prefixes = ['', '*', '*.*', '*.*.*'];
  const paths: string[] = [];
  for (const field of fields) {
    for (const prefix of prefixes) {
      const k = key(field);
      paths.push(prefix === '' ? (k.startsWith('.') ? k.slice(1) : k) : `${prefix}${k}`);
    }
  }
  return paths;
}

export interface LoggerOptionsInput {
  level?: string;
  /** The service name, logged as `service` on every line. */
  name: string;
}

/** pino options (also accepted by Fastify's `logger`) for one service. */
export function loggerOptions({ level = 'info', name }: LoggerOptionsInput): LoggerOptions {
  return {
    level,
    base: { service: name },
    timestamp: stdTimeFunctions.isoTime,
    // Level names, not numbers: what people grep for and what log pipelines map directly.
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: redactPaths(), censor: REDACTION_CENSOR },
  };
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fastify's `genReqId`: honours an incoming `x-request-id` when it looks like an id (so a request
 * keeps one id across services) and otherwise makes a random UUID. Anything else is replaced, since
 * a client-controlled string ends up in every log line and response of the request.
 */
export function genReqId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  if (typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming)) return incoming;
  return randomUUID();
}
