// Pure logic: the retry taxonomy, redrive filters (subject matching is @app/contracts', tested
// there), the welcome email's headers, config errors naming the bad variables, and the metrics
// whose label values are known exported at 0 before anything happens. (The retry
// schedule and the term(reason) capability are platform's, tested there; failures.test.ts checks
// the consumer uses the latter.)
import { Registry } from 'prom-client';
import t from 'tap';
import { createMetrics } from '../src/lib/metrics.js';
import { classifySendError, FAILURE_CLASSES } from '../src/lib/retry.js';
import { checkFilter } from '../src/lib/redrive.js';
import { parseWelcomeEvent } from '../src/lib/consumer.js';
import { reasonClass } from '../src/lib/deadletter.js';
import { renderWelcome, welcomeMessageId } from '../src/lib/welcome.js';
import { loadConfig } from '../src/config.js';
import { signupEvent } from './helper.js';

void t.test('retry taxonomy', async (t) => {
  t.match(classifySendError({ responseCode: 451, response: '451 try later' }), {
    failureClass: 'smtp_transient',
    retry: true,
  });
  t.match(classifySendError({ responseCode: 550, response: '550 no such user' }), {
    failureClass: 'smtp_permanent',
    retry: false,
    reason: 'smtp 550 no such user',
  });
  t.match(
    classifySendError(Object.assign(new Error('Greeting never received'), { code: 'ETIMEDOUT' })),
    {
      failureClass: 'timeout',
      retry: true,
    },
  );
  t.match(
    classifySendError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNECTION' })),
    {
      failureClass: 'connection',
      retry: true,
    },
  );
  t.match(classifySendError(new Error('something odd')), { failureClass: 'internal', retry: true });
});

void t.test('known label values are exported at 0 from the start (rates need them)', async (t) => {
  const registry = new Registry();
  createMetrics(registry);
  const text = await registry.metrics();
  for (const outcome of ['sent', 'failed']) {
    t.match(text, `notify_send_duration_seconds_count{outcome="${outcome}"} 0`, `sends ${outcome}`);
  }
  for (const c of FAILURE_CLASSES) t.match(text, `notify_events_failed_total{class="${c}"} 0`, c);
  for (const outcome of ['sent', 'duplicate']) {
    t.match(text, `notify_events_processed_total{outcome="${outcome}"} 0`, `processed ${outcome}`);
  }
});

void t.test('dead-letter filters', async (t) => {
  t.same(checkFilter({ since: 'yesterday' }), [
    'since: expected an ISO 8601 date-time, got "yesterday"',
  ]);
  t.same(checkFilter({ since: '2026-01-01T00:00:00Z', seqs: [1, 2] }), []);
});

void t.test(
  'welcome email: Message-ID from the event id, traceparent header, escaped HTML',
  async (t) => {
    const event = signupEvent(1);
    event.data.displayName = '<b>Ada</b>';
    const email = renderWelcome(event, {
      from: 'Team <hello@mail.example.org>',
      traceparent: '00-abc-01',
    });
    t.equal(email.messageId, `<welcome_email.${event.id}@mail.example.org>`);
    t.equal(email.messageId, welcomeMessageId(event.id, 'hello@mail.example.org'), 'stable');
    t.equal(email.headers.traceparent, '00-abc-01');
    t.equal(email.to, event.data.email);
    t.match(email.html, /&lt;b&gt;Ada&lt;\/b&gt;/);
    t.equal(reasonClass('smtp_permanent: smtp 550'), 'smtp_permanent');
    t.match(parseWelcomeEvent(new TextEncoder().encode(JSON.stringify(event))), { ok: true });
  },
);

void t.test('config: defaults, and every bad variable named without leaking secrets', async (t) => {
  const c = loadConfig({});
  t.equal(c.PORT, 3003);
  t.equal(c.NOTIFY_MAX_ACK_PENDING, 64);
  t.equal(c.NOTIFY_MAX_DELIVER, 6);
  t.equal(c.NOTIFY_ACK_WAIT_MS, 30_000);
  t.equal(c.SMTP_URL, undefined, 'no SMTP: the local transport');
  t.match(c.NOTIFY_MAIL_DIR, /\.local\/mail$/);
  const error = t.throws(() =>
    loadConfig({
      NOTIFY_MAX_ACK_PENDING: 'many',
      SMTP_URL: 'http://x',
      ADMIN_TOKEN: 'short-secret',
    }),
  ) as Error;
  t.match(error.message, /NOTIFY_MAX_ACK_PENDING/);
  t.match(error.message, /SMTP_URL/);
  t.match(error.message, /ADMIN_TOKEN/);
  t.notMatch(error.message, /short-secret/, 'the token value is never printed');
});
