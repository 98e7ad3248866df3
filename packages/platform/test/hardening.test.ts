// Answers Fastify and node write before any hook runs (a malformed URL, an over-long path
// parameter, request headers over 16 KiB) are problem+json with the security headers like every
// other answer; SafeString refuses what Postgres cannot store, through Fastify's own ajv.
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SafeString } from '@app/contracts';
import { Type } from '@sinclair/typebox';
import helmet from '@fastify/helmet';
import Fastify from 'fastify';
import t, { type Test } from 'tap';
import { CommonEnv, SECURITY_HEADERS, corsOrigins, createApp, loadConfig } from '../src/index.js';

function build(t: Test) {
  const app = createApp({ name: 'demo', logger: false });
  t.teardown(() => app.close());
  app.get('/v1/things/:id', async (request) => request.params);
  return app;
}

// The headers an answer carries beyond the security ones.
const OWN_HEADERS = ['x-request-id', 'content-type', 'content-length', 'date', 'connection'];
const securityHeadersOf = (headers: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(headers).filter(([h]) => !OWN_HEADERS.includes(h)));

void t.test('SECURITY_HEADERS is exactly what @fastify/helmet sets', async (t) => {
  const app = Fastify({ logger: false });
  t.teardown(() => app.close());
  // The platform's helmet options: its defaults without a CSP.
  await app.register(helmet, { contentSecurityPolicy: false, global: true });
  app.get('/', async () => ({ ok: true }));
  const res = await app.inject({ method: 'GET', url: '/' });
  t.same(securityHeadersOf(res.headers), SECURITY_HEADERS);
});

void t.test("an app's answer carries SECURITY_HEADERS and nothing else of its own", async (t) => {
  const app = build(t);
  const res = await app.inject({ method: 'GET', url: '/v1/things/1' });
  t.equal(res.statusCode, 200);
  t.same(securityHeadersOf(res.headers), SECURITY_HEADERS);
  t.ok(res.headers['x-request-id'], 'x-request-id');
});

void t.test('a malformed percent-encoding is a 400 problem with security headers', async (t) => {
  const app = build(t);
  for (const [method, url] of [
    ['GET', '/v1/things/%'],
    ['GET', '/v1/things/%E0%A4%A'],
    ['PUT', '/%/%'],
    ['HEAD', '/%/%'],
  ] as const) {
    const res = await app.inject({ method, url });
    t.equal(res.statusCode, 400, `${method} ${url}`);
    t.match(res.headers['content-type'], /^application\/problem\+json/);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      t.equal(res.headers[name], value, `${method} ${url}: ${name}`);
    }
    t.ok(res.headers['x-request-id'], 'x-request-id');
    if (method !== 'HEAD') {
      t.match(res.json(), { status: 400, code: 'BAD_URL', title: 'The URL is not valid' });
    }
  }
});

void t.test('an over-long path parameter is a 414 problem with security headers', async (t) => {
  const app = build(t);
  const res = await app.inject({ method: 'GET', url: `/v1/things/${'a'.repeat(500)}` });
  t.equal(res.statusCode, 414);
  t.match(res.headers['content-type'], /^application\/problem\+json/);
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.match(res.json(), { status: 414, code: 'URI_TOO_LONG' });
});

/** A raw request over a real socket: node's parser answers these before Fastify. */
function rawRequest(port: number, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/v1/things/1', headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    },
  );
}

void t.test('request headers over 16 KiB: a 431 problem with security headers', async (t) => {
  const app = build(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const res = await rawRequest(port, { 'x-padding': 'x'.repeat(20_000) });
  t.equal(res.status, 431);
  t.match(res.headers['content-type'], /^application\/problem\+json/);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) t.equal(res.headers[name], value);
  t.match(JSON.parse(res.body), {
    type: 'https://errors.demo.example/headers-too-large',
    status: 431,
    code: 'HEADERS_TOO_LARGE',
  });
  t.notMatch(res.body, 'xxxxxxxx', 'the headers are not echoed');
  const ok = await rawRequest(port, {});
  t.equal(ok.status, 200, 'the server still serves');
});

void t.test(
  'SafeString through ajv: NUL and lone surrogates 400, astral text passes',
  async (t) => {
    const app = build(t);
    const Body = Type.Object({
      name: SafeString({ minLength: 1, maxLength: 20, pattern: '\\S' }),
      bio: SafeString({ maxLength: 50 }),
    });
    app.post('/echo', { schema: { body: Body } }, async (request) => request.body);
    const post = (payload: unknown) =>
      app.inject({
        method: 'POST',
        url: '/echo',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });

    const good = await post({ name: 'Zoë 😀', bio: '👩‍👩‍👧‍👦 family' });
    t.equal(good.statusCode, 200, 'emoji and combining text pass');
    t.same(good.json(), { name: 'Zoë 😀', bio: '👩‍👩‍👧‍👦 family' });

    for (const [what, payload] of [
      ['NUL', { name: 'a\u0000b', bio: '' }],
      ['lone high surrogate', { name: 'ok', bio: 'x\ud800' }],
      ['reversed pair', { name: 'ok', bio: '\udfff\ud800' }],
    ] as const) {
      const res = await post(payload);
      t.equal(res.statusCode, 400, what);
      const body = res.json();
      t.equal(body.code, 'VALIDATION_FAILED');
      t.match(body.detail, /must not contain NUL characters or unpaired UTF-16 surrogates/, what);
    }
    const blank = await post({ name: '   ', bio: '' });
    t.equal(blank.statusCode, 400, "the field's own pattern still applies");
    t.match(blank.json().detail, 'must match pattern "\\S"');
  },
);

void t.test('CORS_ORIGINS: parsed, validated, and empty means no CORS', async (t) => {
  const Env = Type.Object({ CORS_ORIGINS: CommonEnv.CORS_ORIGINS });
  t.equal(loadConfig(Env, {}).CORS_ORIGINS, '');
  t.same(corsOrigins(''), []);
  const value = loadConfig(Env, { CORS_ORIGINS: 'https://app.example, http://localhost:5173' });
  t.same(corsOrigins(value.CORS_ORIGINS), ['https://app.example', 'http://localhost:5173']);
  t.throws(() => loadConfig(Env, { CORS_ORIGINS: 'https://app.example/path' }), /CORS_ORIGINS/);
  t.throws(() => loadConfig(Env, { CORS_ORIGINS: '*' }), /CORS_ORIGINS/);

  const app = createApp({ name: 'demo', logger: false, cors: { origins: [] } });
  t.teardown(() => app.close());
  app.get('/x', async () => ({ ok: true }));
  const res = await app.inject({
    method: 'OPTIONS',
    url: '/x',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
  });
  t.notOk(res.headers['access-control-allow-origin'], 'no origin is granted');
});
