// RFC 9457 problem+json for every HTTP error a service answers: one shape, a stable `code`, and
// nothing internal in a 5xx body (the error goes to the log instead, under the request's id).
import { STATUS_CODES } from 'node:http';
import { PROBLEM_CONTENT_TYPE, type Problem } from '@app/contracts';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchemaValidationError,
} from 'fastify';

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
const FASTIFY_CODES: Record<string, { code: string; title: string }> = {
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
};

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
    return { path, message: v.message ?? 'is invalid' };
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
      detail: fe.message,
      ...base,
    };
  }

  return {
    type: problemType(service, 'INTERNAL'),
    title: 'Internal server error',
    status: 500,
    code: 'INTERNAL',
    detail: 'Something went wrong on our side. Quote the requestId if you report it.',
    ...base,
  };
}

/** Installs the error and not-found handlers that answer every failure with problem+json. */
export function installProblemHandlers(app: FastifyInstance, service: string): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toProblem(service, error, request);
    if (problem.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ code: problem.code, status: problem.status }, 'request rejected');
    }
    return sendProblem(reply, problem);
  });

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
