// The OpenAPI contract end to end: every service, started as its tests start it, serves its
// document over HTTP; their merge is deploy/openapi/api.json as checked in (`pnpm openapi`
// regenerates it), and Redocly finds no problem in any of them. Then the checks themselves, on
// inputs that must fail: the merge refuses clashes, the lint reports a bad document, and the
// contract validation every service test runs under rejects each kind of drift.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { problemResponse } from '@app/contracts';
import { createApp, httpError } from '@app/platform';
import {
  checkInjects,
  checkOpenApi,
  diffJson,
  fetchChecked,
  GATEWAY_DOCUMENT,
  lintOpenApi,
  mergeOpenApi,
  type ContractApp,
  type OpenApiDocument,
} from '@app/testing';
import { REPO_ROOT } from '../src/index.js';

interface ServiceApp extends ContractApp {
  listen(options: { port: number; host: string }): Promise<string>;
}
type Build = (t: Test) => Promise<{ app: ServiceApp }>;

void t.test(
  'the services serve their documents; api.json is their merge; all lint clean',
  async (t) => {
    const served = async (names: readonly string[]) => {
      const documents: Record<string, OpenApiDocument> = {};
      for (const name of names) {
        const helper = join(REPO_ROOT, 'services', name, 'test', 'helper.ts');
        const { build } = (await import(pathToFileURL(helper).href)) as { build: Build };
        const { app } = await build(t);
        const address = await app.listen({ port: 0, host: '127.0.0.1' });
        const res = await fetchChecked(app, `${address}/openapi.json`);
        t.equal(res.status, 200, `${name} serves /openapi.json`);
        documents[name] = (await res.json()) as OpenApiDocument;
      }
      return documents;
    };
    const names = GATEWAY_DOCUMENT.services;
    const file = join(REPO_ROOT, GATEWAY_DOCUMENT.file);
    const result = await checkOpenApi({
      root: REPO_ROOT,
      documents: await served(names),
      alone: await served(GATEWAY_DOCUMENT.alone),
      current: JSON.parse(readFileSync(file, 'utf8')),
    });
    t.same(result.stale, [], `${GATEWAY_DOCUMENT.file} is up to date (else: pnpm openapi)`);
    t.same(
      result.lint.map((r) => r.name),
      [...names, ...GATEWAY_DOCUMENT.alone, 'api.json'],
      'every document is linted',
    );
    for (const lint of result.lint) {
      t.same(lint.problems, [], `redocly: ${lint.name} has no problem`);
      t.equal(lint.errors + lint.warnings, 0, `redocly: ${lint.name}: 0 errors, 0 warnings`);
    }
    const merged = result.merged as {
      paths: Record<string, Record<string, { 'x-service'?: string }>>;
    };
    t.equal(merged.paths['/v1/signup']?.post?.['x-service'], 'signup-service');
    t.equal(merged.paths['/v1/profiles/{id}']?.patch?.['x-service'], 'profile-service');
    t.equal(merged.paths['/admin/deadletters']?.get?.['x-service'], 'notification-service');
    t.notOk(merged.paths['/health/ready'], "each instance's own routes stay out of the merge");
    t.notOk(merged.paths['/signin'], 'the console is not behind the gateway');
  },
);

const doc = (paths: Record<string, unknown>, components: Record<string, unknown> = {}) => ({
  openapi: '3.0.3',
  info: { title: 'x', version: '1', license: { name: 'UNLICENSED' } },
  paths,
  components,
});
const op = (operationId: string) => ({ operationId, responses: { 200: { description: 'ok' } } });

void t.test('the merge refuses every clash instead of renaming', async (t) => {
  const merge = (docs: Record<string, OpenApiDocument>) =>
    mergeOpenApi(docs, GATEWAY_DOCUMENT.merge);
  t.throws(
    () => merge({ a: doc({ '/x': { get: op('one') } }), b: doc({ '/x': { get: op('two') } }) }),
    /GET \/x is in both a and b/,
  );
  t.throws(
    () => merge({ a: doc({ '/x': { get: op('one') } }), b: doc({ '/y': { get: op('one') } }) }),
    /operationId one is in both a and b/,
  );
  t.throws(
    () =>
      merge({
        a: doc({}, { schemas: { P: { type: 'string' } } }),
        b: doc({}, { schemas: { P: { type: 'integer' } } }),
      }),
    /component schemas\/P differs between a and b/,
  );
  const internal = { ...op('probe'), 'x-internal': true };
  const merged = merge({
    a: doc({ '/x': { get: op('one') }, '/health': { get: internal } }),
    b: doc({ '/y': { post: op('two') }, '/health': { get: internal } }),
  }) as { paths: Record<string, unknown> };
  t.same(Object.keys(merged.paths), ['/x', '/y'], 'x-internal operations are left out');
  t.same(diffJson({ a: 1, b: { c: 2 } }, { b: { c: 3 }, d: 4 }), [
    '+ .a (missing from the file)',
    '~ .b.c changed',
    '- .d (no longer generated)',
  ]);
});

void t.test('the lint reports a document with problems', async (t) => {
  const [result] = await lintOpenApi(REPO_ROOT, { bad: doc({ '/x': { get: op('one') } }) });
  t.ok(result && result.errors > 0, 'errors: no summary, no security, no servers');
  t.match(result?.problems.join('\n'), /operation-summary/);
});

void t.test('the contract check rejects each kind of drift', async (t) => {
  const app = createApp({ name: 'contract-demo', logger: false });
  t.teardown(() => app.close());
  const thing = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } };
  app.get(
    '/things/:id',
    {
      schema: {
        summary: 'A thing',
        operationId: 'getThing',
        security: [],
        response: {
          200: {
            description: 'The thing',
            headers: { etag: { type: 'string', description: 'its version', required: true } },
            content: { 'application/json': { schema: thing } },
          },
          404: problemResponse({ THING_NOT_FOUND: 'no such thing' }),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      // An answer no route should give: its status is declared nowhere.
      if (id === 'teapot')
        return (reply as { code(c: number): typeof reply }).code(418).send({ id });
      if (id === 'missing') throw httpError(404, 'THING_NOT_FOUND', 'Not found');
      if (id === 'gone') throw httpError(404, 'GONE_ELSEWHERE', 'Not found');
      if (id === 'untagged') return reply.type('application/json').send(JSON.stringify({ id }));
      if (id === 'numeric')
        return reply.header('etag', '"1"').type('application/json').send('{"id":5}');
      if (id === 'text') return reply.header('etag', '"1"').type('text/plain').send('a thing');
      return reply.header('etag', '"1"').send({ id });
    },
  );
  // @fastify/swagger's `hide` (its types are not loaded here): a route the document leaves out.
  const hidden: Record<string, unknown> = { hide: true };
  app.get('/hidden', { schema: hidden }, async () => ({ ok: true }));
  await app.ready();
  // Typed without @fastify/swagger's augmentation here, so not known to have `swagger()`.
  const checked: unknown = app;
  checkInjects(checked as ContractApp);

  const get = (url: string) => app.inject({ method: 'GET', url });
  t.equal((await get('/things/1')).statusCode, 200, 'a response that keeps to the contract');
  t.equal((await get('/things/missing')).statusCode, 404, 'a declared problem');
  t.equal((await get('/nowhere')).statusCode, 404, 'an unmatched URL: the problem+json 404');
  t.equal((await app.inject({ method: 'HEAD', url: '/things/1' })).statusCode, 200, 'HEAD');
  const reject = (url: string, pattern: RegExp, what: string) => t.rejects(get(url), pattern, what);
  await reject(
    '/things/teapot',
    /GET \/things\/\{id\} \(getThing\) answered 418, which it does not declare/,
    'an undeclared status',
  );
  await reject(
    '/things/gone',
    /answered 404: .*code must be equal to one of the allowed values/,
    'an undeclared code',
  );
  await reject('/things/untagged', /answered 200 without its header etag/, 'a missing header');
  await reject(
    '/things/numeric',
    /answered 200: the application\/json body breaks the schema: \/id must be string/,
    'a body off its schema',
  );
  await reject(
    '/things/text',
    /answered 200 as text\/plain, which it does not declare/,
    'an undeclared content type',
  );
  await reject(
    '/hidden',
    /GET \/hidden is answered by a route the OpenAPI document does not list/,
    'an undocumented route',
  );
});
