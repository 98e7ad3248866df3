// Property-based fuzzing of every HTTP route of the three services over real HTTP: fast-check
// builds requests from each route's schema and breaks them (wrong types, missing and extra fields,
// huge strings, unicode edge cases, invalid JSON, wrong content types, oversized bodies, odd paths
// and headers). The properties every answer must have: no 5xx, problem+json on every 4xx, and the
// security headers. Cases are sampled from a seed (reported), run a few at a time, and every
// failing kind is kept with its smallest example, so one run lists every distinct bug.
import { validateHeaderValue } from 'node:http';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { unwrap } from '@app/client';
import { httpRequest, keepAliveAgent, problemViolation, type HttpResponse } from './http.js';
import type { ServiceName, System } from './system.js';

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

export interface RouteFuzz {
  service: ServiceName;
  route: string;
  arbitrary: fc.Arbitrary<FuzzRequest>;
}

export interface FuzzFailure {
  route: string;
  kind: string;
  count: number;
  /** The smallest failing request seen, abbreviated. */
  example: string;
  status: number | string;
  body: string;
}

export interface FuzzResult {
  route: string;
  cases: number;
  statuses: Record<string, number>;
  failures: FuzzFailure[];
}

/** Strings that break naive code: NUL, lone surrogates, BOM, RTL override, combining marks... */
export const EDGE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff\ud800',
  '\ufeff',
  '\u202e',
  'a\u0301\u0301\u0301',
  '😀',
  '👩‍👩‍👧‍👦',
  'ｅｘａｍｐｌｅ',
  '\r\n',
  '\t',
  '%00',
  '../../etc/passwd',
  "'; DROP TABLE users; --",
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  'null',
  'Ω'.repeat(300),
  'x'.repeat(10_000),
  '\u0000'.repeat(20),
];

const edge = fc.constantFrom(...EDGE_STRINGS);

/** Percent-encodes the UTF-8 bytes of any string (lone surrogates too, as U+FFFD). */
export function pct(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}
const weirdString = fc.oneof(
  edge,
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ maxLength: 3000, minLength: 300 }),
);
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  weirdString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(weirdString, { maxLength: 3 }),
  fc.dictionary(weirdString, weirdString, { maxKeys: 3 }),
);

/** A value for a string field: mostly plausible, often broken, sometimes the wrong type. */
function field(valid: fc.Arbitrary<string>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 2, arbitrary: fc.tuple(valid, edge).map(([v, e]) => v + e) },
    { weight: 2, arbitrary: weirdString },
    { weight: 1, arbitrary: anyJson },
  );
}

/** An object with each key optional, broken values, and sometimes extra keys. */
function objectOf(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      fc.option(fc.dictionary(weirdString, anyJson, { maxKeys: 2 }), { freq: 4 }),
    )
    .map(([obj, extra]) => (extra ? { ...extra, ...obj } : obj));
}

// 1.5 MiB: over the platform's 1 MiB body limit.
const OVERSIZED = Buffer.alloc(1_572_864, 'a');
const OVERSIZED_JSON = `{"email":"${'a'.repeat(1_572_864)}@x.example"}`;

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/problem+json',
  'application/json, text/plain',
  'text/plain',
  'text/html',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  '*/*',
  'a/b/c',
  ';;;',
];

/** A body for a JSON route: the object, or something that is not it at all. */
function bodyFor(
  obj: fc.Arbitrary<unknown>,
): fc.Arbitrary<{ body?: string | Buffer; ct?: string }> {
  const ct = fc.oneof(
    { weight: 6, arbitrary: fc.constant('application/json') },
    { weight: 3, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  const raw = fc.oneof(
    { weight: 12, arbitrary: obj.map((o) => JSON.stringify(o)) },
    { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? 'undefined') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '',
        '{',
        '{"a":',
        '{"email":"a@b.c",}',
        "{'email':'x'}",
        'null',
        '[]',
        '"x"',
        '{"__proto__":{"polluted":1}}',
        '{"constructor":{"prototype":{"x":1}}}',
        '\ufeff{}',
        '{"a":1}{"b":2}',
        '[' + '['.repeat(5000) + ']'.repeat(5000) + ']',
        'NaN',
      ),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: weirdString },
  );
  return fc.oneof(
    { weight: 40, arbitrary: fc.record({ body: raw, ct }) },
    { weight: 1, arbitrary: fc.constant({ body: OVERSIZED, ct: 'application/json' }) },
    { weight: 1, arbitrary: fc.constant({ body: OVERSIZED_JSON, ct: 'application/json' }) },
    { weight: 1, arbitrary: fc.constant({}) },
  );
}

/** Header values node will send (it refuses control characters and code points above 255). */
function sendable(value: string): boolean {
  try {
    validateHeaderValue('x', value);
    return true;
  } catch {
    return false;
  }
}

const headerValue = fc
  .oneof(
    fc.string({ maxLength: 50 }),
    fc.string({ unit: 'binary-ascii', maxLength: 300 }),
    fc.constantFrom('', ' ', 'null', 'x'.repeat(2000), '%00', 'é', '\u00ff\u00fe'),
  )
  .map((v) => (sendable(v) ? v : pct(v)));

/** Odd extra headers any request may carry. */
const oddHeaders: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    'x-request-id': headerValue,
    traceparent: fc.oneof(
      headerValue,
      fc.constant('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
    ),
    accept: fc.constantFrom('*/*', 'text/html', 'application/xml', '', 'application/json;q=0'),
    'accept-encoding': fc.constantFrom('gzip', 'br', 'identity;q=0', 'x', ''),
    'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'x-unknown'),
    'x-forwarded-for': headerValue,
    origin: fc.constantFrom('https://evil.example', 'null', 'http://localhost'),
    'if-none-match': fc.oneof(headerValue, fc.constant('*')),
  },
  { requiredKeys: [] },
);

/** A path segment: valid ids, broken ids, and encodings that upset routers. */
function segment(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 1, arbitrary: valid.map((v) => v.toUpperCase()) },
    {
      weight: 3,
      arbitrary: weirdString.map((s) =>
        pct(s)
          .slice(0, 3000)
          .replace(/%[0-9A-F]?$/, ''),
      ),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '',
        '%',
        '%ZZ',
        '%00',
        '%C0%AE%C0%AE',
        '..%2f..%2fetc%2fpasswd',
        '%2e%2e',
        '.',
        '..',
        '%F0%9F',
        '%ED%A0%80',
        '00000000-0000-0000-0000-000000000000',
        'ffffffff-ffff-ffff-ffff-ffffffffffff',
        '00000000-0000-0000-0000-00000000000g',
        'a'.repeat(3000),
        '%20',
        '+',
      ),
    },
  );
}

const suffix = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '/',
      '//',
      '?',
      '?a=1&a=2',
      '?__proto__[x]=1',
      '/..',
      ';x=1',
      '%2F',
      '?' + 'q'.repeat(3000),
    ),
  },
);

/**
 * Request line and headers stay under node's 16 KiB header limit: beyond it node's HTTP parser
 * answers 431 before the app sees anything (checked on its own in security.ts).
 */
export const MAX_HEAD_BYTES = 14_000;

function headBytes(r: FuzzRequest): number {
  return (
    r.path.length + Object.entries(r.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0)
  );
}

function withHeaders(
  base: fc.Arbitrary<Omit<FuzzRequest, 'headers'> & { headers?: Record<string, string> }>,
): fc.Arbitrary<FuzzRequest> {
  return fc
    .tuple(base, fc.option(oddHeaders, { freq: 3 }))
    .map(([r, odd]) => ({ ...r, headers: { ...(odd ?? {}), ...(r.headers ?? {}) } }))
    .filter((r) => headBytes(r) < MAX_HEAD_BYTES);
}

function jsonRoute(
  method: string,
  path: fc.Arbitrary<string>,
  obj: fc.Arbitrary<unknown>,
  headers: fc.Arbitrary<Record<string, string>> = fc.constant({}),
): fc.Arbitrary<FuzzRequest> {
  return withHeaders(
    fc.record({ path, b: bodyFor(obj), h: headers }).map(({ path: p, b, h }) => ({
      method,
      path: p,
      ...(b.body === undefined ? {} : { body: b.body }),
      headers: { ...h, ...(b.ct === undefined ? {} : { 'content-type': b.ct }) },
    })),
  );
}

const uuid = fc.uuid();
const emailish = fc
  .tuple(fc.stringMatching(/^[a-z0-9._+-]{1,20}$/), fc.constantFrom('example.com', 'x.example'))
  .map(([local, domain]) => `${local}.${randomUUID().slice(0, 6)}@${domain}`);
const passwordish = fc.constantFrom('Correct horse 9', 'abcdefghij1', 'pässwörd 123');
const displayNameish = fc.constantFrom('Ada', 'Grace Hopper', 'Zoë');

export interface FuzzContext {
  /** A user that exists, with a valid token, so that PATCH gets past authentication. */
  userId: string;
  token: string;
  adminToken: string;
}

/** Signs up the owner of the fuzzed profile: the FuzzContext of a running system. */
export async function fuzzContext(system: System, email: string): Promise<FuzzContext> {
  // A well-formed call: the typed client (the fuzzed requests themselves go out raw, below).
  const owner = await unwrap(
    system
      .api('signup-service')
      .POST('/v1/signup', { body: { email, password: 'Fuzz owner 9', displayName: 'Owner' } }),
  );
  return { userId: owner.userId, token: owner.accessToken, adminToken: system.adminToken };
}

function bearer(ctx: FuzzContext, token: string): fc.Arbitrary<Record<string, string>> {
  return fc.oneof(
    fc.constant({}),
    fc.constant({ authorization: `Bearer ${token}` }),
    fc.constant({ authorization: `bearer ${token}` }),
    fc.constant({ authorization: `Bearer ${token} ` }),
    fc.constant({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }),
    headerValue.map((v) => ({ authorization: `Bearer ${v}` })),
    headerValue.map((v) => ({ authorization: v })),
    fc.constant({ authorization: `Bearer ${ctx.token}` }),
  );
}

const anyMethod = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');

/** Routes without input still take odd methods, query strings and headers. */
function plainRoute(path: string): fc.Arbitrary<FuzzRequest> {
  return withHeaders(
    fc
      .record({
        method: fc.oneof(
          { weight: 4, arbitrary: fc.constant('GET') },
          { weight: 1, arbitrary: anyMethod },
        ),
        suffix,
        q: fc.option(weirdString.map(pct), { freq: 3 }),
      })
      .map(({ method, suffix: s, q }) => ({
        method,
        path: `${path}${s}${q ? `${s.includes('?') ? '&' : '?'}x=${q}` : ''}`,
      })),
  );
}

/** The fuzzers of every route the three services serve. */
export function routeFuzzers(ctx: FuzzContext): RouteFuzz[] {
  const signupBody = objectOf({
    email: field(emailish),
    password: field(passwordish),
    displayName: field(displayNameish),
  });
  const idempotency = fc.record(
    { 'idempotency-key': headerValue, traceparent: headerValue },
    { requiredKeys: [] },
  );
  const profileId = segment(fc.oneof(uuid, fc.constant(ctx.userId)));
  const ids = fc
    .array(fc.oneof(uuid, fc.constant(ctx.userId), weirdString.map(pct)), {
      maxLength: 120,
    })
    .map((list) => list.join(','));
  const isoish = fc.oneof(
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    weirdString,
  );
  const filter = objectOf({
    subject: field(fc.constantFrom('user.signed_up', 'user.>', '*', '>', 'a..b')),
    reason: field(fc.constantFrom('smtp', 'invalid_payload')),
    since: isoish,
    until: isoish,
    seqs: fc.oneof(fc.array(fc.integer(), { maxLength: 5 }), anyJson),
    limit: fc.oneof(fc.integer(), anyJson),
  });
  const adminAuth = bearer(ctx, ctx.adminToken);

  const fuzzers: RouteFuzz[] = [
    {
      service: 'signup-service',
      route: 'POST /v1/signup',
      arbitrary: jsonRoute(
        'POST',
        suffix.map((s) => `/v1/signup${s}`),
        signupBody,
        idempotency,
      ),
    },
    {
      service: 'signup-service',
      route: 'POST /v1/sessions',
      arbitrary: jsonRoute(
        'POST',
        suffix.map((s) => `/v1/sessions${s}`),
        objectOf({ email: field(emailish), password: field(passwordish) }),
      ),
    },
    {
      service: 'profile-service',
      route: 'GET /v1/profiles/:id',
      arbitrary: withHeaders(
        fc.record({ id: profileId, s: suffix }).map(({ id, s }) => ({
          method: 'GET',
          path: `/v1/profiles/${id}${s}`,
        })),
      ),
    },
    {
      service: 'profile-service',
      route: 'GET /v1/profiles?ids=',
      arbitrary: withHeaders(
        fc
          .record({
            ids,
            extra: fc.constantFrom('', '&ids=x', '&limit=1', '&ids[]=1', '&__proto__=1'),
            name: fc.constantFrom('ids', 'ids', 'ids', 'IDS', 'id'),
          })
          .map(({ ids: list, extra, name }) => ({
            method: 'GET',
            path: `/v1/profiles?${name}=${list}${extra}`,
          })),
      ),
    },
    {
      service: 'profile-service',
      route: 'PATCH /v1/profiles/:id',
      arbitrary: fc
        .record({
          id: profileId,
          auth: bearer(ctx, ctx.token),
          req: jsonRoute(
            'PATCH',
            fc.constant(''),
            objectOf({
              displayName: field(displayNameish),
              bio: fc.oneof(field(fc.constantFrom('hello', '')), fc.constant(null)),
              avatarUrl: fc.oneof(
                field(
                  fc.constantFrom('https://img.example/a.png', 'http://x', 'javascript:alert(1)'),
                ),
                fc.constant(null),
              ),
            }),
          ),
        })
        .map(({ id, auth, req }) => ({
          ...req,
          path: `/v1/profiles/${id}`,
          headers: { ...req.headers, ...auth },
        })),
    },
    {
      service: 'notification-service',
      route: 'GET /admin/deadletters',
      arbitrary: fc
        .record({
          auth: adminAuth,
          q: objectOf({
            subject: field(fc.constant('user.>')),
            reason: field(fc.constant('smtp')),
            since: isoish,
            until: isoish,
            limit: fc.oneof(fc.integer().map(String), weirdString),
          }),
          h: oddHeaders,
        })
        .map(({ auth, q, h }) => {
          const params = new URLSearchParams();
          if (q && typeof q === 'object') {
            for (const [k, v] of Object.entries(q as Record<string, unknown>)) {
              params.append(k, typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
            }
          }
          return {
            method: 'GET',
            path: `/admin/deadletters?${params.toString()}`,
            headers: { ...h, ...auth },
          };
        }),
    },
    {
      service: 'notification-service',
      route: 'POST /admin/deadletters/redrive',
      arbitrary: fc
        .record({
          auth: adminAuth,
          req: jsonRoute(
            'POST',
            fc.constant('/admin/deadletters/redrive'),
            objectOf({
              filter,
              dryRun: fc.oneof(fc.boolean(), anyJson),
              rate: fc.oneof(fc.integer({ min: 1000, max: 10_000 }), anyJson),
              actor: field(fc.constant('fuzz')),
            }),
          ),
        })
        .map(({ auth, req }) => ({ ...req, headers: { ...req.headers, ...auth } })),
    },
    ...(['signup-service', 'profile-service', 'notification-service'] as const).flatMap((service) =>
      ['/health/live', '/health/ready', '/metrics', '/openapi.json'].map((path) => ({
        service,
        route: `${service} GET ${path}`,
        arbitrary: plainRoute(path),
      })),
    ),
    ...(['signup-service', 'profile-service', 'notification-service'] as const).map((service) => ({
      service,
      route: `${service} unknown paths`,
      arbitrary: withHeaders(
        fc
          .record({ method: anyMethod, seg: segment(fc.constant('v1')), s: suffix })
          .map(({ method, seg, s }) => ({ method, path: `/${seg}/${seg}${s}` })),
      ),
    })),
  ];
  return fuzzers.map((f) => ({
    ...f,
    arbitrary: f.arbitrary.filter((r) => headBytes(r) < MAX_HEAD_BYTES),
  }));
}

/** Why an answer breaks the properties, or undefined. */
export function answerViolation(res: HttpResponse, method = 'GET'): string | undefined {
  if (res.status >= 500) return `status ${res.status}`;
  if (res.headers['x-content-type-options'] !== 'nosniff') return 'no x-content-type-options';
  // A HEAD answer has the headers of the GET but no body to check.
  if (method === 'HEAD' && res.status >= 400) {
    const type = String(res.headers['content-type'] ?? '');
    return type.startsWith('application/problem+json') ? undefined : `content-type "${type}"`;
  }
  return problemViolation(res);
}

function describe(req: FuzzRequest): string {
  const body =
    req.body === undefined
      ? ''
      : Buffer.isBuffer(req.body)
        ? ` <${req.body.length} bytes>`
        : ` ${req.body.length > 300 ? `${req.body.slice(0, 300)}... (${req.body.length} chars)` : req.body}`;
  const path = req.path.length > 300 ? `${req.path.slice(0, 300)}...` : req.path;
  return `${req.method} ${path} ${JSON.stringify(req.headers).slice(0, 300)}${body}`;
}

export interface FuzzOptions {
  runsPerRoute: number;
  seed: number;
  concurrency?: number;
  /** Only routes whose name contains one of these. */
  only?: string[];
}

/** Runs every route's fuzzer against the running system. */
export async function fuzzRoutes(
  system: System,
  ctx: FuzzContext,
  options: FuzzOptions,
): Promise<FuzzResult[]> {
  const results: FuzzResult[] = [];
  const agents = new Map<ServiceName, ReturnType<typeof keepAliveAgent>>();
  try {
    for (const fuzzer of routeFuzzers(ctx)) {
      if (options.only?.length && !options.only.some((o) => fuzzer.route.includes(o))) continue;
      let agent = agents.get(fuzzer.service);
      if (!agent) {
        agent = keepAliveAgent(options.concurrency ?? 4);
        agents.set(fuzzer.service, agent);
      }
      const cases = fc.sample(fuzzer.arbitrary, {
        numRuns: options.runsPerRoute,
        seed: options.seed,
      });
      const result: FuzzResult = {
        route: fuzzer.route,
        cases: cases.length,
        statuses: {},
        failures: [],
      };
      const failures = new Map<string, FuzzFailure & { size: number }>();
      const url = system.url(fuzzer.service);
      let next = 0;
      const worker = async () => {
        while (next < cases.length) {
          const req = cases[next++]!;
          let status: number | string;
          let kind: string | undefined;
          let body = '';
          try {
            const res = await httpRequest(url, {
              method: req.method,
              path: req.path,
              headers: req.headers,
              ...(req.body === undefined ? {} : { body: req.body }),
              agent,
              timeoutMs: 15_000,
            });
            status = res.status;
            body = res.body.slice(0, 500);
            kind = answerViolation(res, req.method);
            if (kind) {
              const code = /"code":"([^"]+)"/.exec(res.body)?.[1];
              kind = `${kind}${code ? ` (${code})` : ''}`;
            }
          } catch (error) {
            const code = (error as { code?: string }).code;
            // Node refuses some paths before sending: not an answer of the service, skip it.
            if (code === 'ERR_UNESCAPED_CHARACTERS' || code === 'ERR_INVALID_CHAR') continue;
            // The server answered 413 and closed while an oversized body was still being written.
            const oversized = req.body !== undefined && req.body.length > 1024 * 1024;
            if (oversized && (code === 'EPIPE' || code === 'ECONNRESET')) {
              result.statuses['closed on oversized body'] =
                (result.statuses['closed on oversized body'] ?? 0) + 1;
              continue;
            }
            status = code ?? 'error';
            kind = `no answer: ${(error as Error).message}`;
          }
          result.statuses[String(status)] = (result.statuses[String(status)] ?? 0) + 1;
          if (!kind) continue;
          const text = describe(req);
          const seen = failures.get(kind);
          if (!seen) {
            failures.set(kind, {
              route: fuzzer.route,
              kind,
              count: 1,
              example: text,
              status,
              body,
              size: text.length,
            });
          } else {
            seen.count++;
            if (text.length < seen.size)
              Object.assign(seen, { example: text, size: text.length, status, body });
          }
        }
      };
      await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
      result.failures = [...failures.values()].map(({ size: _size, ...f }) => f);
      results.push(result);
    }
  } finally {
    for (const agent of agents.values()) agent.destroy();
  }
  return results;
}
