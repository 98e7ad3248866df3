// @app/client: the typed client of the gateway's API. openapi-fetch over the types openapi-typescript
// generates from deploy/openapi/api.json (src/api.ts; `pnpm openapi` regenerates both): every path,
// parameter, body and answer is the document's, and an error answer is its problem+json (RFC 9457)
// with a stable `code`. One client per base URL: the gateway's, or a service's own.
import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from './api.js';

export type { components, operations, paths };

export type ApiClient = Client<paths>;
export type OperationId = keyof operations;

type Responses<Op extends OperationId> = operations[Op]['responses'];
type Content<T, Media extends string> = T extends { content: { [M in Media]: infer B } }
  ? B
  : never;

/** The JSON body an operation takes (`JsonBody<'signUp'>`). */
export type JsonBody<Op extends OperationId> = Content<
  operations[Op]['requestBody'],
  'application/json'
>;
/** The JSON body an operation answers with a status (`JsonAnswer<'getProfile', 200>`). */
export type JsonAnswer<Op extends OperationId, Status extends keyof Responses<Op>> = Content<
  Responses<Op>[Status],
  'application/json'
>;
/** Every problem `code` an operation documents (`ProblemCode<'signUp'>`: 'EMAIL_TAKEN' | ...). */
export type ProblemCode<Op extends OperationId> =
  Content<Responses<Op>[keyof Responses<Op>], 'application/problem+json'> extends infer P
    ? P extends { code?: infer C }
      ? NonNullable<C>
      : never
    : never;

export type Problem = components['schemas']['Problem'];
export type SignupRequest = JsonBody<'signUp'>;
export type SignupResponse = JsonAnswer<'signUp', 201>;
export type SessionRequest = JsonBody<'logIn'>;
export type Session = JsonAnswer<'logIn', 200>;
export type Jwks = JsonAnswer<'getJwks', 200>;
export type Profile = JsonAnswer<'getProfile', 200>;
export type ProfileUpdate = JsonBody<'updateProfile'>;
export type Profiles = JsonAnswer<'getProfiles', 200>;
export type DeadLetterList = JsonAnswer<'listDeadLetters', 200>;
export type DeadLetter = DeadLetterList['items'][number];
export type RedriveRequest = JsonBody<'redriveDeadLetters'>;
export type RedriveDryRun = JsonAnswer<'redriveDeadLetters', 200>;
export type RedriveJob = JsonAnswer<'getRedriveJob', 200>;

/** A token as a value, or asked for at each request (undefined: send none). */
export type TokenSource = string | (() => string | undefined);

/** `Authorization: Bearer <token>` on every request that does not set its own Authorization. */
export function bearerAuth(token: TokenSource): Middleware {
  return {
    onRequest({ request }) {
      const value = typeof token === 'function' ? token() : token;
      if (value !== undefined && !request.headers.has('authorization')) {
        request.headers.set('authorization', `Bearer ${value}`);
      }
      return request;
    },
  };
}

export interface ApiClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** The gateway's URL, or the URL of the service that serves the operations called. */
  baseUrl: string;
  /** A user's access token or the admin token, sent as a bearer token (see bearerAuth). */
  token?: TokenSource;
  /** Each request fails with a TimeoutError after this long (default 10 s; 0: no limit). */
  timeoutMs?: number;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const {
    token,
    timeoutMs = 10_000,
    fetch = (request) => globalThis.fetch(request),
    ...rest
  } = options;
  const client = createClient<paths>({
    ...rest,
    fetch:
      timeoutMs > 0
        ? (request) =>
            fetch(
              new Request(request, {
                signal: AbortSignal.any([request.signal, AbortSignal.timeout(timeoutMs)]),
              }),
            )
        : fetch,
  });
  if (token !== undefined) client.use(bearerAuth(token));
  return client;
}

/** Whether a value is a problem+json body (RFC 9457, with the document's `code`). */
export function isProblem(value: unknown): value is Problem {
  if (typeof value !== 'object' || value === null) return false;
  const { status, code, title } = value as Record<string, unknown>;
  return typeof status === 'number' && typeof code === 'string' && typeof title === 'string';
}

/** An error answer, carrying its problem+json body when it has one. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | undefined;

  constructor(
    readonly response: Response,
    /** The body as openapi-fetch read it: the parsed JSON, or the text. */
    readonly body: unknown,
  ) {
    const problem = isProblem(body) ? body : undefined;
    const what = problem ? `${problem.code}: ${problem.detail ?? problem.title}` : answerText(body);
    super(`${response.url ? `${response.url} answered ` : 'HTTP '}${response.status} ${what}`);
    this.name = 'ApiError';
    this.status = response.status;
    this.problem = problem;
  }

  /** The problem's `code` (undefined when the answer was not a problem+json). */
  get code(): string | undefined {
    return this.problem?.code;
  }
}

/** What openapi-fetch resolves with: data on a 2xx, error otherwise, and the response. */
export interface Result {
  data?: unknown;
  error?: unknown;
  response: Response;
}
type Success<R extends Result> = R extends { error?: never } ? R['data'] : never;

/** The data of a 2xx answer; an ApiError (its problem) for any other. */
export async function unwrap<R extends Result>(call: Promise<R> | R): Promise<Success<R>> {
  const result = await call;
  if (!result.response.ok) throw new ApiError(result.response, result.error);
  return result.data as Success<R>;
}

/** A call's result with how long it took, in whole milliseconds, until its body was read. */
export async function timed<R extends Result>(call: Promise<R>): Promise<R & { ms: number }> {
  const started = performance.now();
  const result = await call;
  return { ...result, ms: Math.round(performance.now() - started) };
}

/** A body as text for a person or a log: JSON again, or the text as it came. */
export function answerText(body: unknown): string {
  if (body === undefined) return '';
  return typeof body === 'string' ? body : JSON.stringify(body);
}
