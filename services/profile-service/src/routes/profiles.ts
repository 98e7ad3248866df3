// /v1/profiles: public reads (cache-aside, ETag / If-None-Match, x-cache) and the owner's PATCH.
// Handlers stay thin: validation is in the schemas, the cache and database in `app.profiles`.
// Reads send the body the cache stored already serialized (entry.ts), so a hit costs no JSON work;
// the response schemas still document those bodies and serialize everything else.
import { createHash } from 'node:crypto';
import { annotateSpan, withSpan, type App, type RateLimitRule } from '@app/platform';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../errors.js';
import { BulkheadFullError } from '../lib/bulkhead.js';
import type { CachedProfile } from '../lib/entry.js';
import type { CacheSource, ReadResult } from '../lib/profile-cache.js';
import {
  BearerHeaders,
  IdParams,
  IdsQuery,
  ProfileListResponses,
  ProfilePatchBody,
  ProfilePatchResponses,
  ProfileResponses,
} from '../schemas/profile.js';

export interface ProfileRoutesOptions {
  /** Part of every ETag, so that a new cached shape never matches an old validator. */
  schemaVersion: number;
  maxAgeSeconds: number;
  /** Updates per token subject: one account cannot flood the outbox and the cache with writes. */
  patchLimit: RateLimitRule;
}

/** True when `If-None-Match` lists `etag` (or `*`); weak comparison, as RFC 9110 asks for GET. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = etag.replace(/^W\//, '');
  return header
    .split(',')
    .map((t) => t.trim())
    .some((t) => t === '*' || t.replace(/^W\//, '') === bare);
}

/** The bulkhead's refusal as the API's 503 (Retry-After comes from the problem's member). */
function mapBulkheadError(err: unknown): never {
  if (err instanceof BulkheadFullError) throw errors.overloaded(err.retryAfterSeconds);
  throw err;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** Sends an already serialized JSON body as is (Fastify serializes only non-string payloads). */
function sendJson(reply: FastifyReply, json: string): FastifyReply {
  return reply.type(JSON_TYPE).send(json);
}

export async function profileRoutes(app: App, options: ProfileRoutesOptions): Promise<void> {
  const cacheControl = `public, max-age=${options.maxAgeSeconds}, must-revalidate`;
  const etagOf = (p: { version: number }) => `"${options.schemaVersion}.${p.version}"`;

  const conditional = (
    request: FastifyRequest,
    reply: FastifyReply,
    etag: string,
    source: CacheSource,
  ): boolean => {
    reply.header('x-cache', source).header('cache-control', cacheControl).header('etag', etag);
    if (!matchesIfNoneMatch(request.headers['if-none-match'], etag)) return false;
    void reply.code(304).send();
    return true;
  };
  const answer = (
    request: FastifyRequest,
    reply: FastifyReply,
    profile: CachedProfile,
    source: CacheSource,
  ): FastifyReply =>
    conditional(request, reply, etagOf(profile), source) ? reply : sendJson(reply, profile.json);

  app.get(
    '/v1/profiles/:id',
    {
      schema: {
        summary: 'A profile (public fields)',
        description:
          'Cached; answers 304 to an `If-None-Match` that still matches. `x-cache` tells where ' +
          'the answer came from.',
        operationId: 'getProfile',
        tags: ['profiles'],
        security: [],
        params: IdParams,
        response: ProfileResponses,
      },
    },
    (request, reply) => {
      const id = request.params.id.toLowerCase();
      // The hot path: an in-process tier hit is answered synchronously, with no promise, await
      // or result object (Fastify takes a handler that has sent and returns nothing).
      const local = app.profiles.peek(id);
      if (!local) return readThrough(id, request, reply);
      // The in-process tier: no I/O, so no span of its own; the request's span says it.
      annotateSpan({ 'cache.result': 'tier' });
      answer(request, reply, local, 'HIT');
      return undefined;
    },
  );

  const readThrough = async (
    id: string,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> => {
    let result: ReadResult;
    try {
      // The cache decision as a span: its Redis commands and, on a miss, its query are inside.
      result = await withSpan(
        'profile cache read',
        () => ({ attributes: { 'profile.id': id } }),
        async (span) => {
          const r = await app.profiles.load(id);
          span?.setAttribute('cache.result', r.source.toLowerCase());
          return r;
        },
      );
      annotateSpan({ 'cache.result': result.source.toLowerCase() });
    } catch (err) {
      mapBulkheadError(err);
    }
    const { profile, source } = result;
    if (!profile) {
      reply.header('x-cache', source).header('cache-control', cacheControl);
      throw errors.profileNotFound(id);
    }
    answer(request, reply, profile, source);
  };

  app.get(
    '/v1/profiles',
    {
      schema: {
        summary: 'Up to 100 profiles in one call (one MGET, one query for the misses)',
        operationId: 'getProfiles',
        tags: ['profiles'],
        security: [],
        querystring: IdsQuery,
        response: ProfileListResponses,
      },
    },
    async (request, reply) => {
      const ids = [...new Set(request.query.ids.toLowerCase().split(','))];
      const { profiles, source } = await app.profiles.getMany(ids).catch(mapBulkheadError);
      const found: CachedProfile[] = [];
      const missing: string[] = [];
      for (const id of ids) {
        const p = profiles.get(id);
        if (p) found.push(p);
        else missing.push(id);
      }
      const digest = createHash('sha256')
        .update(found.map((p) => `${p.id}:${p.version}`).join(','))
        .update('|')
        .update(missing.join(','))
        .digest('base64url')
        .slice(0, 22);
      if (conditional(request, reply, `"${options.schemaVersion}.${digest}"`, source)) return reply;
      const list = found.map((p) => p.json).join(',');
      return sendJson(reply, `{"profiles":[${list}],"missing":${JSON.stringify(missing)}}`);
    },
  );

  app.patch(
    '/v1/profiles/:id',
    {
      schema: {
        summary: "Update one's own profile (bearer token whose subject is :id)",
        operationId: 'updateProfile',
        tags: ['profiles'],
        security: [{ bearerAuth: [] }],
        params: IdParams,
        body: ProfilePatchBody,
        headers: BearerHeaders,
        response: ProfilePatchResponses,
      },
    },
    async (request, reply) => {
      const id = request.params.id.toLowerCase();
      const subject = await app.authenticate(request);
      if (subject.toLowerCase() !== id) throw errors.forbidden();
      await app.rateLimiter.enforce(options.patchLimit, id, reply);
      const traceparent = request.headers.traceparent;
      const profile = await app.profiles.update(
        id,
        request.body,
        typeof traceparent === 'string' ? traceparent : undefined,
      );
      if (!profile) throw errors.profileNotFound(id);
      reply.header('etag', etagOf(profile)).header('cache-control', 'no-store');
      return profile;
    },
  );
}
