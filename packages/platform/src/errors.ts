// RFC 9457 problem+json for every HTTP error a service answers: one shape, a stable `code`, and
// nothing internal in a 5xx body (the error goes to the log instead, under the request's id).
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { PROBLEM_CONTENT_TYPE, SAFE_TEXT_GUARD, type Problem } from '@app/contracts';
import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchemaValidationError,
} from 'fastify';
import {
  isDependencyUnavailable,
  isForeignKeyViolation,
  isRecordNotFound,
  isTransactionConflict,
  isUniqueViolation,
  isUnstorableText,
} from './dependency-errors.js';
import { DEFAULT_LINGER, lingerIfBodyUnread, type LingerLimits } from './linger.js';
import { SECURITY_HEADERS, setStandardHeaders } from './security-headers.js';

/** Seconds a client is told to wait (`Retry-After`) when a dependency is unavailable. */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 2;
/** Seconds a client is told to wait after its transaction lost a write conflict. */
export const CONFLICT_RETRY_AFTER_SECONDS = 1;

/**
 * What a route answers instead of the default for a database error its handler let through, set in
 * the route's `config`: `config: { databaseErrors: { uniqueViolation: () => errors.emailTaken() } }`.
 */
export interface DatabaseErrorAnswers {
  /** Default: 409 ALREADY_EXISTS. */
  uniqueViolation?: () => HttpProblem;
  /** Default: 409 REFERENCE_CONFLICT. */
  foreignKeyViolation?: () => HttpProblem;
  /** Prisma's P2025. Default: 404 NOT_FOUND. */
  notFound?: () => HttpProblem;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    databaseErrors?: DatabaseErrorAnswers;
  }
}

/** An error a handler throws to answer with a given problem, 5xx included. */
export class HttpProblem extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** Extra members of the problem body (e.g. `retryAfterSeconds`). */
  readonly extensions: Record<string, unknown> | undefined;

  constructor(
    statusCode: number,
    code: string,
    title: string,
    detail?: string,
    extensions?: Record<string, unknown>,
  ) {
    super(detail ?? title);
    this.name = 'HttpProblem';
    this.statusCode = statusCode;
    this.code = code;
    this.title = title;
    this.detail = detail;
    this.extensions = extensions;
  }
}

/** Makes an error to throw from a handler: `throw httpError(404, 'PROFILE_NOT_FOUND', 'Profile not found')`. */
export function httpError(
  status: number,
  code: string,
  title: string,
  detail?: string,
  extensions?: Record<string, unknown>,
): HttpProblem {
  if (!Number.isInteger(status) || status < 400 || status > 599) {
    throw new RangeError(`httpError status must be an integer 400..599, got ${status}`);
  }
  return new HttpProblem(status, code, title, detail, extensions);
}

/** `VALIDATION_FAILED` -> `validation-failed`, the last segment of the problem `type` URI. */
function slug(code: string): string {
  return code.toLowerCase().replace(/_/g, '-');
}

export function problemType(service: string, code: string): string {
  return `https://errors.${service}.example/${slug(code)}`;
}

/** Fastify's own 4xx codes mapped to the stable codes our API documents. */
const FASTIFY_CODES: Record<string, { code: string; title: string; detail?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'INVALID_JSON', title: 'The body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: 'INVALID_JSON',
    title: 'The body is empty but the content type is application/json',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    title: 'Unsupported media type',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', title: 'The body is too large' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'INVALID_CONTENT_LENGTH',
    title: 'Content-Length does not match the body',
  },
  FST_ERR_BAD_URL: {
    code: 'BAD_URL',
    title: 'The URL is not valid',
    detail: 'The path has a malformed percent-encoding',
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    code: 'URI_TOO_LONG',
    title: 'A path parameter is too long',
    detail: 'A path parameter exceeds the longest value any route accepts',
  },
};

/** SafeString's pattern failed: say what it refuses instead of showing the regex. */
function safeTextMessage(v: FastifySchemaValidationError): string | undefined {
  const pattern = (v.params as Record<string, unknown> | undefined)?.pattern;
  if (v.keyword !== 'pattern' || typeof pattern !== 'string') return undefined;
  if (!pattern.startsWith(SAFE_TEXT_GUARD)) return undefined;
  const own = pattern.slice(SAFE_TEXT_GUARD.length);
  const rule = 'must not contain NUL characters or unpaired UTF-16 surrogates';
  // The field's own pattern sits in a lookahead after the guard: `(?=[\s\S]*?(?:P))`.
  const inner = /^\(\?=\[\\s\\S\]\*\?\(\?:([\s\S]*)\)\)$/.exec(own)?.[1];
  return inner === undefined ? rule : `${rule}, and must match pattern "${inner}"`;
}

export function validationErrors(
  context: string | undefined,
  validation: FastifySchemaValidationError[],
): Array<{ path: string; message: string }> {
  return validation.map((v) => {
    const params = v.params as Record<string, unknown> | undefined;
    // ajv reports a missing or extra property on the parent object; name the property itself.
    const child =
      typeof params?.missingProperty === 'string'
        ? params.missingProperty
        : typeof params?.additionalProperty === 'string'
          ? params.additionalProperty
          : undefined;
    const segments = v.instancePath
      .split('/')
      .filter((s) => s !== '')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (child !== undefined) segments.push(child);
    const path = [context ?? 'body', ...segments].join('.');
    return { path, message: safeTextMessage(v) ?? v.message ?? 'is invalid' };
  });
}

export function sendProblem(
  reply: FastifyReply,
  problem: Problem & Record<string, unknown>,
): FastifyReply {
  return reply
    .code(problem.status)
    .type(PROBLEM_CONTENT_TYPE)
    .serializer((payload: unknown) => JSON.stringify(payload))
    .send(problem);
}

/** Builds the problem for any error; logs the ones that are our fault. */
export function toProblem(
  service: string,
  error: FastifyError | HttpProblem | Error,
  request: FastifyRequest,
): Problem & Record<string, unknown> {
  const base = { instance: request.url, requestId: request.id };
  const chosen = routeAnswer(error, request);
  if (chosen) error = chosen;
  const fe = error as FastifyError;

  if (fe.validation) {
    const errors = validationErrors(fe.validationContext, fe.validation);
    return {
      type: problemType(service, 'VALIDATION_FAILED'),
      title: 'The request is invalid',
      status: 400,
      code: 'VALIDATION_FAILED',
      detail: errors.map((e) => `${e.path}: ${e.message}`).join('; '),
      errors,
      ...base,
    };
  }

  if (error instanceof HttpProblem) {
    return {
      ...error.extensions,
      type: problemType(service, error.code),
      title: error.title,
      status: error.statusCode,
      code: error.code,
      ...(error.detail === undefined ? {} : { detail: error.detail }),
      ...base,
    };
  }

  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    const code = mapped?.code ?? (fe.code || 'BAD_REQUEST');
    return {
      type: problemType(service, code),
      title: mapped?.title ?? STATUS_CODES[status] ?? 'Bad request',
      status,
      code,
      detail: mapped?.detail ?? fe.message,
      ...base,
    };
  }

  const failure = KNOWN_FAILURES.find(([matches]) => matches(error))?.[1];
  if (failure) return { ...failure, type: problemType(service, failure.code), ...base };

  return {
    type: problemType(service, 'INTERNAL'),
    title: 'Internal server error',
    status: 500,
    code: 'INTERNAL',
    detail: 'Something went wrong on our side. Quote the requestId if you report it.',
    ...base,
  };
}

/** The route's own answer (its `config.databaseErrors`) to a database error, if it chose one. */
function routeAnswer(error: unknown, request: FastifyRequest): HttpProblem | undefined {
  if (error instanceof HttpProblem) return undefined;
  const answers = (request.routeOptions?.config as { databaseErrors?: DatabaseErrorAnswers })
    ?.databaseErrors;
  if (!answers) return undefined;
  if (answers.uniqueViolation && isUniqueViolation(error)) return answers.uniqueViolation();
  if (answers.foreignKeyViolation && isForeignKeyViolation(error)) {
    return answers.foreignKeyViolation();
  }
  if (answers.notFound && isRecordNotFound(error)) return answers.notFound();
  return undefined;
}

type KnownProblem = Omit<Problem, 'type'> & { code: string; retryAfterSeconds?: number };

const known = (status: number, code: string, title: string, detail: string) => ({
  status,
  code,
  title,
  detail,
});

/**
 * The answer to each failure that is not a bug of ours: the client's doing, or a dependency worth
 * retrying later (with Retry-After). The first match wins.
 */
const KNOWN_FAILURES: ReadonlyArray<[(error: unknown) => boolean, KnownProblem]> = [
  [
    isUniqueViolation,
    known(
      409,
      'ALREADY_EXISTS',
      'The resource already exists',
      'Another resource already has a value this request must not repeat',
    ),
  ],
  [
    isForeignKeyViolation,
    known(
      409,
      'REFERENCE_CONFLICT',
      'The request conflicts with related data',
      'The request refers to a resource that does not exist, or one still in use',
    ),
  ],
  [
    isRecordNotFound,
    known(404, 'NOT_FOUND', 'Not found', 'The resource this request needs does not exist'),
  ],
  [
    isTransactionConflict,
    {
      ...known(
        503,
        'TRANSACTION_CONFLICT',
        'The request collided with a concurrent change',
        `Another request changed the same data at the same time. Retry in ${CONFLICT_RETRY_AFTER_SECONDS} s.`,
      ),
      retryAfterSeconds: CONFLICT_RETRY_AFTER_SECONDS,
    },
  ],
  [
    isDependencyUnavailable,
    {
      ...known(
        503,
        'DEPENDENCY_UNAVAILABLE',
        'A service this request needs is unavailable',
        `A dependency of this service cannot be reached right now. Retry in ${DEPENDENCY_RETRY_AFTER_SECONDS} s.`,
      ),
      retryAfterSeconds: DEPENDENCY_RETRY_AFTER_SECONDS,
    },
  ],
  // A backstop: request schemas refuse such text (SafeString) before it gets this far.
  [
    isUnstorableText,
    known(
      400,
      'UNSUPPORTED_TEXT',
      'The request contains text that cannot be stored',
      'Strings must not contain NUL characters or unpaired UTF-16 surrogates',
    ),
  ],
];

/** Logs an error at the level it deserves and answers it as a problem (with Retry-After if any). */
function replyWithProblem(
  service: string,
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
  linger: LingerLimits = DEFAULT_LINGER,
): FastifyReply {
  const problem = toProblem(service, error, request);
  if (problem.code === 'DEPENDENCY_UNAVAILABLE' || problem.code === 'TRANSACTION_CONFLICT') {
    // Expected while a dependency is down, and loud enough at warn: not a bug to page about.
    request.log.warn({ err: error, code: problem.code }, 'dependency unavailable');
  } else if (problem.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.info({ code: problem.code, status: problem.status }, 'request rejected');
  }
  lingerIfBodyUnread((error as FastifyError).code, request, reply, linger);
  const retryAfter = problem.retryAfterSeconds;
  if (typeof retryAfter === 'number' && !reply.hasHeader('retry-after')) {
    void reply.header('retry-after', String(retryAfter));
  }
  return sendProblem(reply, problem);
}

/**
 * Fastify's `frameworkErrors`: a malformed percent-encoding or an over-long path parameter is
 * refused by the router before any hook runs, so this answer adds the headers hooks would have.
 */
export function frameworkErrorHandler(service: string) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    setStandardHeaders(request, reply);
    void replyWithProblem(service, error, request, reply);
  };
}

/** What node's HTTP parser refused, as the status and stable code the client gets. */
function clientErrorStatus(code: string | undefined): { status: number; code: string } {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, code: 'HEADERS_TOO_LARGE' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, code: 'REQUEST_TIMEOUT' };
  return { status: 400, code: 'BAD_REQUEST' };
}

/**
 * Fastify's `clientErrorHandler`: node's parser rejects a request (headers over 16 KiB, a broken
 * request line) before Fastify sees it. Answers problem+json with the security headers, then
 * closes the connection, since the rest of what the client sends cannot be parsed.
 */
export function clientErrorHandler(service: string, log?: () => FastifyBaseLogger) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    // Nobody is left to answer, or the client went away first.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const { status, code } = clientErrorStatus(error.code);
    const title = STATUS_CODES[status] ?? 'Bad Request';
    // Only the parser's code: the raw packet would put the client's headers (tokens) in the log.
    log?.().debug({ code: error.code, status }, 'client error');
    const body = JSON.stringify({
      type: problemType(service, code),
      title,
      status,
      code,
      detail:
        status === 431
          ? 'The request headers exceed the limit of 16 KiB'
          : 'The request could not be parsed as HTTP',
    });
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const headers = {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
      ...SECURITY_HEADERS,
    };
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}`)
      .join('\r\n');
    socket.end(`HTTP/1.1 ${status} ${title}\r\n${head}\r\n\r\n${body}`, () => socket.destroy());
  };
}

/** Installs the error and not-found handlers that answer every failure with problem+json. */
export function installProblemHandlers(
  app: FastifyInstance,
  service: string,
  linger: LingerLimits = DEFAULT_LINGER,
): void {
  app.setErrorHandler((error: FastifyError, request, reply) =>
    replyWithProblem(service, error, request, reply, linger),
  );

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      type: problemType(service, 'NOT_FOUND'),
      title: 'Not found',
      status: 404,
      code: 'NOT_FOUND',
      detail: `No route for ${request.method} ${request.url.split('?')[0] ?? ''}`,
      instance: request.url,
      requestId: request.id,
    }),
  );
}
