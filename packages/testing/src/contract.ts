// Every response a service test receives, checked against the service's own OpenAPI document: the
// status is declared for the operation (found by method and path pattern), the body matches the
// schema declared for its content type, and the headers declared as required are there. A
// mismatch rejects the test's request with a message naming the operation, the status and what is
// wrong, so that a drift between a route and its contract fails the test that showed it. The
// schemas are compiled by the app's own validator compiler (Fastify's Ajv, with its formats).
//
// A request the router cannot match gets no operation: its answer must be the problem+json 404.
// A CORS preflight is answered by @fastify/cors for every path, outside the API's operations: a
// 204 with no body.

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const SCHEMAS_PREFIX = '#/components/schemas/';
/** OpenAPI 3.0 schema keywords that are no JSON Schema, and annotations that change nothing. */
const DROPPED = new Set(['example', 'examples', 'xml', 'externalDocs', 'discriminator', 'default']);

type Schema = Record<string, unknown>;

interface MediaObject {
  schema?: Schema;
}
interface HeaderObject {
  required?: boolean;
  schema?: Schema;
}
interface ResponseObject {
  description?: string;
  headers?: Record<string, HeaderObject>;
  content?: Record<string, MediaObject>;
}
interface OperationObject {
  operationId?: string;
  responses?: Record<string, ResponseObject>;
}
interface OpenApiDocument {
  paths?: Record<string, Partial<Record<(typeof METHODS)[number], OperationObject>>>;
  components?: { schemas?: Record<string, Schema> };
}

/** A compiled validator, as Ajv (and so Fastify's validator compiler) returns it. */
export interface Validate {
  (data: unknown): unknown;
  errors?: Array<{ instancePath?: string; message?: string; params?: unknown }> | null;
}
export type CompileSchema = (schema: Schema) => Validate;

/** What the check needs of a request: its method, URL (path and query) and headers. */
export interface ContractRequest {
  method: string;
  url: string;
  headers?: Record<string, unknown>;
}

/** What the check needs of a response (light-my-request's and fetch's both fit, once read). */
export interface ContractResponse {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

export class ContractError extends Error {
  override name = 'ContractError';
}

interface Operation {
  method: string;
  pattern: string;
  regex: RegExp;
  params: number;
  operation: OperationObject;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The OpenAPI schema as plain JSON Schema: OpenAPI-only keywords out, refs to `definitions`. */
function jsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(jsonSchema);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DROPPED.has(key) || key.startsWith('x-')) continue;
    if (key === '$ref' && typeof value === 'string') {
      out.$ref = value.startsWith(SCHEMAS_PREFIX)
        ? `#/definitions/${value.slice(SCHEMAS_PREFIX.length)}`
        : value;
    } else if (key === 'properties' || key === 'patternProperties' || key === 'definitions') {
      out[key] = Object.fromEntries(
        Object.entries(value as Schema).map(([name, s]) => [name, jsonSchema(s)]),
      );
    } else if (['items', 'additionalProperties', 'not', 'allOf', 'anyOf', 'oneOf'].includes(key)) {
      out[key] = jsonSchema(value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function header(headers: Record<string, unknown>, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.join(', ');
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function mediaTypeOf(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
}

function isJson(mediaType: string): boolean {
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}

function pathOf(url: string): string {
  const path = /^[a-z]+:\/\//i.test(url) ? new URL(url).pathname : url;
  return path.split('#')[0]!.split('?')[0]!;
}

function errorsText(validate: Validate): string {
  return (validate.errors ?? [])
    .map((e) => `${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}

/** One service's contract: its OpenAPI document, and whether a response keeps to it. */
export class Contract {
  private readonly operations: Operation[];
  private readonly compiled = new Map<string, Validate>();

  constructor(
    private readonly document: OpenApiDocument,
    private readonly compile: CompileSchema,
    /** Whether the app's router has a route for this method and path (a route the document lacks). */
    private readonly routed: (method: string, path: string) => boolean = () => false,
  ) {
    this.operations = Object.entries(document.paths ?? {})
      .flatMap(([pattern, item]) =>
        METHODS.filter((m) => item[m]).map((m) => ({
          method: m.toUpperCase(),
          pattern,
          regex: new RegExp(
            `^${pattern
              .split(/\{[^}]+\}/)
              .map(escapeRegExp)
              .join('[^/]+')}$`,
          ),
          params: (pattern.match(/\{/g) ?? []).length,
          operation: item[m]!,
        })),
      )
      // A literal segment wins over a parameter, as in the router.
      .sort((a, b) => a.params - b.params);
  }

  /** The operation that answers `method path`; HEAD is answered by GET's when it has none. */
  operationFor(method: string, path: string): Operation | undefined {
    const upper = method.toUpperCase();
    const find = (m: string) => this.operations.find((o) => o.method === m && o.regex.test(path));
    return find(upper) ?? (upper === 'HEAD' ? find('GET') : undefined);
  }

  /** Why `response` breaks the contract for `request`, or undefined when it keeps to it. */
  check(request: ContractRequest, response: ContractResponse): string | undefined {
    const method = request.method.toUpperCase();
    const path = pathOf(request.url);
    const status = response.statusCode;
    const found = this.operationFor(method, path);
    const requestHeaders = Object.fromEntries(
      Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
    const preflight = method === 'OPTIONS' && requestHeaders['access-control-request-method'];

    if (!found && preflight && status !== 404) {
      if (status !== 204) return `CORS preflight ${method} ${path} answered ${status}, not 204`;
      if (response.body !== '') return `CORS preflight ${method} ${path}: 204 with a body`;
      return undefined;
    }
    if (!found) {
      if (this.routed(method, path)) {
        return `${method} ${path} is answered by a route the OpenAPI document does not list`;
      }
      const label = `${method} ${path} (no route)`;
      if (status !== 404) return `${label} answered ${status}, not the problem+json 404`;
      return this.checkBody(label, status, response, this.problemResponse(), false);
    }

    const { operation, pattern } = found;
    const label = `${found.method} ${pattern} (${operation.operationId ?? 'no operationId'})`;
    const responses = operation.responses ?? {};
    const declared =
      responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
    if (!declared) {
      return `${label} answered ${status}, which it does not declare (it declares ${Object.keys(responses).join(', ')})`;
    }
    for (const [name, spec] of Object.entries(declared.headers ?? {})) {
      const value = header(response.headers, name);
      if (value === undefined) {
        if (spec.required) return `${label} answered ${status} without its header ${name}`;
        continue;
      }
      if (spec.schema) {
        const validate = this.validator(`${label} ${status} header ${name}`, spec.schema);
        const typed =
          spec.schema.type === 'integer' && /^-?\d+$/.test(value) ? Number(value) : value;
        if (!validate(typed)) {
          return `${label} answered ${status} with header ${name}: ${JSON.stringify(value)} ${errorsText(validate).replace('(body) ', '')}`;
        }
      }
    }
    const bodiless = method === 'HEAD' || status === 304 || status === 204;
    return this.checkBody(`${label}`, status, response, declared, bodiless);
  }

  private problemResponse(): ResponseObject {
    return {
      content: {
        'application/problem+json': {
          schema: {
            allOf: [
              { $ref: `${SCHEMAS_PREFIX}Problem` },
              { type: 'object', properties: { code: { enum: ['NOT_FOUND'] } } },
            ],
          },
        },
      },
    };
  }

  private checkBody(
    label: string,
    status: number,
    response: ContractResponse,
    declared: ResponseObject,
    bodiless: boolean,
  ): string | undefined {
    const at = `${label} answered ${status}`;
    const content = declared.content ?? {};
    if (bodiless || Object.keys(content).length === 0) {
      return response.body === '' ? undefined : `${at} with a body, but declares none`;
    }
    const mediaType = mediaTypeOf(header(response.headers, 'content-type'));
    if (!mediaType) return `${at} without a content-type`;
    const key = [mediaType, `${mediaType.split('/')[0]}/*`, '*/*'].find((k) => content[k]);
    if (!key) {
      return `${at} as ${mediaType}, which it does not declare (it declares ${Object.keys(content).join(', ')})`;
    }
    let body: unknown = response.body;
    if (isJson(mediaType)) {
      try {
        body = JSON.parse(response.body);
      } catch {
        return `${at} as ${mediaType} with a body that is not JSON: ${response.body.slice(0, 200)}`;
      }
    }
    const schema = content[key]?.schema;
    if (schema) {
      const validate = this.validator(`${label} ${status} ${key}`, schema);
      if (!validate(body)) {
        return `${at}: the ${mediaType} body breaks the schema: ${errorsText(validate)}: ${response.body.slice(0, 300)}`;
      }
    }
    if (mediaType === 'application/problem+json') {
      const problemStatus = (body as { status?: unknown }).status;
      if (problemStatus !== status) {
        return `${at} with a problem whose status is ${JSON.stringify(problemStatus)}`;
      }
    }
    return undefined;
  }

  private validator(key: string, schema: Schema): Validate {
    let validate = this.compiled.get(key);
    if (!validate) {
      const definitions = Object.fromEntries(
        Object.entries(this.document.components?.schemas ?? {}).map(([name, s]) => [
          name,
          jsonSchema(s),
        ]),
      );
      validate = this.compile({ ...(jsonSchema(schema) as Schema), definitions });
      this.compiled.set(key, validate);
    }
    return validate;
  }
}

/** What a Fastify app with @fastify/swagger offers the check (typed here without Fastify). */
export interface ContractApp {
  swagger(): unknown;
  inject: unknown;
  readonly validatorCompiler?: unknown;
  findRoute?(options: { method: string; url: string }): unknown;
}

export function isContractApp(app: unknown): app is ContractApp {
  const a = app as Partial<ContractApp> | null;
  return typeof a?.swagger === 'function' && typeof a.inject === 'function';
}

const contracts = new WeakMap<object, Contract>();

/** The contract of a ready app: its own `/openapi.json` document, compiled by its own Ajv. */
export function contractOf(app: ContractApp): Contract {
  let contract = contracts.get(app);
  if (!contract) {
    const compiler = app.validatorCompiler as
      | ((route: { schema: Schema; method: string; url: string; httpPart: string }) => Validate)
      | undefined;
    if (typeof compiler !== 'function') {
      throw new Error('contract: the app has no validator compiler yet (check after ready())');
    }
    contract = new Contract(
      app.swagger() as OpenApiDocument,
      (schema) => compiler({ schema, method: 'GET', url: '/contract', httpPart: 'body' }),
      (method, url) => {
        try {
          return Boolean(app.findRoute?.({ method, url }));
        } catch {
          return false; // a URL the router cannot even parse
        }
      },
    );
    contracts.set(app, contract);
  }
  return contract;
}

type InjectOptions =
  | string
  | {
      method?: string;
      url?: string | { pathname?: string };
      path?: string | { pathname?: string };
      headers?: Record<string, unknown>;
    };
interface InjectedResponse {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}
type Inject = (
  options?: InjectOptions,
  callback?: (err: Error | null, res?: InjectedResponse) => void,
) => unknown;

function injectRequest(options: InjectOptions): ContractRequest {
  if (typeof options === 'string') return { method: 'GET', url: options };
  const url = options.url ?? options.path ?? '/';
  return {
    method: options.method ?? 'GET',
    url: typeof url === 'string' ? url : (url.pathname ?? '/'),
    ...(options.headers ? { headers: options.headers } : {}),
  };
}

/**
 * Makes `app.inject(options)` check every response against the app's contract: a mismatch
 * rejects with a ContractError (or passes it to the callback). The chain form (`inject()` with no
 * options) is refused, since its response could not be checked.
 */
export function checkInjects(app: ContractApp): void {
  const inject = (app.inject as Inject).bind(app);
  const check = (options: InjectOptions, res: InjectedResponse): ContractError | undefined => {
    const problem = contractOf(app).check(injectRequest(options), res);
    return problem === undefined ? undefined : new ContractError(`contract: ${problem}`);
  };
  const checked: Inject = (options, callback) => {
    if (options === undefined) {
      throw new Error('inject() without options is not checked against the contract: pass them');
    }
    if (callback) {
      return inject(options, (err, res) => {
        const failure = err || !res ? undefined : check(options, res);
        if (failure) callback(failure);
        else callback(err, res);
      });
    }
    return (inject(options) as Promise<InjectedResponse>).then((res) => {
      const failure = check(options, res);
      if (failure) throw failure;
      return res;
    });
  };
  (app as { inject: unknown }).inject = checked;
}

/** Statuses whose answer has no body (a Response refuses one). */
const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * `fetch` from a listening app, with the response checked against the app's contract (a mismatch
 * throws a ContractError). Resolves with a fresh Response, its body still to be read.
 */
export async function fetchChecked(
  app: ContractApp,
  url: string | URL,
  init: RequestInit = {},
): Promise<Response> {
  const res = await fetch(url, init);
  const body = await res.text();
  const request: ContractRequest = {
    method: init.method ?? 'GET',
    url: String(url),
    headers: Object.fromEntries(new Headers(init.headers).entries()),
  };
  const problem = contractOf(app).check(request, {
    statusCode: res.status,
    headers: Object.fromEntries(res.headers.entries()),
    body,
  });
  if (problem !== undefined) throw new ContractError(`contract: ${problem}`);
  return new Response(NULL_BODY.has(res.status) ? null : body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
