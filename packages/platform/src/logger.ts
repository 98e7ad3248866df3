// Logging conventions every service shares: pino JSON lines tagged with the service name, ISO
// timestamps, secrets redacted wherever they tend to end up (bodies, headers, nested objects), and
// request ids that follow a request across services through the `x-request-id` header.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { LoggerOptions } from 'pino';

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

const SECRET_KEYS: ReadonlySet<string> = new Set(REDACTED_FIELDS);
/** How deep in a logged object a secret is still found (the logged object itself is depth 0). */
const REDACT_DEPTH = 6;

/** A copy of a plain object, an array or an Error (its prototype and every own property kept). */
function shallowCopy(value: object): Record<string, unknown> {
  if (Array.isArray(value)) return value.slice() as unknown as Record<string, unknown>;
  if (value instanceof Error) {
    return Object.defineProperties(
      Object.create(Object.getPrototypeOf(value) as object) as object,
      Object.getOwnPropertyDescriptors(value),
    ) as Record<string, unknown>;
  }
  return { ...(value as Record<string, unknown>) };
}

/**
 * `value` with every property named in REDACTED_FIELDS replaced by the censor, at any depth up to
 * REDACT_DEPTH, through plain objects (null-prototype ones too, as node's header objects are),
 * arrays and errors' own properties. It copies only the objects on the way to a secret and returns
 * `value` itself when there is none, so a line without secrets costs a walk of its keys; it never
 * changes the caller's objects. Instances of other classes (a request, a socket, a Date, a Buffer)
 * are left to their serializers: walking them is what made pino's wildcard paths cost a fifth of a
 * cached read's CPU (README, Performance), and what they serialize to holds no secret.
 */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (typeof value !== 'object' || value === null || depth > REDACT_DEPTH) return value;
  if (!Array.isArray(value) && !(value instanceof Error)) {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
  }
  let copy: Record<string, unknown> | undefined;
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    const v = source[key];
    const redacted = SECRET_KEYS.has(key) ? REDACTION_CENSOR : redactSecrets(v, depth + 1);
    if (redacted !== v) {
      copy ??= shallowCopy(source);
      copy[key] = redacted;
    }
  }
  return (copy ?? value) as T;
}

let lastMs = Number.NaN;
let lastTime = '';
/**
 * pino's `isoTime`, formatted once per millisecond: a busy service logs many lines within one, and
 * `toISOString` was a tenth of what a request line cost.
 */
export function isoTimeCached(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** What the `req` serializer reads: a Fastify request, or node's IncomingMessage. */
export interface LoggedRequest {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}

/** A request's fields in a log line. */
export interface RequestFields {
  method: string | undefined;
  url: string | undefined;
  remoteAddress: string | undefined;
}

/**
 * A request in a log line (every request's, at info): what an operator filters on, and the
 * client's address as the app sees it (`request.ip` follows TRUST_PROXY). Fastify's default also
 * has the Host header and the client's port, a third of the line for nothing. The `req` serializer,
 * and the access line's fields (app.ts, access-line.ts).
 */
export function requestFields(req: LoggedRequest): RequestFields {
  return { method: req.method, url: req.url, remoteAddress: req.ip ?? req.socket?.remoteAddress };
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
    timestamp: isoTimeCached,
    serializers: {
      req: requestFields,
    },
    formatters: {
      // Level names, not numbers: what people grep for and what log pipelines map directly.
      level: (label) => ({ level: label }),
      // Every logged object, before the serializers run.
      log: (object) => redactSecrets(object),
    },
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
