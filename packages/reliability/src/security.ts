// Hostile-client checks against the running services: forged and misused JWTs, admin routes
// without or with a wrong token, rate limits, body and header size limits, security headers on
// every answer (errors included), CORS, and finally the children's logs searched for the secrets
// the checks used. Each check is a named pass/fail with what was seen, so that the test asserts
// them one by one and the report lists them.
//
// Well-formed calls (signups, logins, profile reads and updates with whatever token, the admin
// routes' controls) go through the typed client of @app/client; what is malformed on purpose
// (oversized bodies and headers, bad URLs, NUL characters, CORS preflights) goes out raw.
import { createHmac, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { answerText, type Result } from '@app/client';
import { httpRequest, problemViolation, type HttpResponse } from './http.js';
import { startSystem, type System } from './system.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Headers @fastify/helmet sets that every answer must carry. */
export const SECURITY_HEADERS: Record<string, RegExp> = {
  'x-content-type-options': /^nosniff$/,
  'x-frame-options': /^SAMEORIGIN$/,
  'strict-transport-security': /max-age=\d+/,
  'referrer-policy': /no-referrer/,
  'x-dns-prefetch-control': /^off$/,
  'cross-origin-resource-policy': /same-origin/,
};

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT signed with `alg`: EdDSA with a PEM private key, HS256 with a secret, none unsigned. */
export function forgeJwt(
  alg: 'EdDSA' | 'HS256' | 'none',
  claims: Record<string, unknown>,
  key = '',
): string {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  if (alg === 'none') return `${head}.`;
  if (alg === 'HS256')
    return `${head}.${createHmac('sha256', key).update(head).digest('base64url')}`;
  return `${head}.${sign(null, Buffer.from(head), createPrivateKey(key)).toString('base64url')}`;
}

export const SECURITY_PASSWORD = 'Sekr3t-Passw0rd-never-logged';

export interface SecurityOptions {
  /** SIGNUP_RATE_SIGNUP_MAX / SIGNUP_RATE_LOGIN_EMAIL_MAX the system was started with. */
  signupMax: number;
  loginEmailMax: number;
  /** The one origin signup-service was started to grant (CORS_ORIGINS). */
  corsOrigin: string;
}

/** What the security checks run against: small rate limits, one CORS origin, debug logs to search. */
export const SECURITY_LIMITS: SecurityOptions = {
  signupMax: 8,
  loginEmailMax: 5,
  corsOrigin: 'https://app.example',
};

/** A system started for securityChecks(system, SECURITY_LIMITS). */
export function startSecuritySystem(): Promise<System> {
  return startSystem({
    logLevel: 'debug',
    env: {
      'signup-service': {
        SIGNUP_RATE_SIGNUP_MAX: String(SECURITY_LIMITS.signupMax),
        SIGNUP_RATE_LOGIN_EMAIL_MAX: String(SECURITY_LIMITS.loginEmailMax),
        CORS_ORIGINS: SECURITY_LIMITS.corsOrigin,
      },
    },
  });
}

export async function securityChecks(system: System, options: SecurityOptions): Promise<Check[]> {
  const checks: Check[] = [];
  const answers: Array<{ what: string; res: HttpResponse }> = [];
  const secrets = new Set<string>([SECURITY_PASSWORD, system.adminToken]);
  const signupUrl = system.url('signup-service');
  const profileUrl = system.url('profile-service');
  const notifyUrl = system.url('notification-service');
  // The typed clients; one with a token sends it as `Authorization: Bearer <token>`.
  const signupApi = system.api('signup-service');
  const profileApi = (token?: string) => system.api('profile-service', token);
  const notifyApi = (token?: string) => system.api('notification-service', token);
  let signupsUsed = 0;

  const call = async (what: string, url: string, init: Parameters<typeof httpRequest>[1]) => {
    const res = await httpRequest(url, init);
    answers.push({ what, res });
    return res;
  };
  /** A typed call; its answer is kept like a raw one (its body: the JSON it parsed, again). */
  const typed = async <R extends Result>(what: string, request: Promise<R>) => {
    const result = await request;
    const res: HttpResponse = {
      status: result.response.status,
      headers: Object.fromEntries(result.response.headers),
      body: answerText(result.data ?? result.error),
    };
    answers.push({ what, res });
    return { ...result, res };
  };
  const expect = (name: string, res: HttpResponse, statuses: number[]) => {
    const problem = res.status >= 400 ? problemViolation(res) : undefined;
    const ok = statuses.includes(res.status) && !problem;
    checks.push({
      name,
      ok,
      detail: `HTTP ${res.status}${problem ? `, not problem+json: ${problem}` : ''} ${res.body.slice(0, 200)}`,
    });
  };
  const jsonInit = (
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
  ) => ({
    method,
    path,
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const signup = async (tag: string) => {
    signupsUsed++;
    const email = `${tag}-${randomUUID().slice(0, 8)}@security.example`;
    const { data, res } = await typed(
      'signup',
      signupApi.POST('/v1/signup', {
        body: { email, password: SECURITY_PASSWORD, displayName: tag },
      }),
    );
    if (!data) throw new Error(`signup failed: ${res.status} ${res.body}`);
    secrets.add(data.accessToken);
    return { email, ...data };
  };

  const alice = await signup('alice');
  const bob = await signup('bob');
  const now = Math.floor(Date.now() / 1000);
  const claims = (extra: Record<string, unknown> = {}) => ({
    sub: alice.userId,
    iss: 'signup-service',
    aud: 'app',
    iat: now,
    exp: now + 600,
    ...extra,
  });
  const patch = async (token: string | undefined, id = alice.userId) => {
    const request = profileApi(token).PATCH('/v1/profiles/{id}', {
      params: { path: { id } },
      body: { bio: 'changed' },
    });
    return (await typed('patch', request)).res;
  };

  const forged: Array<[string, string, number[]]> = [
    ['JWT alg none -> 401', forgeJwt('none', claims()), [401]],
    [
      'JWT HS256 signed with the public key -> 401',
      forgeJwt('HS256', claims(), system.keys.publicKey),
      [401],
    ],
    [
      'JWT expired -> 401',
      forgeJwt('EdDSA', claims({ iat: now - 7200, exp: now - 3600 }), system.keys.privateKey),
      [401],
    ],
    [
      'JWT wrong audience -> 401',
      forgeJwt('EdDSA', claims({ aud: 'other-app' }), system.keys.privateKey),
      [401],
    ],
    [
      'JWT wrong issuer -> 401',
      forgeJwt('EdDSA', claims({ iss: 'evil' }), system.keys.privateKey),
      [401],
    ],
    [
      'JWT without sub -> 401',
      forgeJwt('EdDSA', claims({ sub: undefined }), system.keys.privateKey),
      [401],
    ],
    ['JWT garbage -> 401', 'not.a.jwt', [401]],
  ];
  for (const [name, token, statuses] of forged) {
    secrets.add(token);
    expect(name, await patch(token), statuses);
  }
  expect('no Authorization -> 401', await patch(undefined), [401]);
  expect("another user's token (sub) -> 403", await patch(bob.accessToken), [403]);
  expect('own token -> 200 (control)', await patch(alice.accessToken), [200]);
  const unreadable = await typed(
    'get',
    profileApi().GET('/v1/profiles/{id}', { params: { path: { id: alice.userId } } }),
  );
  checks.push({
    name: 'rejected tokens changed nothing (bio written once, by the owner)',
    ok: unreadable.res.status === 200 && unreadable.data?.version === 2,
    detail: unreadable.res.body.slice(0, 200),
  });

  // Admin routes.
  const admin = async (request: Promise<Result>) => (await typed('admin', request)).res;
  const adminRoutes: Array<[string, (token: string | undefined) => Promise<HttpResponse>]> = [
    [
      'GET /admin/deadletters',
      (token) =>
        admin(notifyApi(token).GET('/admin/deadletters', { params: { query: { limit: 100 } } })),
    ],
    [
      'POST /admin/deadletters/redrive',
      (token) =>
        admin(
          notifyApi(token).POST('/admin/deadletters/redrive', {
            body: { filter: {}, dryRun: true },
          }),
        ),
    ],
  ];
  for (const [route, send] of adminRoutes) {
    expect(`${route} without a token -> 401`, await send(undefined), [401]);
    const wrong = `${system.adminToken.slice(0, -1)}x`;
    secrets.add(wrong);
    expect(`${route} with a wrong token -> 401`, await send(wrong), [401]);
    expect(`${route} with the user's JWT -> 401`, await send(alice.accessToken), [401]);
    expect(`${route} with the admin token -> 200 (control)`, await send(system.adminToken), [200]);
  }

  // Body size limits (1 MiB): 413 problem+json on every route that takes a body.
  const big = JSON.stringify({
    email: 'a@b.example',
    password: 'x'.repeat(1_200_000),
    displayName: 'x',
  });
  const bodyRoutes: Array<[string, string, string, Record<string, string>]> = [
    [signupUrl, 'POST', '/v1/signup', {}],
    [signupUrl, 'POST', '/v1/sessions', {}],
    [
      profileUrl,
      'PATCH',
      `/v1/profiles/${alice.userId}`,
      { authorization: `Bearer ${alice.accessToken}` },
    ],
    [
      notifyUrl,
      'POST',
      '/admin/deadletters/redrive',
      { authorization: `Bearer ${system.adminToken}` },
    ],
  ];
  // The service answers 413 from Content-Length and closes the connection while the client may
  // still be writing the body: under load the client can then see a reset before it reads the
  // answer (HTTP/1.1's known race; the gateway's nginx absorbs it with a lingering close). Up to
  // three tries for an answer; any answer that is not 413 fails at once.
  for (const [url, method, path, headers] of bodyRoutes) {
    const resets: string[] = [];
    let res: HttpResponse | undefined;
    while (!res && resets.length < 3) {
      res = await call('big', url, jsonInit(method, path, big, headers)).catch((err: Error) => {
        resets.push(err.message);
        return undefined;
      });
    }
    if (res) expect(`${method} ${path} with a 1.2 MB body -> 413`, res, [413]);
    else
      checks.push({
        name: `${method} ${path} with a 1.2 MB body -> 413`,
        ok: false,
        detail: `no answer in ${resets.length} tries: ${resets.join('; ')}`,
      });
  }

  // Header size: node's parser answers before the app; the answer must still be a problem.
  const hugeHeader = await call('431', profileUrl, {
    path: `/v1/profiles/${alice.userId}`,
    headers: { 'x-padding': 'x'.repeat(20_000) },
  }).catch((e: Error): HttpResponse => ({ status: 0, headers: {}, body: e.message }));
  expect('20 kB of request headers -> 431 problem+json', hugeHeader, [431]);

  // Malformed URLs and over-long params are Fastify "framework errors": same contract.
  const badUrl = await call('bad url', profileUrl, { path: '/v1/profiles/%E0%A4%A' });
  expect('malformed percent-encoding in the path -> 400 problem+json', badUrl, [400]);
  const longParam = await call('long param', profileUrl, {
    path: `/v1/profiles/${'a'.repeat(500)}`,
  });
  expect('over-long path parameter -> 4xx problem+json', longParam, [400, 404, 414]);

  // Input Postgres cannot store (NUL) is a client mistake, not a 500.
  const nulSignup = await call(
    'nul',
    signupUrl,
    jsonInit('POST', '/v1/signup', {
      email: `nul-${randomUUID().slice(0, 8)}@security.example`,
      password: SECURITY_PASSWORD,
      displayName: 'Nul\u0000Name',
    }),
  );
  signupsUsed++;
  expect('signup with NUL in displayName -> 400', nulSignup, [400]);
  expect(
    'login with NUL in email -> 400/401',
    await call(
      'nul',
      signupUrl,
      jsonInit('POST', '/v1/sessions', { email: `a\u0000@b.example`, password: 'whatever 1' }),
    ),
    [400, 401],
  );
  expect(
    'profile PATCH with NUL in bio -> 400',
    await patch(undefined).then(() =>
      call(
        'nul',
        profileUrl,
        jsonInit(
          'PATCH',
          `/v1/profiles/${alice.userId}`,
          { bio: 'a\u0000b' },
          { authorization: `Bearer ${alice.accessToken}` },
        ),
      ),
    ),
    [400],
  );

  // CORS: the services configure no origins, so no origin may be allowed.
  for (const [name, url] of [
    ['signup-service', signupUrl],
    ['profile-service', profileUrl],
    ['notification-service', notifyUrl],
  ] as const) {
    const pre = await call('cors', url, {
      method: 'OPTIONS',
      path: name === 'profile-service' ? `/v1/profiles/${alice.userId}` : '/health/live',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'PATCH' },
    });
    const simple = await call('cors', url, {
      path: '/health/live',
      headers: { origin: 'https://evil.example' },
    });
    const allowed =
      pre.headers['access-control-allow-origin'] ?? simple.headers['access-control-allow-origin'];
    checks.push({
      name: `${name}: no CORS grant for https://evil.example`,
      ok: allowed === undefined,
      detail: `preflight ${pre.status}, access-control-allow-origin: ${String(allowed)}`,
    });
  }
  // The one configured origin is granted, by the real process, and only that one.
  const granted = await call('cors', signupUrl, {
    method: 'OPTIONS',
    path: '/v1/signup',
    headers: { origin: options.corsOrigin, 'access-control-request-method': 'POST' },
  });
  checks.push({
    name: `signup-service (CORS_ORIGINS=${options.corsOrigin}): that origin granted`,
    ok: granted.headers['access-control-allow-origin'] === options.corsOrigin,
    detail: `preflight ${granted.status}, access-control-allow-origin: ${String(granted.headers['access-control-allow-origin'])}`,
  });

  // Rate limits, last: they use up the budget. Logins per email, then signups per IP.
  let loginRes: HttpResponse | undefined;
  for (let i = 0; i <= options.loginEmailMax; i++) {
    const login = signupApi.POST('/v1/sessions', {
      body: { email: alice.email, password: `wrong-${SECURITY_PASSWORD}` },
    });
    loginRes = (await typed('login', login)).res;
  }
  secrets.add(`wrong-${SECURITY_PASSWORD}`);
  expect(`login ${options.loginEmailMax + 1} times for one email -> 429`, loginRes!, [429]);
  checks.push({
    name: 'login 429 carries Retry-After',
    ok: /^\d+$/.test(String(loginRes!.headers['retry-after'] ?? '')),
    detail: `retry-after: ${String(loginRes!.headers['retry-after'])}`,
  });
  let signupRes: HttpResponse | undefined;
  for (let i = signupsUsed; i <= options.signupMax; i++) {
    const answer = await typed(
      'signup',
      signupApi.POST('/v1/signup', {
        body: {
          email: `rl-${randomUUID().slice(0, 8)}@security.example`,
          password: SECURITY_PASSWORD,
          displayName: 'rl',
        },
      }),
    );
    signupRes = answer.res;
    if (answer.data) secrets.add(answer.data.accessToken);
  }
  expect(`signup ${options.signupMax + 1} times from one IP -> 429`, signupRes!, [429]);

  // Security headers on every answer seen above (200, 201, 4xx...).
  const missing = answers.flatMap(({ what, res }) =>
    Object.entries(SECURITY_HEADERS)
      .filter(([h, re]) => !re.test(String(res.headers[h] ?? '')))
      .map(([h]) => `${what} ${res.status}: ${h}`),
  );
  const statuses = [...new Set(answers.map((a) => a.res.status))].sort().join(',');
  checks.push({
    name: `security headers on every answer (statuses ${statuses})`,
    ok: missing.length === 0,
    detail: missing.length
      ? [...new Set(missing)].slice(0, 8).join('; ')
      : `${answers.length} answers`,
  });

  // Logs: none of the secrets used above may appear in any child's output.
  const logs = system.logs();
  const leaked = [...secrets, system.keys.privateKey.split('\n')[1] ?? ''].filter(
    (s) => s.length >= 8 && logs.includes(s),
  );
  checks.push({
    name: 'logs contain no password, token, admin token or private key',
    ok: leaked.length === 0,
    detail: leaked.length
      ? `leaked: ${leaked.map((s) => `${s.slice(0, 12)}...`).join(', ')}`
      : `${logs.length} bytes of logs searched for ${secrets.size} secrets`,
  });
  return checks;
}
