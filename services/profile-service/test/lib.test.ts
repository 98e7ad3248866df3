// Pure parts of the cache: entry format, the breaker's half-open probe, the bulkhead's cap.
import t from 'tap';
import { CircuitBreaker, BreakerOpenError } from '../src/lib/breaker.js';
import { Bulkhead, BulkheadFullError } from '../src/lib/bulkhead.js';
import * as entry from '../src/lib/entry.js';

void t.test('entries decode; garbage reads as a miss', async (t) => {
  t.match(entry.decodeEntry(entry.encodeNegative(5)), { kind: 'negative', version: 0 });
  t.match(entry.decodeEntry(entry.encodeFloor(3)), { kind: 'floor', version: 3 });
  t.equal(entry.decodeEntry('nonsense'), null);
  t.equal(entry.decodeEntry('1|2|{bad json'), null);
  t.equal(entry.decodeEntry('1|2|not a body'), null);
  t.equal(entry.decodeEntry('0|2|{"id":"x"}'), null, 'a body never has version 0');
});

void t.test('a profile entry holds the response body, ready to send', async (t) => {
  // Extra properties (a row or a future field) never reach the body; the order is the schema's.
  const row = {
    updatedAt: '2026-01-01T00:00:00.000Z',
    version: 4,
    avatarUrl: null,
    bio: 'line\nbreak "quoted"',
    displayName: 'Zoë',
    id: '0190a7a0-0000-7000-8000-000000000001',
    passwordHash: 'never served',
  };
  const cached = entry.toCached(row);
  t.equal(
    cached.json,
    '{"id":"0190a7a0-0000-7000-8000-000000000001","displayName":"Zoë","bio":"line\\nbreak \\"quoted\\"","avatarUrl":null,"version":4,"updatedAt":"2026-01-01T00:00:00.000Z"}',
  );
  t.same(entry.decodeEntry(entry.encodeProfile(cached, 99)), {
    kind: 'profile',
    version: 4,
    softExpiresAt: 99,
    json: cached.json,
  });
});

void t.test('jitter spreads TTLs', async (t) => {
  const spread = new Set(Array.from({ length: 50 }, () => entry.jitter(1000, 0.1)));
  t.ok([...spread].every((v) => v >= 900 && v <= 1100) && spread.size > 1, 'jitter spreads');
});

void t.test(
  'breaker: opens after N failures, one half-open probe, closes on success',
  async (t) => {
    let now = 0;
    const states: string[] = [];
    const b = new CircuitBreaker({
      failureThreshold: 2,
      openMs: 100,
      now: () => now,
      onStateChange: (s) => states.push(s),
    });
    const fail = () => Promise.reject(new Error('down'));
    await t.rejects(b.run(fail));
    await t.rejects(b.run(fail));
    t.equal(b.state, 'open');
    await t.rejects(
      b.run(async () => 1),
      BreakerOpenError,
      'open: not called',
    );
    now = 150;
    let release!: () => void;
    const probe = b.run(() => new Promise<number>((r) => (release = () => r(1))));
    await t.rejects(
      b.run(async () => 2),
      BreakerOpenError,
      'only one probe at a time',
    );
    release();
    t.equal(await probe, 1);
    t.equal(b.state, 'closed');
    t.same(states, ['open', 'half-open', 'closed']);
  },
);

void t.test('bulkhead: refuses beyond concurrency + queue', async (t) => {
  const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 5000 });
  let release!: () => void;
  const first = bh.run(() => new Promise<void>((r) => (release = r)));
  const queued = bh.run(async () => 'queued');
  await t.rejects(
    bh.run(async () => 'x'),
    BulkheadFullError,
  );
  release();
  await first;
  t.equal(await queued, 'queued');
  t.equal(bh.inFlight, 0);
});
