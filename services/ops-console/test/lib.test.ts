// The console's pure logic: reason signatures (one group for one failure, whatever the address or
// id in it), the compact sequence lists of the redrive form, the Prometheus text reader, sessions
// (sealed, tampered, expired, the CSRF token), token roles, the hour's counts across a restart,
// sparklines, dead-letter filters, the form parser and where a sign-in may send the browser.
import t from 'tap';
import { readOnlyDatabaseUrl } from '../src/app.js';
import { History, sparkline, trendWords } from '../src/lib/history.js';
import {
  checkFilter,
  groupDeadLetters,
  matchesFilter,
  traceIdOf,
  type DeadLetterView,
} from '../src/lib/deadletters.js';
import { parseMetrics, sumOf, labelValues } from '../src/lib/prometheus.js';
import {
  checkCsrf,
  csrfToken,
  newSession,
  openSession,
  parseCookies,
  roleForToken,
  sealSession,
  serializeCookie,
} from '../src/lib/session.js';
import { formatSeqs, parseSeqs, reasonSignature, signatureId } from '../src/lib/signature.js';
import { formatDuration, formatInt, formatTime } from '../src/lib/format.js';
import { safeNext } from '../src/routes/auth.js';
import { parseForm } from '../src/routes/console.js';
import { wantsHtml } from '../src/routes/context.js';
import { filterTime } from '../src/routes/pages.js';

void t.test('reason signatures group the same failure', async (t) => {
  const a = reasonSignature(
    'smtp_permanent: smtp 550 5.1.1 <ann@example.org>: Mailbox unavailable',
  );
  const b = reasonSignature(
    'smtp_permanent: smtp 550 5.1.1 <bob.x@mail.example.com>: Mailbox unavailable',
  );
  t.equal(a, b);
  t.equal(a, 'smtp_permanent: smtp 550 5.1.1 <<email>>: Mailbox unavailable', 'codes kept');
  t.not(
    reasonSignature('smtp_permanent: smtp 552 Mailbox full'),
    reasonSignature('smtp_permanent: smtp 550 Mailbox full'),
    'another SMTP code is another failure',
  );
  t.equal(
    reasonSignature('max_deliveries: 6 deliveries'),
    reasonSignature('max_deliveries: 12 deliveries'),
  );
  t.equal(
    reasonSignature('original_missing: stream USERS no longer holds seq 123456 (terminated)'),
    reasonSignature('original_missing: stream USERS no longer holds seq 7 (terminated)'),
  );
  t.equal(
    reasonSignature(
      'event 0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b at 2025-12-02T10:15:03.123Z failed',
    ),
    'event <uuid> at <time> failed',
  );
  t.equal(reasonSignature(null), '(no reason recorded)');
  t.equal(reasonSignature('  a \n  b  '), 'a b', 'whitespace collapsed');
  t.match(signatureId(a), /^[0-9a-f]{16}$/);
  t.equal(signatureId(a), signatureId(b));
});

void t.test('sequence lists for the redrive form', async (t) => {
  t.equal(formatSeqs([9, 3, 4, 5, 12, 13, 3, 1]), '1,3-5,9,12-13');
  t.same(parseSeqs('1,3-5,9,12-13', 100), [1, 3, 4, 5, 9, 12, 13]);
  t.same(parseSeqs(formatSeqs([7]), 1), [7]);
  t.equal(parseSeqs('1-20', 10), undefined, 'more than the maximum');
  t.equal(parseSeqs('5-3', 10), undefined, 'a range backwards');
  t.equal(parseSeqs('0', 10), undefined, 'sequences start at 1');
  t.equal(parseSeqs('1,,2', 10), undefined);
  t.equal(parseSeqs('1;DROP', 10), undefined);
});

void t.test('the Prometheus text format', async (t) => {
  const text = [
    '# HELP notify_events_processed_total Welcome events',
    '# TYPE notify_events_processed_total counter',
    'notify_events_processed_total{outcome="sent",service="notification-service"} 3',
    'notify_events_processed_total{outcome="duplicate",service="notification-service"} 1',
    'notify_deadletters_total{reason="smtp_permanent"} 2',
    'notify_deadletters_total{reason="invalid_payload"} 1 1733130000000',
    'profile_cache_hits_total{tier="redis",note="a \\"quoted\\" \\\\ value"} 7.5',
    'process_start_time_seconds 1.7e9',
    'up{} +Inf',
    'garbage line {',
    'broken{label="x} 1',
  ].join('\n');
  const samples = parseMetrics(text);
  t.equal(sumOf(samples, 'notify_events_processed_total', { outcome: 'sent' }), 3);
  t.equal(sumOf(samples, 'notify_events_processed_total'), 4);
  t.equal(sumOf(samples, 'notify_deadletters_total'), 3, 'a timestamp is not the value');
  t.equal(sumOf(samples, 'nothing'), undefined);
  t.equal(sumOf(samples, 'process_start_time_seconds'), 1.7e9);
  t.equal(sumOf(samples, 'up'), Infinity);
  t.same(labelValues(samples, 'notify_deadletters_total', 'reason'), [
    'invalid_payload',
    'smtp_permanent',
  ]);
  const hit = samples.find((s) => s.name === 'profile_cache_hits_total');
  t.equal(hit?.labels.note, 'a "quoted" \\ value', 'escapes in label values');
  t.notOk(
    samples.some((s) => s.name === 'garbage' || s.name === 'broken'),
    'malformed lines skipped',
  );
});

void t.test('sessions: sealed, tamper-evident, expiring, with their CSRF token', async (t) => {
  const secret = 's'.repeat(40);
  const s = newSession('viewer', 'ann', 60, 1_000_000_000_000);
  const sealed = sealSession(s, secret);
  t.same(openSession(sealed, secret, 1_000_000_030_000), s, 'opens within its lifetime');
  t.equal(openSession(sealed, secret, 1_000_000_060_000), undefined, 'expired');
  t.equal(openSession(sealed, 'x'.repeat(40), 1_000_000_000_000), undefined, 'another secret');
  const [v, payload, tag] = sealed.split('.') as [string, string, string];
  const promoted = Buffer.from(JSON.stringify({ ...s, role: 'operator' })).toString('base64url');
  t.equal(
    openSession(`${v}.${promoted}.${tag}`, secret, 1_000_000_000_000),
    undefined,
    'role changed',
  );
  t.equal(openSession(`${v}.${payload}.${tag.slice(0, -2)}`, secret), undefined, 'short tag');
  t.equal(openSession('v1.e30', secret), undefined, 'malformed');
  t.equal(openSession('', secret), undefined);
  const other = newSession('viewer', 'ann', 60);
  t.not(csrfToken(s, secret), csrfToken(other, secret), 'one CSRF token per session');
  t.ok(checkCsrf(s, secret, csrfToken(s, secret)));
  t.notOk(checkCsrf(s, secret, csrfToken(other, secret)), "another session's token");
  t.notOk(checkCsrf(s, secret, ''));
  t.notOk(checkCsrf(s, secret, undefined));
  t.notOk(checkCsrf(s, secret, ['x']));
});

void t.test('tokens grant roles', async (t) => {
  const tokens = { operator: 'o'.repeat(20), viewer: 'v'.repeat(20) };
  t.equal(roleForToken('o'.repeat(20), tokens), 'operator');
  t.equal(roleForToken('v'.repeat(20), tokens), 'viewer');
  t.equal(roleForToken('o'.repeat(19), tokens), undefined);
  t.equal(
    roleForToken('v'.repeat(20), { operator: tokens.operator }),
    undefined,
    'no viewer token',
  );
});

void t.test('cookies', async (t) => {
  t.same(
    [...parseCookies('a=1; ops_session="v1.x.y"; a=2; broken; =x')],
    [
      ['a', '1'],
      ['ops_session', 'v1.x.y'],
    ],
  );
  t.equal(
    serializeCookie('ops_session', 'v', { maxAgeSeconds: 60, secure: true }),
    'ops_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure',
  );
  t.notMatch(serializeCookie('n', 'v', { maxAgeSeconds: 0, secure: false }), /Secure/);
});

void t.test("the hour's counts, across a restart of the counting process", async (t) => {
  const h = new History(3_600_000);
  const t0 = 10_000_000;
  h.record({ sent: 10 }, t0);
  h.record({ sent: 15 }, t0 + 60_000);
  t.same(h.increase('sent', 18, 3_600_000, t0 + 120_000), { value: 8, since: t0 });
  h.record({ sent: 2 }, t0 + 180_000); // restarted: counts from 0 again
  t.same(h.increase('sent', 5, 3_600_000, t0 + 240_000), { value: 5 + 2 + 5 - 2 - 0, since: t0 });
  t.equal(h.increase('none', 1, 3_600_000, t0), undefined, 'no sample yet');
  const late = t0 + 2 * 3_600_000;
  h.record({ sent: 40 }, late);
  const inc = h.increase('sent', 50, 3_600_000, late + 1000)!;
  t.equal(inc.value, 10, 'only the last hour');
  t.equal(inc.since, late, 'since the first sample of the hour');
  t.ok(h.points('sent').length <= 3, 'older samples are dropped');
});

void t.test('sparklines and their words', async (t) => {
  t.equal(sparkline([1]), '');
  t.equal(sparkline([0, 7, 14]), '▁▅█');
  t.equal(sparkline([3, 3, 3]), '▁▁▁');
  t.equal(trendWords([5, 2]), 'falling: from 5 to 2 over the last 2 samples');
  t.equal(trendWords([]), 'no trend yet');
});

void t.test('dead-letter filters and groups', async (t) => {
  const view = (
    seq: number,
    reason: string,
    at: string,
    subject = 'user.signed_up',
  ): DeadLetterView => ({
    seq,
    subject: 'deadletter.user.welcome.email',
    deadLetteredAt: at,
    originalSubject: subject,
    originalStream: 'USERS',
    originalSeq: seq,
    originalTime: at,
    consumer: 'welcome-email',
    deliveries: 1,
    reason,
    advisory: 'terminated',
    traceparent: null,
    traceId: null,
    size: 10,
    signature: reasonSignature(reason),
    groupId: signatureId(reasonSignature(reason)),
  });
  const items = [
    view(1, 'smtp_permanent: smtp 550 <a@x.org> unavailable', '2025-12-02T10:00:00.000Z'),
    view(2, 'invalid_payload: not JSON', '2025-12-02T10:05:00.000Z', 'user.other'),
    view(3, 'smtp_permanent: smtp 550 <b@y.org> unavailable', '2025-12-02T10:10:00.000Z'),
  ];
  const groups = groupDeadLetters(items);
  t.equal(groups.length, 2);
  t.match(groups[0], {
    count: 2,
    seqs: [1, 3],
    firstSeen: '2025-12-02T10:00:00.000Z',
    lastSeen: '2025-12-02T10:10:00.000Z',
    subjects: ['user.signed_up'],
  });
  const pick = (f: Parameters<typeof matchesFilter>[1]) =>
    items.filter((i) => matchesFilter(i, f)).map((i) => i.seq);
  t.same(pick({ reason: 'SMTP 550' }), [1, 3], 'reason: case-insensitive substring');
  t.same(pick({ subject: 'user.*' }), [1, 2, 3]);
  t.same(pick({ subject: 'user.other' }), [2]);
  t.same(pick({ since: '2025-12-02T10:05:00.000Z' }), [2, 3], 'since is inclusive');
  t.same(pick({ until: '2025-12-02T10:05:00.000Z' }), [1], 'until is exclusive');
  t.same(pick({ group: groups[1]!.id }), [2]);
  t.same(checkFilter({ since: 'yesterday' }), ['since: expected a date and time, got "yesterday"']);
  t.same(checkFilter({ since: '2025-12-03T00:00:00Z', until: '2025-12-02T00:00:00Z' }), [
    'since is after until',
  ]);
  t.equal(traceIdOf(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`), 'a'.repeat(32));
  t.equal(traceIdOf('garbage'), null);
});

void t.test('forms, redirects and times', async (t) => {
  t.same(parseForm('a=1&seq=2&seq=3&b=x%20y&b=z'), { a: '1', seq: ['2', '3'], b: ['x y', 'z'] });
  t.same(parseForm('seq=5'), { seq: ['5'] }, 'a list field is a list even with one value');
  t.equal(safeNext('/deadletters?group=abc'), '/deadletters?group=abc');
  for (const bad of [
    '//evil.example',
    'https://evil.example',
    '/\\evil',
    'javascript:x',
    '',
    undefined,
    '/signin',
  ]) {
    t.equal(safeNext(bad), '/', `no redirect to ${String(bad)}`);
  }
  t.ok(wantsHtml('text/html,application/xhtml+xml'));
  t.notOk(wantsHtml('*/*'));
  t.notOk(wantsHtml(undefined));
  t.equal(filterTime('2025-12-02T10:15'), '2025-12-02T10:15:00.000Z', 'a datetime-local is UTC');
  t.equal(filterTime('2025-12-02T10:15:00+01:00'), '2025-12-02T09:15:00.000Z');
  t.equal(filterTime(''), undefined);
  t.equal(formatTime('2025-12-02T10:15:03.456Z'), '2025-12-02 10:15:03 UTC');
  t.equal(formatDuration(3725), '1 h 2 min');
  t.equal(formatDuration(59), '59 s');
  t.equal(formatInt(1234567), '1,234,567');
});

void t.test('the database session is read-only', async (t) => {
  const url = new URL(readOnlyDatabaseUrl('postgresql://u@h:5432/db?sslmode=disable'));
  t.equal(url.searchParams.get('options'), '-c default_transaction_read_only=on');
  t.equal(url.searchParams.get('sslmode'), 'disable');
  const more = new URL(readOnlyDatabaseUrl('postgresql://u@h/db?options=-c%20search_path%3Dx'));
  t.equal(more.searchParams.get('options'), '-c search_path=x -c default_transaction_read_only=on');
});
