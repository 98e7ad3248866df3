import createError from '@fastify/error';
import { Type } from '@sinclair/typebox';
import t, { type Test } from 'tap';
import { createApp, httpError, redactSecrets, type CreateAppOptions } from '../src/index.js';
import { logSink } from './helpers.js';

function build(t: Test, options: Partial<CreateAppOptions> = {}) {
  const sink = logSink();
  const app = createApp({ name: 'demo', version: '1.2.3', logStream: sink.stream, ...options });
  t.teardown(() => app.close());
  return { app, sink };
}

const Body = Type.Object(
  {
    email: Type.String({ format: 'email' }),
    displayName: Type.String({ minLength: 1, maxLength: 10 }),
    age: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

void t.test('problem+json for an unknown route', async (t) => {
  const { app } = build(t);
  const res = await app.inject({ method: 'GET', url: '/nope?x=1' });
  t.equal(res.statusCode, 404);
  t.match(res.headers['content-type'], /^application\/problem\+json/);
  const body = res.json();
  t.match(body, {
    type: 'https://errors.demo.example/not-found',
    title: 'Not found',
    status: 404,
    code: 'NOT_FOUND',
    detail: 'No route for GET /nope',
    instance: '/nope?x=1',
  });
  t.equal(body.requestId, res.headers['x-request-id']);
});

void t.test('a validation error lists every bad field', async (t) => {
  const { app } = build(t);
  app.post('/users', { schema: { body: Body } }, async (request) => request.body);
  const res = await app.inject({
    method: 'POST',
    url: '/users',
    payload: { email: 'not-an-email', displayName: '', age: '12', extra: true },
  });
  t.equal(res.statusCode, 400);
  t.match(res.headers['content-type'], /^application\/problem\+json/);
  const body = res.json();
  t.equal(body.code, 'VALIDATION_FAILED');
  t.equal(body.type, 'https://errors.demo.example/validation-failed');
  t.equal(body.status, 400);
  const paths = (body.errors as Array<{ path: string; message: string }>).map((e) => e.path).sort();
  // "12" is not coerced in a body: a JSON client must send a number.
  t.same(paths, ['body.age', 'body.displayName', 'body.email', 'body.extra']);
  for (const e of body.errors as Array<{ message: string }>) t.type(e.message, 'string');
});

void t.test('a missing required property is named', async (t) => {
  const { app } = build(t);
  app.post('/users', { schema: { body: Body } }, async (request) => request.body);
  const res = await app.inject({ method: 'POST', url: '/users', payload: { email: 'a@b.co' } });
  t.equal(res.statusCode, 400);
  const paths = res
    .json()
    .errors.map((e: { path: string }) => e.path)
    .sort();
  t.same(paths, ['body.age', 'body.displayName']);
});

void t.test('query strings and params are coerced to their declared types', async (t) => {
  const { app } = build(t);
  app.get(
    '/items/:id',
    {
      schema: {
        params: Type.Object({ id: Type.Integer() }),
        querystring: Type.Object({ limit: Type.Integer({ maximum: 50, default: 10 }) }),
      },
    },
    async (request) => ({ id: request.params.id, limit: request.query.limit }),
  );
  const ok = await app.inject({ method: 'GET', url: '/items/7?limit=20' });
  t.equal(ok.statusCode, 200);
  t.same(ok.json(), { id: 7, limit: 20 });
  const bad = await app.inject({ method: 'GET', url: '/items/x?limit=99' });
  t.equal(bad.statusCode, 400);
  t.same(
    bad
      .json()
      .errors.map((e: { path: string }) => e.path)
      .sort(),
    ['params.id'],
  );
});

void t.test('string-only params arrive as sent; a route hook sees converted values', async (t) => {
  const { app } = build(t);
  app.get(
    '/codes/:code',
    { schema: { params: Type.Object({ code: Type.String({ pattern: '^[0-9]+$' }) }) } },
    async (request) => ({ code: request.params.code }),
  );
  let seen: unknown;
  app.get(
    '/pages/:n',
    {
      schema: { params: Type.Object({ n: Type.Integer() }) },
      preValidation: async (request) => {
        seen = (request.params as { n: unknown }).n;
      },
    },
    async (request) => ({ n: request.params.n }),
  );
  const code = await app.inject({ method: 'GET', url: '/codes/007' });
  t.same(code.json(), { code: '007' }, 'a string id is not turned into a number');
  const page = await app.inject({ method: 'GET', url: '/pages/3' });
  t.same(page.json(), { n: 3 });
  t.equal(seen, 3, "the route's own preValidation hook runs after the conversion");
});

void t.test('a thrown error is a 500 without internals, and it is logged', async (t) => {
  const { app, sink } = build(t);
  app.get('/boom', async () => {
    throw new Error('database password is hunter2 at /srv/app.ts:42');
  });
  const res = await app.inject({ method: 'GET', url: '/boom' });
  t.equal(res.statusCode, 500);
  t.match(res.headers['content-type'], /^application\/problem\+json/);
  const body = res.json();
  t.match(body, {
    status: 500,
    code: 'INTERNAL',
    title: 'Internal server error',
    instance: '/boom',
  });
  t.notMatch(res.body, 'hunter2');
  t.notMatch(res.body, 'app.ts');
  t.notOk('stack' in body);
  const line = await sink.waitFor((l) => l.msg === 'request failed');
  t.equal(line.level, 'error');
  t.equal(line.requestId, body.requestId);
  t.match((line.err as { message: string }).message, 'hunter2');
  t.match((line.err as { stack: string }).stack, /Error: database password/);
});

void t.test('errors below 500 keep their code and message', async (t) => {
  const { app } = build(t);
  const ProfileNotFound = createError('PROFILE_NOT_FOUND', 'Profile %s not found', 404);
  app.get('/fastify-error', async () => {
    throw new ProfileNotFound('abc');
  });
  app.get('/http-error', async () => {
    throw httpError(409, 'EMAIL_TAKEN', 'Email already registered', 'a@b.co is taken');
  });
  app.get('/unavailable', async () => {
    throw httpError(503, 'DEPENDENCY_DOWN', 'Try again later');
  });

  const answer = async (url: string) => {
    const res = await app.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() };
  };
  t.match(await answer('/fastify-error'), {
    status: 404,
    body: {
      code: 'PROFILE_NOT_FOUND',
      detail: 'Profile abc not found',
      type: 'https://errors.demo.example/profile-not-found',
    },
  });
  t.match(await answer('/http-error'), {
    status: 409,
    body: { code: 'EMAIL_TAKEN', title: 'Email already registered', detail: 'a@b.co is taken' },
  });
  // A problem thrown on purpose keeps its 5xx status and code.
  t.match(await answer('/unavailable'), {
    status: 503,
    body: { code: 'DEPENDENCY_DOWN', title: 'Try again later' },
  });
  t.throws(() => httpError(200, 'X', 'x'), RangeError);
});

void t.test('invalid JSON, unsupported media type and a too-large body', async (t) => {
  const { app } = build(t, { bodyLimit: 1024 });
  app.post('/echo', async (request) => request.body);

  const post = (contentType: string, payload: string) =>
    app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': contentType }, payload });

  const json = await post('application/json', '{"a":');
  t.equal(json.statusCode, 400);
  t.match(json.headers['content-type'], /^application\/problem\+json/);
  t.match(json.json(), { code: 'INVALID_JSON', status: 400 });

  const media = await post('application/xml', '<a/>');
  t.equal(media.statusCode, 415);
  t.match(media.json(), { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 });

  const large = await post('application/json', JSON.stringify({ a: 'x'.repeat(2048) }));
  t.equal(large.statusCode, 413);
  t.match(large.json(), { code: 'PAYLOAD_TOO_LARGE', status: 413 });
});

void t.test('request ids round-trip', async (t) => {
  const { app, sink } = build(t);
  app.get('/hello', async (request) => {
    request.log.info('hello handler');
    return { id: request.id };
  });
  const honoured = await app.inject({
    method: 'GET',
    url: '/hello',
    headers: { 'x-request-id': 'edge-123:abc.def' },
  });
  t.equal(honoured.headers['x-request-id'], 'edge-123:abc.def');
  t.same(honoured.json(), { id: 'edge-123:abc.def' });
  const line = await sink.waitFor((l) => l.msg === 'hello handler');
  t.equal(line.requestId, 'edge-123:abc.def');
  t.equal(line.service, 'demo');
  t.match(line.time, /^\d{4}-\d\d-\d\dT/);

  const generated = await app.inject({ method: 'GET', url: '/hello' });
  t.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/);

  const insane = await app.inject({
    method: 'GET',
    url: '/hello',
    headers: { 'x-request-id': 'bad id with spaces <script>' },
  });
  t.match(insane.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  const tooLong = await app.inject({
    method: 'GET',
    url: '/hello',
    headers: { 'x-request-id': 'a'.repeat(129) },
  });
  t.match(tooLong.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  // Errors carry it too.
  const missing = await app.inject({
    method: 'GET',
    url: '/x',
    headers: { 'x-request-id': 'r-1' },
  });
  t.equal(missing.headers['x-request-id'], 'r-1');
  t.equal(missing.json().requestId, 'r-1');
});

void t.test('logs redact passwords in bodies and authorization headers', async (t) => {
  const { app, sink } = build(t);
  app.post('/signup', async (request) => {
    request.log.info({ body: request.body, headers: request.headers }, 'signup received');
    return { ok: true };
  });
  const res = await app.inject({
    method: 'POST',
    url: '/signup',
    headers: { authorization: 'Bearer secret-token-xyz', 'idempotency-key': 'idem-1' },
    payload: { email: 'a@b.co', password: 'correct horse battery', nested: { token: 'tok-123' } },
  });
  t.equal(res.statusCode, 200);
  const line = await sink.waitFor((l) => l.msg === 'signup received');
  const body = line.body as Record<string, unknown>;
  const headers = line.headers as Record<string, unknown>;
  t.equal(body.password, '[REDACTED]');
  t.same(body.nested, { token: '[REDACTED]' });
  t.equal(body.email, 'a@b.co');
  t.equal(headers.authorization, '[REDACTED]');
  t.equal(headers['idempotency-key'], 'idem-1', 'an idempotency key is not a secret');
  t.notMatch(sink.text(), 'correct horse');
  t.notMatch(sink.text(), 'secret-token-xyz');
  t.notMatch(sink.text(), 'tok-123');
});

void t.test(
  'secrets are redacted in errors, arrays and deep objects, never in place',
  async (t) => {
    const { app, sink } = build(t);
    const err = Object.assign(new Error('upstream refused'), {
      headers: { authorization: 'Bearer err-secret' },
    });
    const logged = {
      err,
      list: [{ password: 'in-an-array' }, 'plain'],
      a: { b: { c: { d: { e: { privateKey: 'six-deep' } } } } },
      headers: Object.assign(Object.create(null) as Record<string, string>, {
        cookie: 'sid=null-proto-secret',
      }),
    };
    app.log.warn(logged, 'with secrets');
    const line = await sink.waitFor((l) => l.msg === 'with secrets');
    t.match(line, {
      err: { message: 'upstream refused', headers: { authorization: '[REDACTED]' } },
      list: [{ password: '[REDACTED]' }, 'plain'],
      a: { b: { c: { d: { e: { privateKey: '[REDACTED]' } } } } },
      headers: { cookie: '[REDACTED]' },
    });
    t.match((line.err as { stack: string }).stack, /Error: upstream refused/, 'still an error');
    for (const secret of ['err-secret', 'in-an-array', 'six-deep', 'null-proto-secret']) {
      t.notMatch(sink.text(), secret);
    }
    t.equal(err.headers.authorization, 'Bearer err-secret', "the caller's objects are unchanged");
    t.equal(logged.list[0], logged.list[0]);
    t.same(logged.a.b.c.d.e, { privateKey: 'six-deep' });
  },
);

void t.test('redactSecrets returns what holds no secret as it is', async (t) => {
  const clean = { a: { b: [1, 2, { c: 'x' }] }, when: new Date(0) };
  t.equal(redactSecrets(clean), clean);
  class Holder {
    password = 'left to its serializer';
  }
  const holder = new Holder();
  t.equal(redactSecrets({ holder }).holder, holder, 'class instances are not walked');
  const out = redactSecrets({ keep: clean, token: 't' });
  t.equal(out.keep, clean, 'untouched branches are shared, not copied');
  t.equal(out.token, '[REDACTED]');
});

void t.test('one log line per request, with the request and the answer', async (t) => {
  const { app, sink } = build(t);
  app.get('/hello/:name', async () => ({ ok: true }));
  const res = await app.inject({ method: 'GET', url: '/hello/ann?x=1' });
  t.equal(res.statusCode, 200);
  const line = await sink.waitFor((l) => l.msg === 'request completed');
  t.match(line, {
    level: 'info',
    requestId: res.headers['x-request-id'],
    req: { method: 'GET', url: '/hello/ann?x=1' },
    res: { statusCode: 200 },
    responseTime: Number,
  });
  await app.inject({ method: 'GET', url: '/nowhere' });
  await sink.waitFor(
    (l) =>
      l.msg === 'request completed' &&
      l.req !== undefined &&
      (l.res as { statusCode: number }).statusCode === 404,
  );
  t.equal(
    sink.lines.filter((l) => l.msg === 'incoming request').length,
    0,
    'no arrival line at info',
  );
  t.equal(sink.lines.filter((l) => l.msg === 'request completed').length, 2);

  const debug = build(t, { logger: { level: 'debug' } });
  debug.app.get('/hello', async () => ({ ok: true }));
  await debug.app.inject({ method: 'GET', url: '/hello' });
  await debug.sink.waitFor((l) => l.msg === 'request completed');
  t.match(
    debug.sink.lines.find((l) => l.msg === 'incoming request'),
    { level: 'debug', req: { method: 'GET', url: '/hello' } },
    'the arrival is logged at debug',
  );
});

void t.test('health: live, ready, a failing check and shutdown', async (t) => {
  let dbUp = true;
  const { app } = build(t, {
    readiness: {
      db: async () => {
        if (!dbUp) throw new Error('connection refused');
      },
      slow: () => new Promise<void>((resolve) => setImmediate(resolve)),
    },
  });
  const live = await app.inject({ method: 'GET', url: '/health/live' });
  t.equal(live.statusCode, 200);
  t.same(live.json(), { status: 'ok' });

  const ready = await app.inject({ method: 'GET', url: '/health/ready' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json(), { status: 'ok', checks: { db: 'ok', slow: 'ok' } });

  dbUp = false;
  const failing = await app.inject({ method: 'GET', url: '/health/ready' });
  t.equal(failing.statusCode, 503);
  t.match(failing.headers['content-type'], /^application\/problem\+json/);
  t.match(failing.json(), {
    status: 503,
    code: 'NOT_READY',
    detail: 'Failed checks: db',
    checks: { db: 'failed', slow: 'ok' },
  });

  dbUp = true;
  app.markNotReady();
  const closing = await app.inject({ method: 'GET', url: '/health/ready' });
  t.equal(closing.statusCode, 503);
  t.match(closing.json(), { code: 'NOT_READY', detail: 'The service is shutting down' });
  // Liveness is unaffected: the process is fine, it is just leaving.
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200);
});

void t.test('a check that hangs fails after the timeout', async (t) => {
  const { app } = build(t, {
    readinessTimeoutMs: 50,
    readiness: { hangs: () => new Promise<void>(() => undefined) },
  });
  const res = await app.inject({ method: 'GET', url: '/health/ready' });
  t.equal(res.statusCode, 503);
  t.match(res.json(), { checks: { hangs: 'failed' } });
});

void t.test('/metrics has the latency histogram by route pattern', async (t) => {
  const { app } = build(t);
  app.get('/profiles/:id', async () => ({ ok: true }));
  await app.inject({ method: 'GET', url: '/profiles/123' });
  await app.inject({ method: 'GET', url: '/does-not-exist' });
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain/);
  t.match(
    res.body,
    /http_request_duration_seconds_count\{service="demo",method="GET",route="\/profiles\/:id",status_code="200"\} 1/,
  );
  t.match(res.body, /route="\(unmatched\)",status_code="404"/);
  t.notMatch(res.body, '/profiles/123');
  t.match(res.body, /process_cpu_user_seconds_total/);

  // Services add their own metrics to the same per-app registry.
  const other = build(t).app;
  await other.ready();
  t.not(other.metrics.registry, app.metrics.registry, 'each app has its own registry');
});

void t.test('/openapi.json lists the routes', async (t) => {
  const { app } = build(t);
  app.post(
    '/v1/users',
    { schema: { body: Body, response: { 201: Type.Object({ id: Type.String() }) } } },
    async (_request, reply) => reply.code(201).send({ id: 'x' }),
  );
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(res.statusCode, 200);
  const doc = res.json();
  t.match(doc.openapi, /^3\./);
  t.match(doc.info, { title: 'demo', version: '1.2.3', license: { name: 'UNLICENSED' } });
  t.ok(doc.paths['/v1/users'].post, 'the route is documented');
  t.ok(doc.paths['/health/ready'], 'health is documented');
  t.ok(doc.paths['/metrics']?.get, '/metrics is documented (text/plain)');
});

void t.test('security headers and CORS only for configured origins', async (t) => {
  const { app } = build(t, { cors: { origins: ['https://app.example'] } });
  app.get('/x', async () => ({ ok: true }));
  const allowed = await app.inject({
    method: 'GET',
    url: '/x',
    headers: { origin: 'https://app.example' },
  });
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.example');
  t.equal(allowed.headers['x-content-type-options'], 'nosniff');
  t.ok(allowed.headers['strict-transport-security']);
  const other = await app.inject({
    method: 'GET',
    url: '/x',
    headers: { origin: 'https://evil.example' },
  });
  t.notOk(other.headers['access-control-allow-origin']);

  const { app: noCors } = build(t);
  noCors.get('/x', async () => ({ ok: true }));
  const none = await noCors.inject({
    method: 'GET',
    url: '/x',
    headers: { origin: 'https://app.example' },
  });
  t.notOk(none.headers['access-control-allow-origin']);
});
