// HTTP types every service shares: the RFC 9457 problem+json body that every error answers with,
// and the pieces a route's `schema.response` is written with, so that every service documents its
// answers the same way in its OpenAPI document: a problem response lists the stable `code`s it
// can carry (an enum, checked by the tests' contract validation), a response names the headers it
// always sends, and every operation carries one of the tags below.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const Problem = Type.Object(
  {
    type: Type.String({ description: 'A URI naming the kind of problem' }),
    title: Type.String(),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    code: Type.String({ description: 'A stable, machine-readable error code' }),
    errors: Type.Optional(
      Type.Array(Type.Object({ path: Type.String(), message: Type.String() }), {
        description: 'Every validation failure, for 400s',
      }),
    ),
    requestId: Type.Optional(Type.String()),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
);
export type Problem = Static<typeof Problem>;

/**
 * The tags of the OpenAPI documents, each with its description: every operation has one of them
 * (the platform's document builder refuses any other, so that each tag is described once).
 */
export const API_TAGS = {
  accounts: 'Sign-up and log-in: accounts and their access tokens (signup-service)',
  profiles: "Public profiles and their owner's updates (profile-service)",
  'dead-letters':
    'Operators: the dead-letter stream, listed and redriven (notification-service, ADMIN_TOKEN)',
  'redrive-jobs': 'Operators: background redrive jobs (notification-service, ADMIN_TOKEN)',
  'console-pages':
    "The operators' console: its pages, forms and assets (ops-console, an operator or viewer session)",
  'console-api': "The operators' console: the JSON its pages refresh from (ops-console, a session)",
  health: "Liveness and readiness of one instance, for the orchestrator's probes",
  metrics: 'Prometheus metrics of one instance',
  openapi: "The instance's own OpenAPI document",
} as const;
export type ApiTag = keyof typeof API_TAGS;

/**
 * The tags of what every instance serves for its own operation (probes, scrapes, its document):
 * their operations are marked `x-internal`, and the gateway's merged document leaves them out.
 */
export const INSTANCE_TAGS: readonly ApiTag[] = ['health', 'metrics', 'openapi'];

/** The codes the platform answers with on any route, by what causes them. */
export const PLATFORM_PROBLEMS = {
  VALIDATION_FAILED: 'a parameter, a header or the body breaks its schema (`errors` lists each)',
  INVALID_JSON: 'the body is not valid JSON, or is empty with a JSON content type',
  UNSUPPORTED_TEXT: 'a string holds a NUL character or an unpaired UTF-16 surrogate',
  BAD_URL: 'the path has a malformed percent-encoding',
  INVALID_CONTENT_LENGTH: 'Content-Length does not match the body',
  PAYLOAD_TOO_LARGE: 'the body is larger than the service accepts',
  UNSUPPORTED_MEDIA_TYPE: 'the body is not application/json',
  URI_TOO_LONG: 'a path parameter is longer than any route accepts',
  RATE_LIMITED: 'too many requests: retry after `Retry-After` seconds',
  INTERNAL: 'a fault of ours; quote the `requestId` when reporting it',
  SHUTTING_DOWN: 'this instance is shutting down: retry, another instance answers',
  DEPENDENCY_UNAVAILABLE: 'a database or broker this request needs is unreachable: retry later',
  TRANSACTION_CONFLICT: 'the request collided with a concurrent change: retry',
} as const;
export type PlatformProblemCode = keyof typeof PLATFORM_PROBLEMS;

/** The given platform codes with their meanings, to spread into a `problemResponse`. */
export function platformProblems(...codes: PlatformProblemCode[]): Record<string, string> {
  return Object.fromEntries(codes.map((code) => [code, PLATFORM_PROBLEMS[code]]));
}

/**
 * A response header in `schema.response` (`@fastify/swagger` copies it to the document); `required`
 * means every answer of that status carries it, which the tests' contract validation checks.
 */
export interface ResponseHeader {
  type: 'string' | 'integer';
  description: string;
  required?: boolean;
  enum?: string[];
  pattern?: string;
}

export const RETRY_AFTER: ResponseHeader = {
  type: 'integer',
  description: 'Seconds to wait before retrying',
  required: true,
};

/** One status of `schema.response` whose answer is JSON, with the headers it sends. */
export function jsonResponse<T extends TSchema>(
  schema: T,
  description: string,
  headers?: Record<string, ResponseHeader>,
) {
  return {
    description,
    ...(headers ? { headers } : {}),
    content: { 'application/json': { schema } },
  };
}

/**
 * One status of `schema.response` whose answer is a problem: `codes` maps each `code` it can
 * carry to when it does, listed in the description and as the enum of `code`.
 */
export function problemResponse(
  codes: Record<string, string>,
  headers?: Record<string, ResponseHeader>,
) {
  const list = Object.entries(codes);
  if (list.length === 0) throw new Error('problemResponse: name at least one code');
  const schema = Type.Unsafe<Problem>({
    allOf: [
      Type.Ref('Problem'),
      { type: 'object', properties: { code: { type: 'string', enum: list.map(([c]) => c) } } },
    ],
  });
  return {
    description: [
      'A problem (RFC 9457); its `code` is one of:',
      '',
      ...list.map(([code, when]) => `- \`${code}\`: ${when}`),
    ].join('\n'),
    ...(headers ? { headers } : {}),
    content: { [PROBLEM_CONTENT_TYPE]: { schema } },
  };
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface DocumentLike {
  paths?: Record<string, Record<string, unknown>>;
  components?: { securitySchemes?: Record<string, unknown> };
  tags?: Array<{ name: string; description: string }>;
}

interface OperationLike {
  tags?: string[];
  security?: Array<Record<string, unknown>>;
  responses?: Record<
    string,
    { headers?: Record<string, { required?: boolean; schema?: { required?: unknown } }> }
  >;
  'x-internal'?: boolean;
}

/** OpenAPI 3.0 schemas take one `example`, not JSON Schema's `examples` array. */
function singleExamples(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) singleExamples(item);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  if (Array.isArray(record.examples)) {
    record.example = record.examples[0];
    delete record.examples;
  }
  for (const value of Object.values(record)) singleExamples(value);
}

/**
 * What @fastify/swagger leaves for the platform to finish in a service's document, on a plain copy
 * (route schemas are left alone): a response header's `required` moved from its schema to the
 * header, examples as OpenAPI 3.0 has them, the security schemes no operation uses dropped, the
 * tags in use declared with their descriptions (an unknown tag throws), and the operations of the
 * instance tags marked `x-internal`.
 */
export function finishOpenApiDocument<T extends object>(document: T): T {
  const copy = JSON.parse(JSON.stringify(document)) as T;
  const doc = copy as DocumentLike;
  singleExamples(doc.paths);
  singleExamples(doc.components);
  const schemes = new Set<string>();
  const tags = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method] as OperationLike | undefined;
      if (!op) continue;
      for (const tag of op.tags ?? []) {
        if (!(tag in API_TAGS)) {
          throw new Error(`${method.toUpperCase()} ${path}: tag "${tag}" is not in API_TAGS`);
        }
        tags.add(tag);
        if ((INSTANCE_TAGS as readonly string[]).includes(tag)) op['x-internal'] = true;
      }
      for (const requirement of op.security ?? []) {
        for (const name of Object.keys(requirement)) schemes.add(name);
      }
      for (const response of Object.values(op.responses ?? {})) {
        for (const header of Object.values(response.headers ?? {})) {
          if (typeof header.schema?.required === 'boolean') {
            if (header.schema.required) header.required = true;
            delete header.schema.required;
          }
        }
      }
    }
  }
  const declared = doc.components?.securitySchemes;
  if (declared) {
    for (const name of Object.keys(declared)) if (!schemes.has(name)) delete declared[name];
    if (Object.keys(declared).length === 0) delete doc.components?.securitySchemes;
  }
  doc.tags = (Object.keys(API_TAGS) as ApiTag[])
    .filter((tag) => tags.has(tag))
    .map((name) => ({ name, description: API_TAGS[name] }));
  return copy;
}

/**
 * The answers any operation may give besides its own: 500 for a fault of ours, and 503 while the
 * instance shuts down (with `Retry-After`) or for the extra 503 codes given.
 */
export function serverProblems(
  extra503: Record<string, string> = {},
  options: { retryAfter?: boolean } = {},
) {
  return {
    500: problemResponse(platformProblems('INTERNAL')),
    503: problemResponse(
      { ...platformProblems('SHUTTING_DOWN'), ...extra503 },
      options.retryAfter === false
        ? { 'retry-after': { ...RETRY_AFTER, required: false } }
        : { 'retry-after': RETRY_AFTER },
    ),
  };
}
