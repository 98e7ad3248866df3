// The typed client over real HTTP against signup-service and profile-service, each built by its
// own test helper (isolated Postgres, Redis and NATS) and listening on a free port, sharing one
// database and one key pair as they do when deployed: sign up, log in, read one's own profile,
// update it, and the documented problems (404, 409, 401) arrive as ApiErrors with their `code`.
// Then the generated types are what generation makes from the checked-in api.json now.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import {
  ApiError,
  answerText,
  createApiClient,
  timed,
  unwrap,
  type ProblemCode,
  type Profile,
} from '../src/index.js';
import { CLIENT_TYPES, clientTypesDifference, generateClientTypes } from '../src/generate.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

interface Listening {
  listen(options: { port: number; host: string }): Promise<string>;
}
interface ServiceHelper {
  build(
    t: Test,
    overrides?: { vars?: Record<string, string> },
  ): Promise<{ app: Listening; env: { databaseUrl?: string } }>;
  keys?: { publicKey: string };
}

/** A service's test helper, imported by path (its types stay the service's own business). */
async function helper(name: string): Promise<ServiceHelper> {
  const file = join(ROOT, 'services', name, 'test', 'helper.ts');
  return (await import(pathToFileURL(file).href)) as ServiceHelper;
}

/** signup-service and profile-service on one database, profile-service trusting signup's key. */
async function services(t: Test): Promise<{ signup: string; profile: string }> {
  const signupHelper = await helper('signup-service');
  const signup = await signupHelper.build(t);
  const profile = await (
    await helper('profile-service')
  ).build(t, {
    vars: {
      DATABASE_URL: signup.env.databaseUrl!,
      JWT_PUBLIC_KEY: signupHelper.keys!.publicKey,
    },
  });
  const listen = (app: Listening) => app.listen({ port: 0, host: '127.0.0.1' });
  return { signup: await listen(signup.app), profile: await listen(profile.app) };
}

/** The ApiError a call rejects with (failing the test when it does not). */
async function apiError(t: Test, call: Promise<unknown>): Promise<ApiError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, ApiError, 'the call rejects with an ApiError');
  return error as ApiError;
}

void t.test('signup, log in, read and update one own profile, typed problems', async (t) => {
  const urls = await services(t);
  const signupApi = createApiClient({ baseUrl: urls.signup });
  const profileApi = createApiClient({ baseUrl: urls.profile });
  const email = `client-${randomUUID().slice(0, 8)}@example.com`;
  const password = 'correct horse 9 battery';

  const created = await timed(
    signupApi.POST('/v1/signup', {
      body: { email, password, displayName: 'Ada Client' },
      params: { header: { 'idempotency-key': randomUUID() } },
    }),
  );
  t.equal(created.response.status, 201, 'POST /v1/signup: 201');
  t.ok(created.ms >= 0, 'timed() tells how long the call took');
  const userId = created.data!.userId;
  t.match(userId, /^[0-9a-f-]{36}$/, 'the new user id');

  const session = await unwrap(signupApi.POST('/v1/sessions', { body: { email, password } }));
  t.type(session.accessToken, 'string', 'POST /v1/sessions: an access token');

  const read = await profileApi.GET('/v1/profiles/{id}', { params: { path: { id: userId } } });
  t.equal(read.response.status, 200, 'GET /v1/profiles/{id}: 200');
  t.equal(read.response.headers.get('x-cache'), 'MISS', 'the first read comes from the database');
  const profile: Profile = read.data!;
  t.match(profile, { id: userId, displayName: 'Ada Client', bio: null, version: 1 });

  // The session's token, given to the client once: bearerAuth sends it on every request.
  const own = createApiClient({ baseUrl: urls.profile, token: session.accessToken });
  const patched = await unwrap(
    own.PATCH('/v1/profiles/{id}', {
      params: { path: { id: userId } },
      body: { bio: 'Typed all the way' },
    }),
  );
  t.match(patched, { id: userId, bio: 'Typed all the way', version: 2 }, 'PATCH: the new profile');
  const again = await unwrap(
    profileApi.GET('/v1/profiles/{id}', { params: { path: { id: userId } } }),
  );
  t.equal(again.bio, 'Typed all the way', 'the next read shows the update');

  const missing = await apiError(
    t,
    unwrap(profileApi.GET('/v1/profiles/{id}', { params: { path: { id: randomUUID() } } })),
  );
  t.equal(missing.status, 404);
  const notFound: ProblemCode<'getProfile'> | undefined = 'PROFILE_NOT_FOUND';
  t.equal(missing.code, notFound, '404 carries its problem code');
  t.match(missing.problem, { status: 404, code: notFound, title: String });
  t.match(missing.message, /404 PROFILE_NOT_FOUND/);

  const taken = await apiError(
    t,
    unwrap(signupApi.POST('/v1/signup', { body: { email, password, displayName: 'Twice' } })),
  );
  t.equal(taken.status, 409);
  t.equal(taken.code, 'EMAIL_TAKEN', '409 EMAIL_TAKEN for an email already signed up');

  // Without unwrap the answer is the document's error type, and the response is at hand.
  const anonymous = await profileApi.PATCH('/v1/profiles/{id}', {
    params: { path: { id: userId } },
    body: { bio: 'not allowed' },
  });
  t.equal(anonymous.response.status, 401, 'PATCH without a token: 401');
  t.equal(anonymous.error?.code, 'UNAUTHORIZED');
  t.match(answerText(anonymous.error), /"code":"UNAUTHORIZED"/);
});

void t.test('a per-request Authorization wins over the client token; timeouts apply', async (t) => {
  const urls = await services(t);
  const signupApi = createApiClient({ baseUrl: urls.signup });
  const email = `client-${randomUUID().slice(0, 8)}@example.com`;
  const { userId, accessToken } = await unwrap(
    signupApi.POST('/v1/signup', {
      body: { email, password: 'correct horse 9 battery', displayName: 'Grace' },
    }),
  );
  const withToken = createApiClient({ baseUrl: urls.profile, token: () => 'not.a.jwt' });
  const refused = await withToken.PATCH('/v1/profiles/{id}', {
    params: { path: { id: userId } },
    body: { bio: 'x' },
  });
  t.equal(refused.response.status, 401, "the client's token is sent: an invalid one is refused");
  const overridden = await withToken.PATCH('/v1/profiles/{id}', {
    params: { path: { id: userId } },
    body: { bio: 'x' },
    headers: { authorization: `Bearer ${accessToken}` },
  });
  t.equal(overridden.response.status, 200, "the request's own Authorization is sent instead");

  // A server that takes the connection and never answers.
  const silent = createServer(() => undefined);
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => {
    silent.closeAllConnections();
    silent.close();
  });
  const { port } = silent.address() as AddressInfo;
  const unreachable = createApiClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 200 });
  await t.rejects(
    unreachable.GET('/v1/profiles/{id}', { params: { path: { id: userId } } }),
    { name: 'TimeoutError' },
    'a request that gets no answer fails with a TimeoutError',
  );
});

void t.test('src/api.ts is what openapi-typescript makes from api.json now', async (t) => {
  const document: unknown = JSON.parse(readFileSync(join(ROOT, CLIENT_TYPES.source), 'utf8'));
  const generated = await generateClientTypes(ROOT, document as object);
  const current = readFileSync(join(ROOT, CLIENT_TYPES.file), 'utf8');
  t.equal(clientTypesDifference(generated, current), undefined, 'up to date (else: pnpm openapi)');
  t.match(
    clientTypesDifference(generated, current.replace('userId: string;', 'userId: number;')),
    /packages\/client\/src\/api\.ts is stale: line \d+ is .*userId: number/,
    'an edited file is reported, with the line',
  );
  t.match(clientTypesDifference(generated, undefined), /does not exist/);
});
