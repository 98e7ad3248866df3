// The console in a real browser (Debian's Chromium driven by playwright-core) against a running
// system: signup-, profile- and notification-service started in this process on their own
// isolated database, Redis prefix and NATS namespace. An operator signs in; the overview's
// numbers are what JetStream, Postgres and the services' /metrics say, refreshed without a
// reload; poison messages (a permanent SMTP 550, a payload that is not JSON) become dead letters
// in one group per failure; the group's dry run lists exactly its messages; the redrive moves
// them with live progress to done, they are delivered, and the audit trail shows who did it. All
// of that by keyboard. Then sign-out ends the session; a viewer sees everything and no redrive
// control, and a forged post with the viewer's own session and CSRF token is refused, as is one
// without the token; failed sign-ins are rate-limited. Pages have no horizontal scroll at 390 px,
// and the strict CSP is never violated.
/// <reference lib="dom" />
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { parseMetrics, sumOf } from '../src/lib/prometheus.js';
import {
  OPERATOR_TOKEN,
  VIEWER_TOKEN,
  build,
  deadLetterCount,
  testEnv,
  waitForDeadLetters,
  waitUntil,
  type TestEnv,
} from './helper.js';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const WAIT = { timeout: 60_000 };

async function launch(tap: {
  teardown(fn: () => unknown): void;
}): Promise<{ context: BrowserContext; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ops-console-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  tap.teardown(async () => {
    await context.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { context, dir };
}

async function signUp(env: TestEnv, i: number): Promise<string> {
  const res = await fetch(`${env.services.signup!.url}/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: `browser${i}-${Date.now()}@example.com`,
      password: 'correct horse 9 battery',
      displayName: `Browser User ${i}`,
    }),
  });
  if (res.status !== 201) throw new Error(`signup answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { userId: string }).userId;
}

/** The text of the element with data-field=`key`. */
function field(page: Page, key: string): Promise<string | null> {
  return page.locator(`[data-field="${key}"]`).first().textContent();
}

/** Waits until the page's data-field `key` reads `expected` (the page refreshes itself). */
async function fieldIs(page: Page, key: string, expected: string): Promise<void> {
  try {
    await page.waitForFunction(
      ([k, v]) => document.querySelector(`[data-field="${k}"]`)?.textContent === v,
      [key, expected] as const,
      WAIT,
    );
  } catch (err) {
    const now = await field(page, key).catch(() => null);
    throw new Error(`${key} never read "${expected}" (it reads ${JSON.stringify(now)})`, {
      cause: err,
    });
  }
}

/** Presses Tab until the focused element's name matches; returns every name passed on the way. */
async function tabTo(page: Page, name: RegExp, max = 120): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return '';
      const label = el.getAttribute('aria-label');
      const labelled = el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : null;
      return (label ?? labelled ?? el.textContent ?? '').replace(/\s+/g, ' ').trim();
    });
    seen.push(focused);
    if (name.test(focused)) return seen;
  }
  throw new Error(`Tab never reached ${name}; passed: ${seen.join(' | ')}`);
}

/**
 * A full-page screenshot, kept with the test's browser profile; with OPS_CONSOLE_SCREENSHOTS set
 * to a folder, also written there (how the README's screenshots are made).
 */
async function screenshot(page: Page, dir: string, name: string): Promise<void> {
  const shot = await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
  const out = process.env.OPS_CONSOLE_SCREENSHOTS;
  if (out) await writeFile(join(out, `${name}.png`), shot);
}

async function noHorizontalScroll(page: Page): Promise<{ scroll: number; width: number }> {
  return page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: document.documentElement.clientWidth,
  }));
}

void t.test('the console in a browser, against a running system', async (t) => {
  const env = await testEnv(t, {
    services: ['signup', 'profile', 'notification'],
    vars: { OPS_REFRESH_MS: '500', OPS_SIGNIN_FAILURES_MAX: '3' },
  });
  const { app: consoleApp } = await build(t, { env });
  const base = await consoleApp.listen({ port: 0, host: '127.0.0.1' });
  const { jsm } = env.system.nats;
  const n = env.names;

  const { context, dir: profileDir } = await launch(t);
  const page = context.pages()[0] ?? (await context.newPage());
  const violations: string[] = [];
  page.on('console', (msg) => {
    if (/Content.Security.Policy|Refused to/i.test(msg.text())) violations.push(msg.text());
  });
  page.on('pageerror', (err) => violations.push(`page error: ${err.message}`));

  await t.test('an operator signs in', async (t) => {
    await page.goto(`${base}/`);
    t.match(page.url(), /\/signin\?next=%2F$/, 'to the sign-in page first');
    await page.getByLabel('Access token').fill(OPERATOR_TOKEN);
    await page.getByLabel(/Your name/).fill('ada');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/`);
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Overview');
    t.match(await page.locator('.who').textContent(), /Signed in as ada \(operator\)/);
    const cookies = await context.cookies(base);
    t.match(
      cookies.find((c) => c.name === 'ops_session'),
      {
        httpOnly: true,
        sameSite: 'Strict',
      },
    );
  });

  await t.test('the overview shows the numbers of the running system, refreshing', async (t) => {
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const users = [await signUp(env, 1), await signUp(env, 2)];
    for (const id of users) {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${env.services.profile!.url}/v1/profiles/${id}`);
        t.equal(res.status, 200, 'a profile read');
      }
    }
    await fieldIs(page, 'emails.sent', '2');
    await waitUntil('the welcome-email consumer to be idle', async () => {
      const c = await jsm.consumers.info(n.streams.users, n.consumers.welcomeEmail);
      return c.num_pending === 0 && c.num_ack_pending === 0;
    });
    const usersInfo = await jsm.streams.info(n.streams.users);
    await fieldIs(page, 'stream.users.messages', String(usersInfo.state.messages));
    const consumer = await jsm.consumers.info(n.streams.users, n.consumers.welcomeEmail);
    const k = `consumer.users.${n.consumers.welcomeEmail}`;
    await fieldIs(page, `${k}.ackPending`, String(consumer.num_ack_pending));
    t.equal(await field(page, `${k}.pending`), String(consumer.num_pending));
    t.equal(await field(page, `${k}.maxAckPending`), String(consumer.config.max_ack_pending));
    await fieldIs(page, 'outbox.signup-service.pending', '0');
    for (const name of ['signup-service', 'profile-service', 'notification-service']) {
      t.equal(await field(page, `svc.${name}.status`), 'ready', `${name} ready`);
    }
    const metrics = parseMetrics(
      await (await fetch(`${env.services.profile!.url}/metrics`)).text(),
    );
    const hits = sumOf(metrics, 'profile_cache_hits_total', { tier: 'redis' }) ?? 0;
    const reads =
      (sumOf(metrics, 'profile_cache_hits_total') ?? 0) +
      (sumOf(metrics, 'profile_cache_misses_total') ?? 0) +
      (sumOf(metrics, 'profile_cache_bypasses_total') ?? 0);
    t.ok(reads >= 4, 'profile-service counted the reads');
    await fieldIs(page, 'cache.tier.redis', `${((hits / reads) * 100).toFixed(1)} %`);
    t.equal(await field(page, 'cache.breaker'), 'closed');
    t.equal(
      await page.evaluate(() => (window as unknown as { marker?: number }).marker),
      42,
      'all of it without a reload',
    );
    t.match(await page.locator('main').getAttribute('data-live-refreshed'), /^\d+$/);
    await screenshot(page, profileDir, 'overview');
    const size = await noHorizontalScroll(page);
    t.ok(
      size.scroll <= size.width,
      `1280 px: no horizontal scroll (${size.scroll} <= ${size.width})`,
    );
  });

  let smtpSeqs: number[] = [];
  await t.test('poison messages become dead letters, one group per failure', async (t) => {
    env.sink.failNext(3, 550, 'Mailbox unavailable');
    const before = env.sink.messages.length;
    for (let i = 3; i < 6; i++) await signUp(env, i);
    await env.system.nats.js.publish(n.subjects.userSignedUp, '{"not": "an event"', {
      msgID: 'browser-poison-1',
    });
    // The poison is dead-lettered twice: welcome-email and profile-cache both gave up on it.
    await waitForDeadLetters(env, 5);
    t.equal(env.sink.messages.length, before, 'none of them was delivered');
    await fieldIs(page, 'emails.deadLettered', '5');
    await fieldIs(page, 'stream.deadletter.messages', String(await deadLetterCount(env)));

    await page.getByRole('link', { name: 'Dead letters' }).first().click();
    await page.waitForURL(`${base}/deadletters`);
    const rows = page.locator('table.groups tbody tr');
    t.equal(await rows.count(), 3, 'three failures, three groups');
    const smtp = rows.filter({ hasText: 'smtp_permanent: smtp 550 Mailbox unavailable' });
    t.equal(await smtp.count(), 1, 'the three SMTP 550s are one group');
    t.equal(await smtp.locator('[data-count]').textContent(), '3');
    const invalid = rows.filter({ hasText: 'invalid_payload' });
    t.equal(await invalid.locator('[data-count]').textContent(), '1');
    t.match(await invalid.textContent(), n.consumers.welcomeEmail);
    const terminated = rows.filter({ hasText: n.consumers.profileCache });
    t.equal(await terminated.locator('[data-count]').textContent(), '1', "profile-cache's");
    await screenshot(page, profileDir, 'deadletter-groups');
    await smtp.getByRole('link', { name: /^Show/ }).click();
    await page.waitForURL(/group=/);
    smtpSeqs = (
      await page
        .locator('table.list tbody tr')
        .evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq'))))
    ).sort((a, b) => a - b);
    t.equal(smtpSeqs.length, 3);
  });

  await t.test("a dead letter's detail", async (t) => {
    await page.getByRole('link', { name: String(smtpSeqs[0]), exact: true }).click();
    await page.waitForURL(`${base}/deadletters/${smtpSeqs[0]}`);
    t.equal(
      await page.getByRole('heading', { level: 1 }).textContent(),
      `Dead letter ${smtpSeqs[0]}`,
    );
    const dead = await jsm.streams.getMessage(n.streams.deadletter, { seq: smtpSeqs[0]! });
    const tp = dead!.header.get('traceparent');
    t.match(await page.locator('.facts').textContent(), tp.split('-')[1]!, 'the trace id');
    t.match(
      await page.locator('.facts').textContent(),
      `${n.streams.users} #${dead!.header.get('Dlq-Original-Seq')}`,
      'original stream and sequence',
    );
    const headers = await page
      .locator('section[aria-labelledby="h-headers"] tbody th')
      .allTextContents();
    for (const h of [
      'Dlq-Reason',
      'Dlq-Original-Subject',
      'Dlq-Deliveries',
      'Dlq-Consumer',
      'traceparent',
    ]) {
      t.ok(headers.includes(h), `header ${h} shown`);
    }
    t.match(
      await page.locator('pre.payload').textContent(),
      /^\{\n {2}"id": /,
      'payload pretty-printed',
    );
  });

  await t.test(
    'by keyboard: the main actions, a dry run of the group, the redrive, its progress',
    async (t) => {
      await page.goto(`${base}/deadletters`);
      const passed = await tabTo(page, /^Dry run a redrive of this group$/);
      t.equal(passed[0], 'Skip to content', 'a skip link first');
      for (const name of ['Overview', 'Dead letters', 'Redrives', 'Sign out']) {
        t.ok(passed.includes(name), `Tab reaches ${name}`);
      }
      const focusedRow = await page.evaluate(
        () => document.activeElement?.closest('tr')?.textContent ?? '',
      );
      t.match(focusedRow, /smtp_permanent/, 'the focused Dry run is the SMTP group’s');
      await page.keyboard.press('Enter');
      await page.waitForURL(`${base}/redrive/dry-run`);
      t.match(
        await page.getByRole('heading', { level: 1 }).textContent(),
        /^Dry run: 3 would move$/,
      );
      const listed = (
        await page
          .locator('table.dry-run tbody tr')
          .evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq'))))
      ).sort((a, b) => a - b);
      t.same(listed, smtpSeqs, 'exactly the group, nothing else');
      t.equal(await deadLetterCount(env), 5, 'a dry run moves nothing');

      await tabTo(page, /^Rate \(messages per second\)$/);
      await page.keyboard.press('Control+A');
      await page.keyboard.type('1');
      await tabTo(page, /^Redrive 3 dead letters$/);
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/redrives\/[0-9a-f-]{36}$/);
      const jobId = page.url().split('/').pop()!;
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
      await screenshot(page, profileDir, 'redrive-progress');
      // At 1 per second three dead letters take two seconds at least: the page was rendered while
      // the job ran, and follows it. (Were it rendered finished, there would be nothing to follow.)
      const live = await page.locator('main').getAttribute('data-live');
      if (live !== null) t.equal(live, `/api/redrives/${jobId}`, 'the page follows its job');
      await fieldIs(page, 'job.status', 'succeeded');
      t.equal(
        await page.evaluate(() => (window as unknown as { marker?: number }).marker),
        7,
        'progress came in without a reload',
      );
      if (live !== null)
        t.equal(await page.locator('main').getAttribute('data-live-final'), 'true');
      t.equal(await field(page, 'job.progress'), '3 of 3 done');
      t.equal(
        await page.locator('#job-progress').evaluate((p) => (p as HTMLProgressElement).value),
        3,
      );
      t.equal(await field(page, 'job.moved'), '3');
      t.ok(await page.locator('[data-hide-when-final]').isHidden(), 'no cancel once done');
      await env.sink.waitFor(2 + 3, 60_000);
      t.equal(env.sink.messages.length, 5, 'the three are delivered now the fault is gone');
      t.equal(await deadLetterCount(env), 2, 'only the poison is left');

      await tabTo(page, /^The audit trail of every redrive$/);
      await page.keyboard.press('Enter');
      await page.waitForURL(`${base}/redrives`);
      const row = page.locator(`tr[data-job="${jobId}"]`);
      t.match(
        (await row.innerText()).replace(/\s+/g, ' '),
        /http:console:ada.*dead letters .*1\/s.*succeeded 3 of 3 moved/s,
      );
      const dry = page.locator('section[aria-labelledby="h-dry"] tbody tr');
      t.match(await dry.first().textContent(), /http:console:ada\s*3/, 'the dry run too');
    },
  );

  await t.test('390 px wide: no page scrolls sideways', async (t) => {
    await page.setViewportSize({ width: 390, height: 844 });
    const jobUrl = await page.locator('tr[data-job] a').first().getAttribute('href');
    await page.goto(`${base}/deadletters`);
    const seq = await page.locator('tr[data-seq]').first().getAttribute('data-seq');
    const paths = ['/', '/deadletters', '/deadletters?reason=invalid', '/redrives', jobUrl!];
    for (const path of [...paths, `/deadletters/${seq}`]) {
      await page.goto(`${base}${path}`);
      t.equal(await page.getByRole('heading', { level: 1 }).count(), 1, `${path}: rendered`);
      const size = await noHorizontalScroll(page);
      t.ok(size.scroll <= size.width, `${path}: ${size.scroll} <= ${size.width}`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await t.test('sign-out ends the session', async (t) => {
    const cookie = (await context.cookies(base)).find((c) => c.name === 'ops_session')!;
    await page.goto(`${base}/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/signin`);
    t.notOk(
      (await context.cookies(base)).some((c) => c.name === 'ops_session'),
      'cookie gone',
    );
    await context.addCookies([cookie]);
    await page.goto(`${base}/redrives`);
    t.match(page.url(), /\/signin\?next=/, 'the old cookie no longer signs in');
    await context.clearCookies();
  });

  await t.test('a viewer sees everything and can change nothing', async (t) => {
    await page.goto(`${base}/signin`);
    await page.getByLabel('Access token').fill(VIEWER_TOKEN);
    await page.getByLabel(/Your name/).fill('vic');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/`);
    t.match(await page.getByRole('note').textContent(), /Read-only session/);
    await page.goto(`${base}/deadletters`);
    t.equal(await page.locator('table.groups tbody tr').count(), 2, 'the groups are shown');
    t.equal(
      await page.getByRole('button', { name: /Dry run|Redrive/ }).count(),
      0,
      'no redrive button',
    );
    t.equal(await page.locator('form[action^="/redrive"]').count(), 0, 'no redrive form');
    t.equal(await page.getByRole('checkbox').count(), 0, 'nothing to select');
    await page.goto(`${base}/redrives`);
    t.equal(await page.locator('tr[data-job]').count(), 1, 'the audit trail is shown');

    const csrf = await page.locator('form[action="/signout"] input[name="_csrf"]').inputValue();
    // Posted from the page itself, as a script of this origin could: the browser adds the
    // session cookie and the Origin. (No named function inside: the page gets the code as is.)
    const forge = (fields: Record<string, string>) =>
      page.evaluate(async (body) => {
        const res = await fetch('/redrive/dry-run', {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body: new URLSearchParams(body).toString(),
        });
        return {
          status: res.status,
          type: res.headers.get('content-type'),
          body: await res.json(),
        };
      }, fields);
    const forged = {
      withToken: await forge({ _csrf: csrf, scope: 'filter' }),
      withoutToken: await forge({ scope: 'filter' }),
    };
    t.match(
      forged.withToken,
      {
        status: 403,
        type: /^application\/problem\+json/,
        body: { code: 'OPERATOR_ONLY' },
      },
      "a forged post with the viewer's own session and CSRF token: 403",
    );
    t.match(forged.withoutToken, { status: 403, body: { code: 'CSRF_FAILED' } }, 'no token: 403');
    t.equal(
      await env.prisma.deadLetterRedrive.count({ where: { actor: { contains: 'vic' } } }),
      0,
      'nothing reached notification-service',
    );
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/signin`);
  });

  await t.test('failed sign-ins are rate-limited', async (t) => {
    const attempt = async (token: string) => {
      await page.goto(`${base}/signin`);
      await page.getByLabel('Access token').fill(token);
      const [res] = await Promise.all([
        page.waitForResponse(
          (r) => r.url() === `${base}/signin` && r.request().method() === 'POST',
        ),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      await page.waitForLoadState();
      return res.status();
    };
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(await attempt(`wrong-token-${i}`));
      t.match(await page.getByRole('alert').textContent(), /not valid/);
    }
    statuses.push(await attempt(OPERATOR_TOKEN));
    t.same(statuses, [401, 401, 401, 429], 'three wrong tokens, then even the right one waits');
    t.match(await page.getByRole('alert').textContent(), /Retry in \d+ s/);
  });

  t.same(violations, [], 'no CSP violation and no script error on any page');
});
