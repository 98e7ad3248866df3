// The console's routes over HTTP (inject, each answer checked against the console's own OpenAPI
// document): sign-in, sessions and their cookie, the sign-in limit, CSRF and origin checks, the
// viewer's read-only role, security headers and the CSP, the overview's JSON against what
// JetStream itself reports, dead letters grouped and shown (hostile content escaped), a dry run
// and a redrive through notification-service's admin API to the end, the audit trail, and
// sign-out ending the session.
import { once } from 'node:events';
import t from 'tap';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { CONTENT_SECURITY_POLICY } from '../src/app.js';
import { newSession, sealSession } from '../src/lib/session.js';
import { SESSION_COOKIE } from '../src/plugins/session.js';
import {
  ADMIN_TOKEN,
  HOST,
  OPERATOR_TOKEN,
  ORIGIN,
  SESSION_SECRET,
  VIEWER_TOKEN,
  build,
  csrfOf,
  getPage,
  markup,
  postForm,
  publishSignups,
  signIn,
  testEnv,
  waitForDeadLetters,
  waitUntil,
  type Built,
} from './helper.js';

const form = { 'content-type': 'application/x-www-form-urlencoded' };

async function redisReady(built: Built) {
  if (built.app.redis.status !== 'ready') await once(built.app.redis, 'ready');
}

void t.test('without a session: pages go to sign-in, JSON and changes are 401', async (t) => {
  const { app } = await build(t);
  const page = await getPage(app, '/deadletters?reason=smtp');
  t.equal(page.statusCode, 303);
  t.equal(page.headers.location, '/signin?next=%2Fdeadletters%3Freason%3Dsmtp');
  const api = await app.inject({ url: '/api/overview', headers: { accept: 'application/json' } });
  t.equal(api.statusCode, 401);
  t.match(api.headers['content-type'], /^application\/problem\+json/);
  t.match(api.json(), { code: 'UNAUTHORIZED' });
  const post = await postForm(
    app,
    '/redrive/dry-run',
    undefined,
    { scope: 'filter' },
    { accept: '*/*' },
  );
  t.equal(post.statusCode, 401);
  const scripted = await app.inject({
    url: '/deadletters',
    headers: { host: HOST, accept: 'application/json' },
  });
  t.equal(scripted.statusCode, 401, 'a page asked for by a script: 401, not a redirect');
  t.match(scripted.headers['content-type'], /^application\/problem\+json/);
  t.match(scripted.json(), { code: 'UNAUTHORIZED' });
  const signin = await getPage(app, '/signin?next=%2Fdeadletters');
  t.equal(signin.statusCode, 200);
  t.match(markup(signin.body), /<label for="token">Access token<\/label>/);
  t.match(markup(signin.body), /name="next" value="\/deadletters"/);
});

void t.test('security headers, a strict CSP, and the static files', async (t) => {
  const { app } = await build(t);
  const res = await getPage(app, '/signin');
  t.equal(res.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  t.match(CONTENT_SECURITY_POLICY, /default-src 'self'/);
  t.notMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.equal(res.headers['referrer-policy'], 'same-origin', 'the real Origin on form posts');
  t.equal(res.headers['cache-control'], 'no-store');
  t.notMatch(markup(res.body), /<script>|<style|style="|\son[a-z]+=/i, 'no inline script or style');
  t.match(markup(res.body), /<script src="\/static\/console.js" defer><\/script>/);
  const js = await app.inject({ url: '/static/console.js' });
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /^text\/javascript/);
  t.match(js.body, /data-live/);
  const again = await app.inject({
    url: '/static/console.js',
    headers: { 'if-none-match': String(js.headers.etag) },
  });
  t.equal(again.statusCode, 304, 'unchanged: 304');
  const css = await app.inject({ url: '/static/console.css' });
  t.match(css.headers['content-type'], /^text\/css/);
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200);
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'NATS and Postgres');
  t.match((await app.inject({ url: '/metrics' })).body, /http_request_duration_seconds/);
});

void t.test('sign-in: the cookie, wrong tokens, other origins, secure cookies', async (t) => {
  const built = await build(t);
  const { app } = built;
  await redisReady(built);
  const wrong = await postForm(app, '/signin', undefined, { token: 'not-the-token', name: 'eve' });
  t.equal(wrong.statusCode, 401);
  t.match(wrong.headers['content-type'], /^text\/html/);
  t.match(markup(wrong.body), /That token is not valid/);
  t.match(markup(wrong.body), /value="eve"/, 'the name is kept');
  t.notOk(wrong.headers['set-cookie'], 'no session');
  const scripted = await postForm(
    app,
    '/signin',
    undefined,
    { token: 'not-the-token' },
    { accept: 'application/json' },
  );
  t.equal(scripted.statusCode, 401, 'a script gets the same status');
  t.match(scripted.headers['content-type'], /^application\/problem\+json/);
  t.match(scripted.json(), { status: 401, code: 'INVALID_TOKEN' });

  const ok = await postForm(app, '/signin', undefined, {
    token: OPERATOR_TOKEN,
    name: 'ada',
    next: '/deadletters',
  });
  t.equal(ok.statusCode, 303);
  t.equal(ok.headers.location, '/deadletters');
  const cookie = String(ok.headers['set-cookie']);
  t.match(
    cookie,
    /^ops_session=v1\.[\w-]+\.[\w-]+; Path=\/; Max-Age=28800; HttpOnly; SameSite=Strict$/,
  );

  const open = await postForm(app, '/signin', undefined, {
    token: OPERATOR_TOKEN,
    next: '//evil.example/x',
  });
  t.equal(open.headers.location, '/', 'no open redirect');

  const cross = await postForm(
    app,
    '/signin',
    undefined,
    { token: OPERATOR_TOKEN },
    { origin: 'https://evil.example', accept: '*/*' },
  );
  t.equal(cross.statusCode, 403);
  t.match(cross.json(), { code: 'ORIGIN_MISMATCH' });

  const secure = await build(t, { env: built.env, vars: { OPS_COOKIE_SECURE: 'true' } });
  const s = await postForm(secure.app, '/signin', undefined, { token: VIEWER_TOKEN });
  t.match(String(s.headers['set-cookie']), /; Secure$/, 'OPS_COOKIE_SECURE: Secure');

  const proxied = await build(t, { env: built.env, vars: { OPS_TRUST_PROXY: 'true' } });
  const p = await postForm(
    proxied.app,
    '/signin',
    undefined,
    { token: VIEWER_TOKEN },
    { 'x-forwarded-proto': 'https', origin: `https://${HOST}` },
  );
  t.equal(p.statusCode, 303);
  t.match(String(p.headers['set-cookie']), /; Secure$/, 'behind TLS: Secure');
});

void t.test('failed sign-ins are limited per IP', async (t) => {
  const built = await build(t, {
    env: await testEnv(t, { vars: { OPS_SIGNIN_FAILURES_MAX: '3' } }),
  });
  await redisReady(built);
  const attempt = (token: string, remoteAddress = '10.0.0.1') =>
    built.app.inject({
      method: 'POST',
      url: '/signin',
      remoteAddress,
      headers: { host: HOST, origin: ORIGIN, accept: 'text/html', ...form },
      payload: new URLSearchParams({ token }).toString(),
    });
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await attempt(`wrong-${i}`)).statusCode);
  t.same(statuses, [401, 401, 401, 429], 'three wrong tokens, then refused');
  const locked = await attempt(OPERATOR_TOKEN);
  t.equal(locked.statusCode, 429, 'even the right token waits out the window');
  t.ok(Number(locked.headers['retry-after']) >= 1, 'Retry-After');
  t.match(markup(locked.body), /Too many requests/);
  t.equal((await attempt(OPERATOR_TOKEN, '10.0.0.2')).statusCode, 303, 'other IPs unaffected');
});

void t.test('sessions: expired, forged and signed-out ones are no session', async (t) => {
  const built = await build(t);
  const { app } = built;
  await redisReady(built);
  const expired = sealSession(
    newSession('operator', 'ada', 60, Date.now() - 120_000),
    SESSION_SECRET,
  );
  t.equal(
    (await getPage(app, '/', { cookie: `ops_session=${expired}`, csrf: '' })).statusCode,
    303,
  );
  const forged = sealSession(newSession('operator', 'ada', 60), 'not-the-secret'.repeat(3));
  t.equal((await getPage(app, '/', { cookie: `ops_session=${forged}`, csrf: '' })).statusCode, 303);

  const session = await signIn(app, VIEWER_TOKEN, 'vic');
  t.equal((await getPage(app, '/redrives', session)).statusCode, 200);
  const noCsrf = await postForm(app, '/signout', session, {}, { accept: '*/*' });
  t.equal(noCsrf.statusCode, 403, 'sign-out needs the CSRF token too');
  const out = await postForm(app, '/signout', session, { _csrf: session.csrf });
  t.equal(out.statusCode, 303);
  t.equal(out.headers.location, '/signin');
  t.match(String(out.headers['set-cookie']), /^ops_session=; Path=\/; Max-Age=0; HttpOnly/);
  const replayed = await getPage(app, '/redrives', session);
  t.equal(replayed.statusCode, 303, 'the old cookie is revoked');
  const api = await app.inject({ url: '/api/overview', headers: { cookie: session.cookie } });
  t.equal(api.statusCode, 401);
});

void t.test(
  'the overview: readiness, streams and consumers as JetStream reports them',
  async (t) => {
    const built = await build(t);
    const { app, env } = built;
    const session = await signIn(app, VIEWER_TOKEN);
    await publishSignups(env, 3);
    const jsm = env.system.nats.jsm;
    const n = env.names;
    await waitUntil('the three emails, acknowledged', async () => {
      const c = await jsm.consumers.info(n.streams.users, n.consumers.welcomeEmail);
      return env.sink.messages.length >= 3 && c.num_pending === 0 && c.num_ack_pending === 0;
    });
    const overviewNow = () =>
      app.inject({
        url: '/api/overview',
        headers: { cookie: session.cookie, accept: 'application/json' },
      });
    // notification-service counts a send once it is acknowledged: wait for its count to say 3.
    const res = await waitUntil('the console to count 3 emails sent', async () => {
      const r = await overviewNow();
      return r.json().overview.emails.value?.sent.value === 3 ? r : undefined;
    });
    t.equal(res.statusCode, 200);
    const { overview, fields } = res.json();
    const users = await jsm.streams.info(n.streams.users);
    const stream = overview.streams.find((s: { role: string }) => s.role === 'users');
    t.match(stream, {
      name: n.streams.users,
      exists: true,
      messages: users.state.messages,
      bytes: users.state.bytes,
    });
    t.equal(fields['stream.users.messages'], String(users.state.messages));
    const info = await jsm.consumers.info(n.streams.users, n.consumers.welcomeEmail);
    const consumer = overview.consumers.find(
      (c: { name: string }) => c.name === n.consumers.welcomeEmail,
    );
    t.match(consumer, {
      stream: n.streams.users,
      pending: info.num_pending,
      ackPending: info.num_ack_pending,
      maxAckPending: info.config.max_ack_pending,
      redelivered: info.num_redelivered,
    });
    t.same(
      overview.consumers.map((c: { name: string }) => c.name).sort(),
      [n.consumers.deadletterWorker, n.consumers.profileCache, n.consumers.welcomeEmail].sort(),
    );
    t.match(overview.services, [
      { name: 'signup-service', status: 'unreachable' },
      { name: 'profile-service', status: 'unreachable' },
      { name: 'notification-service', status: 'ready' },
    ]);
    t.match(overview.emails, { ok: true, value: { sent: { value: 3 } } });
    t.match(overview.outbox, { ok: true });
    t.match(overview.cache, { ok: false, error: /fetch failed|ECONNREFUSED/ });

    const page = await getPage(app, '/', session);
    t.equal(page.statusCode, 200);
    t.match(
      markup(page.body),
      /<main id="main" tabindex="-1" data-live="\/api\/overview" data-live-ms="5000">/,
    );
    t.match(
      markup(page.body),
      new RegExp(`data-field="stream.users.messages">${users.state.messages}<`),
    );
    t.match(
      markup(page.body),
      /data-field="svc.notification-service.status" data-state-field="svc.notification-service.status" data-state="ready" class="badge">ready</,
    );
    t.match(markup(page.body), /profile-service metrics unavailable/);
  },
);

void t.test(
  'dead letters: groups, filters, detail, hostile content escaped; the viewer changes nothing',
  async (t) => {
    const env = await testEnv(t);
    const built = await build(t, { env });
    const { app } = built;
    env.sink.failNext(3, 550, 'Mailbox <b>unavailable</b>');
    const signups = await publishSignups(env, 3);
    const h = natsHeaders();
    h.set('x-evil', '"><img src=x onerror=alert(1)>');
    await env.system.nats.js.publish(
      env.names.subjects.userSignedUp,
      '<script>alert("poison")</script>',
      {
        msgID: 'poison-1',
        headers: h,
      },
    );
    await waitForDeadLetters(env, 4);

    const viewer = await signIn(app, VIEWER_TOKEN, 'vic');
    const groups = await app.inject({
      url: '/api/deadletters/groups',
      headers: { cookie: viewer.cookie, accept: 'application/json' },
    });
    t.equal(groups.statusCode, 200);
    const body = groups.json();
    t.equal(body.total, 4);
    t.equal(body.groups.length, 2);
    t.match(body.groups[0], {
      count: 3,
      signature: /^smtp_permanent: smtp 550 Mailbox <b>unavailable<\/b>/,
    });
    t.match(body.groups[1], { count: 1, signature: /^invalid_payload/ });
    const smtpGroup = body.groups[0];

    const page = await getPage(app, '/deadletters', viewer);
    t.equal(page.statusCode, 200);
    t.match(markup(page.body), /Mailbox &lt;b&gt;unavailable&lt;\/b&gt;/, 'the reason escaped');
    t.notMatch(markup(page.body), /<b>unavailable<\/b>/);
    t.notMatch(markup(page.body), /action="\/redrive/, 'a viewer gets no redrive form');
    t.notMatch(markup(page.body), /type="checkbox"/);
    t.match(markup(page.body), /Read-only session/);

    const filtered = await getPage(app, `/deadletters?group=${smtpGroup.id}`, viewer);
    t.equal(markup(filtered.body).match(/<tr data-seq=/g)?.length, 3, 'the group: 3 dead letters');
    const byReason = await getPage(app, '/deadletters?reason=INVALID_payload', viewer);
    t.equal(
      markup(byReason.body).match(/<tr data-seq=/g)?.length,
      1,
      'reason: case-insensitive substring',
    );
    const future = await getPage(app, '/deadletters?since=2999-01-01T00:00', viewer);
    t.equal(markup(future.body).match(/<tr data-seq=/g), null, 'time range');
    const bad = await getPage(
      app,
      '/deadletters?since=2025-12-03T00:00&until=2025-12-02T00:00',
      viewer,
    );
    t.equal(bad.statusCode, 400);
    t.match(markup(bad.body), /INVALID_FILTER/);

    const poison = (
      await app.inject({
        url: '/api/deadletters/groups',
        headers: { cookie: viewer.cookie, accept: 'application/json' },
      })
    ).json().groups[1].seqs[0];
    const detail = await getPage(app, `/deadletters/${poison}`, viewer);
    t.equal(detail.statusCode, 200);
    t.match(
      markup(detail.body),
      /&lt;script&gt;alert\(&quot;poison&quot;\)&lt;\/script&gt;/,
      'payload escaped',
    );
    t.match(
      markup(detail.body),
      /&quot;&gt;&lt;img src&#61;x onerror&#61;alert\(1\)&gt;/,
      'header escaped',
    );
    t.notMatch(markup(detail.body), /<img|<script>alert/);
    t.match(markup(detail.body), /<code>Dlq-Reason<\/code>/, 'every header');
    const smtpDetail = await getPage(app, `/deadletters/${smtpGroup.seqs[0]}`, viewer);
    const first = signups[0]!;
    t.match(
      markup(smtpDetail.body),
      new RegExp(`<dd><code>${first.traceparent.split('-')[1]}</code></dd>`),
      'trace id',
    );
    t.match(
      markup(smtpDetail.body),
      new RegExp(`${env.names.streams.users} #${first.seq}`),
      'original stream and seq',
    );
    t.match(
      markup(smtpDetail.body),
      /&quot;displayName&quot;: &quot;User 0&quot;/,
      'payload pretty-printed',
    );
    t.equal((await getPage(app, '/deadletters/999999', viewer)).statusCode, 404);

    // A forged post with the viewer's valid session and CSRF token.
    const forged = await postForm(
      app,
      '/redrive/dry-run',
      viewer,
      { _csrf: viewer.csrf, scope: 'group', group: smtpGroup.id },
      { accept: '*/*' },
    );
    t.equal(forged.statusCode, 403);
    t.match(forged.headers['content-type'], /^application\/problem\+json/);
    t.match(forged.json(), { status: 403, code: 'OPERATOR_ONLY' });
    const start = await postForm(
      app,
      '/redrive',
      viewer,
      { _csrf: viewer.csrf, seqs: smtpGroup.seqs.join(','), rate: '100' },
      { accept: '*/*' },
    );
    t.match(start.json(), { status: 403, code: 'OPERATOR_ONLY' });
    const html = await postForm(app, '/redrive/dry-run', viewer, {
      _csrf: viewer.csrf,
      scope: 'group',
      group: smtpGroup.id,
    });
    t.equal(html.statusCode, 403);
    t.match(markup(html.body), /Read-only session/, 'a browser gets the refusal as a page');
    t.equal(await env.prisma.deadLetterRedrive.count(), 0, 'nothing reached the admin API');
    t.equal(await env.prisma.redriveJob.count(), 0);
  },
);

void t.test('CSRF and origin checks on every change', async (t) => {
  const built = await build(t);
  const { app } = built;
  const ada = await signIn(app, OPERATOR_TOKEN, 'ada');
  const bob = await signIn(app, OPERATOR_TOKEN, 'bob');
  const post = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    postForm(
      app,
      '/redrive/dry-run',
      ada,
      { scope: 'filter', ...fields },
      { accept: '*/*', ...headers },
    );
  t.match((await post({})).json(), { status: 403, code: 'CSRF_FAILED' }, 'no token');
  t.match((await post({ _csrf: bob.csrf })).json(), { code: 'CSRF_FAILED' }, "another session's");
  t.match((await post({ _csrf: ada.csrf }, { origin: 'https://evil.example' })).json(), {
    code: 'ORIGIN_MISMATCH',
  });
  t.match((await post({ _csrf: ada.csrf }, { origin: 'null' })).json(), {
    code: 'ORIGIN_MISMATCH',
  });
  const noOrigin = await app.inject({
    method: 'POST',
    url: '/redrive/dry-run',
    headers: { host: HOST, cookie: ada.cookie, ...form },
    payload: new URLSearchParams({ _csrf: ada.csrf, scope: 'filter' }).toString(),
  });
  t.match(noOrigin.json(), { code: 'ORIGIN_MISMATCH' }, 'neither Origin nor Referer');
  const referer = await app.inject({
    method: 'POST',
    url: '/redrive/dry-run',
    headers: { host: HOST, cookie: ada.cookie, referer: `${ORIGIN}/deadletters`, ...form },
    payload: new URLSearchParams({ _csrf: ada.csrf, scope: 'filter' }).toString(),
  });
  t.equal(referer.statusCode, 200, 'a same-origin Referer will do');
  const json = await app.inject({
    method: 'POST',
    url: '/redrive/dry-run',
    headers: { host: HOST, origin: ORIGIN, cookie: ada.cookie, 'content-type': 'application/json' },
    payload: JSON.stringify({ scope: 'filter' }),
  });
  t.match(json.json(), { status: 403, code: 'CSRF_FAILED' }, 'a JSON body needs the token too');
});

void t.test('dry run, redrive with progress to the end, the audit trail', async (t) => {
  const env = await testEnv(t);
  const built = await build(t, { env });
  const { app } = built;
  env.sink.failNext(3, 550, 'Mailbox unavailable');
  await publishSignups(env, 3);
  await env.system.nats.js.publish(env.names.subjects.userSignedUp, 'not json', {
    msgID: 'poison-2',
  });
  await waitForDeadLetters(env, 4);
  const ada = await signIn(app, OPERATOR_TOKEN, 'ada');
  const list = await getPage(app, '/deadletters', ada);
  t.match(markup(list.body), /action="\/redrive\/dry-run"/, 'an operator gets the forms');
  const groups = (
    await app.inject({ url: '/api/deadletters/groups', headers: { cookie: ada.cookie } })
  ).json().groups;
  const smtp = groups.find((g: { signature: string }) => g.signature.startsWith('smtp_permanent'));

  const dry = await postForm(app, '/redrive/dry-run', ada, {
    _csrf: ada.csrf,
    scope: 'group',
    group: smtp.id,
  });
  t.equal(dry.statusCode, 200);
  const listed = [...dry.body.matchAll(/<tr data-seq="(\d+)">/g)].map((m) => Number(m[1]));
  t.same(listed, smtp.seqs, 'the dry run lists exactly the group');
  t.match(markup(dry.body), new RegExp(`name="seqs" value="${smtp.seqs[0]}-${smtp.seqs[2]}"`));
  t.equal(
    await env.prisma.deadLetterRedrive.count({
      where: { dryRun: true, actor: 'http:console:ada' },
    }),
    3,
    'the dry run is on record, by ada',
  );
  t.equal(
    (await env.system.nats.jsm.streams.info(env.names.streams.deadletter)).state.messages,
    4,
    'nothing moved',
  );

  // A redrive that another process is running: refused, followed, cancellable.
  const other = await env.prisma.redriveJob.create({
    data: {
      id: crypto.randomUUID(),
      status: 'running',
      actor: 'cli:ops',
      filter: {},
      rate: 1,
      owner: 'elsewhere',
    },
  });
  const busy = await postForm(app, '/redrive', ada, {
    _csrf: csrfOf(markup(dry.body)),
    seqs: '1-3',
    rate: '50',
  });
  t.equal(busy.statusCode, 409);
  t.match(
    markup(busy.body),
    new RegExp(`href="/redrives/${other.id}"`),
    'a link to the running one',
  );
  const cancel = await postForm(app, `/redrives/${other.id}/cancel`, ada, { _csrf: ada.csrf });
  t.equal(cancel.statusCode, 303);
  t.equal(cancel.headers.location, `/redrives/${other.id}`);
  t.match(
    markup((await getPage(app, `/redrives/${other.id}`, ada)).body),
    /running \(cancelling\)/,
  );
  await env.prisma.redriveJob.update({
    where: { id: other.id },
    data: { status: 'cancelled', finishedAt: new Date() },
  });
  const again = await postForm(
    app,
    `/redrives/${other.id}/cancel`,
    ada,
    { _csrf: ada.csrf },
    { accept: '*/*' },
  );
  t.match(again.json(), { status: 409, code: 'REDRIVE_FINISHED' });

  const seqs = /name="seqs" value="([^"]+)"/.exec(markup(dry.body))![1]!;
  const start = await postForm(app, '/redrive', ada, { _csrf: ada.csrf, seqs, rate: '20' });
  t.equal(start.statusCode, 303);
  const id = /^\/redrives\/([0-9a-f-]{36})$/.exec(String(start.headers.location))?.[1];
  t.ok(id, 'to the job page');
  const jobPage = await getPage(app, `/redrives/${id}`, ada);
  t.equal(jobPage.statusCode, 200);
  t.match(markup(jobPage.body), /<progress id="job-progress"/);
  const final = await waitUntil('the redrive to finish', async () => {
    const res = await app.inject({ url: `/api/redrives/${id}`, headers: { cookie: ada.cookie } });
    const b = res.json();
    return b.final ? b : undefined;
  });
  t.match(final.job, {
    status: 'succeeded',
    total: 3,
    moved: 3,
    failed: 0,
    actor: 'http:console:ada',
    rate: 20,
  });
  t.equal(final.fields['job.progress'], '3 of 3 done');
  await env.sink.waitFor(3, 30_000);
  t.equal(env.sink.messages.length, 3, 'delivered once the SMTP fault is gone');
  t.equal((await env.system.nats.jsm.streams.info(env.names.streams.deadletter)).state.messages, 1);

  const audit = await getPage(app, '/redrives', ada);
  t.match(
    markup(audit.body),
    new RegExp(`<tr data-job="${id}">.*http:console:ada.*succeeded.*3 of 3 moved`, 's'),
  );
  t.match(markup(audit.body), /Dry runs/);
  const done = await getPage(app, `/redrives/${id}`, ada);
  t.equal(
    markup(done.body).match(/<td class="num">\d+<\/td><td>[^<]*user\.signed_up<\/td>/g)?.length,
    3,
    'what it moved',
  );
  t.notMatch(markup(done.body), /data-live=/, 'a finished job does not refresh');
  t.notMatch(markup(done.body), /Cancel this redrive/);

  const empty = await postForm(
    app,
    '/redrive/dry-run',
    ada,
    { _csrf: ada.csrf, scope: 'selected' },
    { accept: '*/*' },
  );
  t.match(empty.json(), { status: 400, code: 'INVALID_SELECTION' });
  const gone = await postForm(
    app,
    '/redrive/dry-run',
    ada,
    { _csrf: ada.csrf, scope: 'group', group: smtp.id },
    { accept: '*/*' },
  );
  t.match(gone.json(), { status: 404, code: 'GROUP_NOT_FOUND' });
});

void t.test('without ADMIN_TOKEN the console reads everything and cannot redrive', async (t) => {
  const env = await testEnv(t);
  const { app } = await build(t, { env, vars: { ADMIN_TOKEN: undefined } });
  const ada = await signIn(app, OPERATOR_TOKEN);
  const res = await postForm(
    app,
    '/redrive/dry-run',
    ada,
    { _csrf: ada.csrf, scope: 'filter' },
    { accept: '*/*' },
  );
  t.match(res.json(), { status: 503, code: 'REDRIVE_DISABLED' });
  t.equal((await getPage(app, '/', ada)).statusCode, 200);
  void ADMIN_TOKEN;
});

void t.test('the Postgres session is read-only', async (t) => {
  const { app } = await build(t);
  await t.rejects(
    app.prisma.$executeRaw`DELETE FROM redrive_jobs`,
    /read-only transaction/,
    'a write is refused by Postgres itself',
  );
  t.same(await app.ops.audit.jobs(), []);
});

void t.test("the document's session scheme names the cookie the console sets", async (t) => {
  const { app } = await build(t);
  const res = await app.inject({ url: '/openapi.json', headers: { host: HOST } });
  const doc = res.json<{
    components?: { securitySchemes?: Record<string, { in?: string; name?: string }> };
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  }>();
  t.match(doc.components?.securitySchemes?.consoleSession, { in: 'cookie', name: SESSION_COOKIE });
  t.same(doc.paths['/deadletters']?.get?.security, [{ consoleSession: [] }]);
  t.same(doc.paths['/signin']?.post?.security, [], 'signing in needs no session');
});
