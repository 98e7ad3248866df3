// The base Fastify app every service builds on: TypeBox type provider, strict validation,
// problem+json errors, request ids, security headers, CORS, health, metrics and the OpenAPI
// document. A service calls createApp, registers its plugins and routes, and gets all of it.
import { finishOpenApiDocument, jsonResponse, Problem, serverProblems } from '@app/contracts';
import cors from '@fastify/cors';
import { fastifySwagger } from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Kind, Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { Logger, LoggerOptions } from 'pino';
import { accessLineFor, type AccessLine } from './access-line.js';
import {
  clientErrorHandler,
  frameworkErrorHandler,
  httpError,
  installProblemHandlers,
} from './errors.js';
import { corsOrigins, trustProxyAddresses } from './config.js';
import { healthPlugin, type ReadinessCheck } from './health.js';
import { stdoutDestination } from './log-destination.js';
import type { LingerLimits } from './linger.js';
import { genReqId, isoTimeCached, loggerOptions } from './logger.js';
import { metricsPlugin } from './metrics.js';
import { setStandardHeaders } from './security-headers.js';

/** A service's Fastify instance, typed with the TypeBox provider. */
export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface CreateAppOptions {
  /** The service name: logged as `service`, used in problem `type` URIs and the OpenAPI title. */
  name: string;
  version?: string;
  /** `false` silences logs; an object overrides pino options; default: info level. */
  logger?: boolean | LoggerOptions;
  /** Where log lines go (tests capture them here); default stdout. */
  logStream?: NodeJS.WritableStream;
  /** What `/health/ready` checks, each with a 2 s timeout. */
  readiness?: Record<string, ReadinessCheck>;
  readinessTimeoutMs?: number;
  /** Largest accepted body in bytes (default 1 MiB): larger ones get 413. */
  bodyLimit?: number;
  /**
   * After a 413/415 answered before the body was read, how long and how much of the rest is read
   * and discarded before the connection is cut (default 5 s, 8 MiB; linger.ts says why).
   */
  linger?: LingerLimits;
  /**
   * Whose `X-Forwarded-*` to believe (`request.ip`, `request.protocol`): `true` any peer, an array
   * only peers with those addresses or in those CIDR ranges; default false, nobody.
   */
  trustProxy?: boolean | string[];
  /** Browser origins allowed by CORS (`CORS_ORIGINS`); omitted or empty: no CORS headers at all. */
  cors?: { origins: string[] };
}

function pinoOptions(options: CreateAppOptions): LoggerOptions | false {
  if (options.logger === false) return false;
  const base = loggerOptions({ name: options.name });
  const custom = typeof options.logger === 'object' ? options.logger : {};
  return { ...base, ...custom };
}

/**
 * Query strings and path params arrive as strings; converting them (and only them) to the declared
 * types keeps `?limit=10` usable while a JSON body with `"10"` for a number is still refused.
 * Returns the schema to convert with, or undefined for what arrives right already: no TypeBox
 * schema, or an object whose properties are all plain strings (ids, names). Anything else
 * (numbers, booleans, arrays, unions) is converted.
 */
function conversionSchema(schema: unknown): TSchema | undefined {
  if (typeof schema !== 'object' || schema === null || !(Kind in schema)) return undefined;
  const s = schema as TSchema & {
    properties?: Record<string, { type?: unknown; anyOf?: unknown }>;
  };
  if (s.type !== 'object' || !s.properties) return s;
  const allStrings = Object.values(s.properties).every(
    (p) => p.type === 'string' && p.anyOf === undefined,
  );
  return allStrings ? undefined : s;
}

/**
 * Fastify's request logging with one line per request instead of two: the arrival is logged at
 * `debug`, and the answer's line (at the route's level) carries the request as well as the
 * response, with Fastify's field names (`req`, `res`, `responseTime`; `err` when it errored).
 * A request that did not error has its line built by `accessLine` when the app has one
 * (access-line.ts: the same bytes, without pino's generic path).
 */
class OneLinePerRequest extends LogController {
  accessLine: AccessLine | undefined;

  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    // Milliseconds to a hundredth: what an operator reads (node gives twelve more digits).
    const responseTime = Math.round(reply.elapsedTime * 100) / 100;
    if (error) {
      reply.log.error({ req: request, res: reply, err: error, responseTime }, 'request errored');
      return;
    }
    if (this.accessLine?.(reply.log as Logger, request, reply.statusCode, responseTime)) return;
    reply.log.info({ req: request, res: reply, responseTime }, 'request completed');
  }
}

export function createApp(options: CreateAppOptions): App {
  const pino = pinoOptions(options);
  const logger =
    pino === false
      ? false
      : pino.transport
        ? pino
        : { ...pino, stream: options.logStream ?? stdoutDestination() };

  const logController = new OneLinePerRequest({ requestIdLogLabel: 'requestId' });
  const app: App = Fastify({
    logger: logger as boolean,
    return503OnClosing: false,
    // The router and node's parser answer some requests before any hook runs; these two make
    // those answers problem+json with the security headers too.
    frameworkErrors: frameworkErrorHandler(options.name),
    clientErrorHandler: clientErrorHandler(options.name, () => app.log),
    genReqId,
    logController,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // A plugin bounds its own start (Postgres 30 s, NATS and Redis theirs) and says which
    // dependency is missing; Fastify's 10 s default cut those off first on a loaded machine
    // ("Plugin did not start in time: 'prisma'"), with a message that names none.
    pluginTimeout: 60_000,
    trustProxy: options.trustProxy ?? false,
    ajv: {
      customOptions: {
        removeAdditional: false,
        useDefaults: true,
        coerceTypes: false,
        // Every failure at once, so a client fixes its request in one round trip. The cost ajv
        // warns about is bounded by bodyLimit.
        allErrors: true,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // The access line's shortcut holds only for the platform's own pino options (a level aside).
  const ownOptions =
    typeof options.logger !== 'object' || Object.keys(options.logger).every((k) => k === 'level');
  if (pino !== false && !pino.transport && ownOptions) {
    logController.accessLine = accessLineFor(app.log as Logger, isoTimeCached);
  }

  // Helmet's headers (the constant in security-headers.ts, checked against @fastify/helmet by a
  // test) and the request id. @fastify/helmet rebuilds helmet's middleware on every request and
  // writes through the raw response, which also puts node's header writing on its slow path.
  // Once closing has begun, a request that still arrives (a kept-alive connection) is turned away
  // as a problem a client can retry elsewhere; Fastify's own closing answer is a bare 503.
  // A request already in flight when closing begins is answered in full, with `Connection: close`:
  // node's server.close() ends only the connections idle at that moment, so without it the
  // connection of an in-flight request went back to keep-alive and held close() open until its
  // client or the keep-alive timeout (72 s) ended it, past any grace period (a balancer's idle
  // upstream pool never does). The shorter keep-alive timeout covers a response whose headers had
  // already gone out: its connection is ended about a second after it finishes.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    app.server.keepAliveTimeout = 1;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  // Callback hooks, not async ones: no promise per request for work that never waits.
  app.addHook('onRequest', (request, reply, done) => {
    setStandardHeaders(request, reply);
    if (!closing) return done();
    void reply.header('connection', 'close');
    done(
      httpError(
        503,
        'SHUTTING_DOWN',
        'This instance is shutting down',
        'Retry the request; another instance will answer it.',
        { retryAfterSeconds: 1 },
      ),
    );
  });
  // Decided once per route, so that a route whose inputs are all strings pays nothing per request.
  app.addHook('onRoute', (route) => {
    const querystring = conversionSchema(route.schema?.querystring);
    const params = conversionSchema(route.schema?.params);
    if (!querystring && !params) return;
    const convert = async (request: FastifyRequest) => {
      if (querystring) request.query = Value.Convert(querystring, request.query);
      if (params) request.params = Value.Convert(params, request.params);
    };
    const existing = route.preValidation;
    route.preValidation =
      existing === undefined
        ? [convert]
        : [convert, ...(Array.isArray(existing) ? existing : [existing])];
  });

  installProblemHandlers(app, options.name, options.linger);
  app.addSchema(Problem);

  if (options.cors && options.cors.origins.length > 0) {
    void app.register(cors, { origin: options.cors.origins, credentials: false });
  }
  // Applied at once rather than through register(): @fastify/swagger collects routes with an
  // onRoute hook, which would miss routes a service declares before the app is ready. The plugin
  // body is synchronous and skip-override, so this is what register() would do, only earlier.
  fastifySwagger(
    app,
    {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: options.name,
          version: options.version ?? '0.0.0',
          description:
            'Every error is a problem+json (RFC 9457) with a stable `code`; each response ' +
            'lists the codes it can carry.',
          // A private, unpublished API (package.json `private`, no LICENSE): nothing to link to.
          license: { name: 'UNLICENSED' },
          contact: { name: `${options.name} maintainers` },
        },
        // Relative: the document is served by the instance (or the gateway) it describes.
        servers: [{ url: '/', description: 'Where this document is served from' }],
        components: {
          // Declared here once; a document keeps only the schemes its operations use.
          securitySchemes: {
            bearerAuth: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description:
                'An access token from signup-service (POST /v1/signup or /v1/sessions), as ' +
                '`Authorization: Bearer <token>`',
            },
            adminToken: {
              type: 'http',
              scheme: 'bearer',
              description:
                "The operators' ADMIN_TOKEN of notification-service, as " +
                '`Authorization: Bearer <ADMIN_TOKEN>`',
            },
            consoleSession: {
              type: 'apiKey',
              in: 'cookie',
              name: 'ops_session',
              description:
                "The operators' console session (ops-console): the cookie POST /signin sets for " +
                'the operator or the viewer token',
            },
          },
        },
      },
      // Shared schemas (`app.addSchema`) are named by their `$id`: `#/components/schemas/Problem`.
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) =>
          typeof json.$id === 'string' ? json.$id : `def-${i}`,
      },
      transformObject: (document) =>
        'openapiObject' in document
          ? finishOpenApiDocument(document.openapiObject)
          : document.swaggerObject,
    },
    (err) => {
      if (err) throw err;
    },
  );
  void app.register(metricsPlugin, { defaultLabels: { service: options.name } });
  void app.register(healthPlugin, {
    service: options.name,
    checks: options.readiness ?? {},
    ...(options.readinessTimeoutMs === undefined ? {} : { timeoutMs: options.readinessTimeoutMs }),
  });
  app.get(
    '/openapi.json',
    {
      schema: {
        summary: "This instance's OpenAPI document",
        operationId: 'getOpenApiDocument',
        tags: ['openapi'],
        security: [],
        // Accepts any query string. A route of the root instance that validates something gives
        // the root Fastify's validator compiler (`app.validatorCompiler`), with which the tests
        // check every response against this document (@app/testing's contract.ts).
        querystring: Type.Object({}),
        response: {
          200: jsonResponse(
            Type.Object({}, { additionalProperties: true }),
            'The OpenAPI 3.0 document of this service',
          ),
          ...serverProblems(),
        },
      },
    },
    async () => app.swagger(),
  );

  return app;
}

/** What every service's `Deps` starts with: where its logs go (tests capture or silence them). */
export interface ServiceDeps {
  /** `false` silences logs; an object overrides pino options; default: pino at `LOG_LEVEL`. */
  logger?: boolean | LoggerOptions;
  /** Where log lines go; default stdout. */
  logStream?: NodeJS.WritableStream;
}

export interface ServiceAppOptions {
  name: string;
  version?: string;
  /** The shared variables every service's config has (`CommonEnv`). */
  config: { LOG_LEVEL: string; CORS_ORIGINS: string; TRUST_PROXY?: string };
  deps: ServiceDeps;
  readiness: Record<string, ReadinessCheck>;
  /** A service's own switch (`true`: trust any peer); a non-empty `TRUST_PROXY` takes precedence. */
  trustProxy?: boolean;
}

/**
 * createApp as every service's buildApp starts: logging, CORS and trusted proxies from the shared
 * variables. `TRUST_PROXY`, when set, decides whose forwarded headers count, whatever the
 * service's own boolean says: the narrower setting wins, so adding the gateway's address can only
 * take trust away from other peers.
 */
export function createServiceApp(options: ServiceAppOptions): App {
  const { config, deps } = options;
  const trusted = trustProxyAddresses(config.TRUST_PROXY ?? '');
  const trustProxy = trusted.length > 0 ? trusted : options.trustProxy;
  return createApp({
    name: options.name,
    ...(options.version === undefined ? {} : { version: options.version }),
    logger: deps.logger ?? { level: config.LOG_LEVEL },
    ...(deps.logStream ? { logStream: deps.logStream } : {}),
    readiness: options.readiness,
    ...(trustProxy === undefined ? {} : { trustProxy }),
    cors: { origins: corsOrigins(config.CORS_ORIGINS) },
  });
}
