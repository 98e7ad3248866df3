// What the overview shows, gathered at once from where each number lives: readiness from each
// service's /health/ready, streams and consumers from JetStream (stream and consumer info, as
// `nats stream info` prints them), the outbox backlog per producer from Postgres, and emails and
// cache figures from the services' own /metrics. Each part fails alone: NATS down leaves the
// readiness and the outbox on the page, with the part that could not be read saying why.
import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import type { Names } from '@app/contracts';
import { History, sparkline, trendWords } from './history.js';
import { parseMetrics, sumOf, labelValues, type Sample } from './prometheus.js';

export type StreamRole = 'users' | 'advisories' | 'deadletter';
export const STREAM_ROLES: readonly StreamRole[] = ['users', 'advisories', 'deadletter'];

export interface ServiceTarget {
  name: string;
  url: string;
}

export interface ServiceHealth {
  name: string;
  url: string;
  status: 'ready' | 'not_ready' | 'unreachable';
  checks: Record<string, string>;
  detail: string | null;
}

export interface Trend {
  line: string;
  words: string;
}

export interface StreamOverview {
  role: StreamRole;
  name: string;
  exists: boolean;
  messages: number;
  bytes: number;
  firstTime: string | null;
  lastTime: string | null;
  firstSeq: number;
  lastSeq: number;
  consumerCount: number;
  trend: Trend;
}

export interface ConsumerOverview {
  stream: string;
  streamRole: StreamRole;
  name: string;
  durable: boolean;
  description: string | null;
  pending: number;
  ackPending: number;
  maxAckPending: number;
  redelivered: number;
  waiting: number;
  lastActive: string | null;
  trend: Trend;
}

export interface OutboxOverview {
  producer: string;
  pending: number;
  oldestAgeSeconds: number;
  trend: Trend;
}

export interface Counted {
  value: number;
  /** When the count starts: an hour ago, this console's first sample, or the service's start. */
  since: string;
}

export interface EmailsOverview {
  sent: Counted;
  retried: Counted;
  failedAttempts: Counted;
  deadLettered: Counted;
  trend: Trend;
}

export interface CacheOverview {
  tiers: Array<{ tier: string; hits: number; ratio: number | null }>;
  misses: number;
  bypasses: number;
  reads: number;
  since: string;
  breaker: 'closed' | 'half-open' | 'open' | 'unknown';
}

export interface Overview {
  at: string;
  services: ServiceHealth[];
  nats: { ok: true } | { ok: false; error: string };
  streams: StreamOverview[];
  consumers: ConsumerOverview[];
  outbox: { ok: true; producers: OutboxOverview[] } | { ok: false; error: string };
  emails: { ok: true; value: EmailsOverview } | { ok: false; error: string };
  cache: { ok: true; value: CacheOverview } | { ok: false; error: string };
}

export interface OverviewSources {
  jsm: () => JetStreamManager;
  names: Names;
  /** Pending outbox rows per producer, with the oldest one's age. */
  outbox: () => Promise<Array<{ producer: string; pending: number; oldestAgeSeconds: number }>>;
  producers: string[];
  services: { signup: ServiceTarget; profile: ServiceTarget; notification: ServiceTarget };
  timeoutMs: number;
}

const HOUR_MS = 3_600_000;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function get(url: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}

export async function readiness(target: ServiceTarget, timeoutMs: number): Promise<ServiceHealth> {
  const base = { name: target.name, url: target.url };
  try {
    const res = await get(new URL('/health/ready', target.url).toString(), timeoutMs);
    let body: { checks?: Record<string, string>; detail?: string } = {};
    try {
      body = JSON.parse(res.text) as typeof body;
    } catch {
      // Not JSON: the status says enough.
    }
    const checks = body.checks ?? {};
    if (res.status === 200) return { ...base, status: 'ready', checks, detail: null };
    return { ...base, status: 'not_ready', checks, detail: body.detail ?? `HTTP ${res.status}` };
  } catch (err) {
    return { ...base, status: 'unreachable', checks: {}, detail: message(err) };
  }
}

async function metricsOf(target: ServiceTarget, timeoutMs: number): Promise<Sample[]> {
  const res = await get(new URL('/metrics', target.url).toString(), timeoutMs);
  if (res.status !== 200) throw new Error(`${target.name} /metrics answered ${res.status}`);
  return parseMetrics(res.text);
}

/** ConsumerInfo's `last_active` arrives as an RFC 3339 string, though typed as nanoseconds. */
function lastActive(info: ConsumerInfo): string | null {
  const times = [info.delivered?.last_active, info.ack_floor?.last_active]
    .map((v) => (typeof v === 'string' ? Date.parse(v) : NaN))
    .filter((v) => Number.isFinite(v) && v > 0);
  return times.length ? new Date(Math.max(...times)).toISOString() : null;
}

function isStreamNotFound(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 10059 || /stream not found/i.test(message(err));
}

function validTime(ts: string | undefined): string | null {
  if (!ts || ts.startsWith('0001-')) return null;
  const t = Date.parse(ts);
  return Number.isFinite(t) ? new Date(t).toISOString() : null;
}

export class OverviewCollector {
  readonly history = new History(HOUR_MS + 60_000);
  private lastRecorded = 0;

  constructor(private readonly s: OverviewSources) {}

  private trend(key: string): Trend {
    const values = this.history.points(key).map((p) => p.value);
    return { line: sparkline(values), words: trendWords(values) };
  }

  /** The overview now; `record` adds its numbers to the history (the sampler and due views). */
  async collect(options: { record?: boolean } = {}): Promise<Overview> {
    const now = Date.now();
    const { services, timeoutMs } = this.s;
    const targets = [services.signup, services.profile, services.notification];
    const [health, nats, outbox, notifyMetrics, profileMetrics] = await Promise.all([
      Promise.all(targets.map((target) => readiness(target, timeoutMs))),
      this.nats().then(
        (v) => ({ ok: true as const, ...v }),
        (err: unknown) => ({ ok: false as const, error: message(err) }),
      ),
      this.s.outbox().then(
        (rows) => ({ ok: true as const, rows }),
        (err: unknown) => ({ ok: false as const, error: message(err) }),
      ),
      metricsOf(services.notification, timeoutMs).then(
        (samples) => ({ ok: true as const, samples }),
        (err: unknown) => ({ ok: false as const, error: message(err) }),
      ),
      metricsOf(services.profile, timeoutMs).then(
        (samples) => ({ ok: true as const, samples }),
        (err: unknown) => ({ ok: false as const, error: message(err) }),
      ),
    ]);

    const sample: Record<string, number | undefined> = {};
    const streams = nats.ok ? nats.streams : [];
    const consumers = nats.ok ? nats.consumers : [];
    for (const st of streams) sample[`stream.${st.role}.messages`] = st.messages;
    for (const c of consumers) {
      sample[`consumer.${c.streamRole}.${c.name}.pending`] = c.pending;
      sample[`consumer.${c.streamRole}.${c.name}.ackPending`] = c.ackPending;
    }

    let outboxPart: Overview['outbox'];
    if (outbox.ok) {
      const byProducer = new Map(outbox.rows.map((r) => [r.producer, r]));
      const producers = [...new Set([...this.s.producers, ...byProducer.keys()])].sort();
      for (const p of producers) sample[`outbox.${p}.pending`] = byProducer.get(p)?.pending ?? 0;
      outboxPart = {
        ok: true,
        producers: producers.map((producer) => ({
          producer,
          pending: byProducer.get(producer)?.pending ?? 0,
          oldestAgeSeconds: byProducer.get(producer)?.oldestAgeSeconds ?? 0,
          trend: { line: '', words: '' },
        })),
      };
    } else outboxPart = { ok: false, error: outbox.error };

    const counters: Record<string, number | undefined> = {};
    if (notifyMetrics.ok) {
      const m = notifyMetrics.samples;
      counters['emails.sent'] = sumOf(m, 'notify_events_processed_total', { outcome: 'sent' }) ?? 0;
      counters['emails.retried'] = sumOf(m, 'notify_events_redelivered_total') ?? 0;
      counters['emails.failedAttempts'] = sumOf(m, 'notify_events_failed_total') ?? 0;
      counters['emails.deadLettered'] = sumOf(m, 'notify_deadletters_total') ?? 0;
    }
    let tiers: string[] = [];
    if (profileMetrics.ok) {
      const m = profileMetrics.samples;
      // Redis always, so its ratio has a place on the page before the first hit.
      tiers = [...new Set(['redis', ...labelValues(m, 'profile_cache_hits_total', 'tier')])];
      for (const tier of tiers) {
        counters[`cache.hits.${tier}`] = sumOf(m, 'profile_cache_hits_total', { tier }) ?? 0;
      }
      counters['cache.misses'] = sumOf(m, 'profile_cache_misses_total') ?? 0;
      counters['cache.bypasses'] = sumOf(m, 'profile_cache_bypasses_total') ?? 0;
    }
    const counted = (key: string): Counted => {
      const current = counters[key] ?? 0;
      const inc = this.history.increase(key, current, HOUR_MS, now);
      if (!inc) return { value: current, since: 'process start' };
      return { value: inc.value, since: new Date(inc.since).toISOString() };
    };

    let emails: Overview['emails'];
    if (notifyMetrics.ok) {
      const sentPoints = this.history.points('emails.sent').map((p) => p.value);
      const increments = sentPoints.slice(1).map((v, i) => Math.max(0, v - sentPoints[i]!));
      emails = {
        ok: true,
        value: {
          sent: counted('emails.sent'),
          retried: counted('emails.retried'),
          failedAttempts: counted('emails.failedAttempts'),
          deadLettered: counted('emails.deadLettered'),
          trend: { line: sparkline(increments), words: trendWords(increments) },
        },
      };
    } else emails = { ok: false, error: notifyMetrics.error };

    let cache: Overview['cache'];
    if (profileMetrics.ok) {
      const hits = tiers.map((tier) => ({ tier, hits: counted(`cache.hits.${tier}`) }));
      const misses = counted('cache.misses');
      const bypasses = counted('cache.bypasses');
      const reads = hits.reduce((a, h) => a + h.hits.value, 0) + misses.value + bypasses.value;
      const state = sumOf(profileMetrics.samples, 'profile_cache_breaker_state');
      cache = {
        ok: true,
        value: {
          tiers: hits.map((h) => ({
            tier: h.tier,
            hits: h.hits.value,
            ratio: reads > 0 ? h.hits.value / reads : null,
          })),
          misses: misses.value,
          bypasses: bypasses.value,
          reads,
          since: misses.since,
          breaker:
            state === 0 ? 'closed' : state === 1 ? 'half-open' : state === 2 ? 'open' : 'unknown',
        },
      };
    } else cache = { ok: false, error: profileMetrics.error };

    if (options.record) {
      this.history.record({ ...sample, ...counters }, now);
      this.lastRecorded = now;
    }
    for (const st of streams) st.trend = this.trend(`stream.${st.role}.messages`);
    for (const c of consumers) c.trend = this.trend(`consumer.${c.streamRole}.${c.name}.pending`);
    if (outboxPart.ok) {
      for (const p of outboxPart.producers) p.trend = this.trend(`outbox.${p.producer}.pending`);
    }

    return {
      at: new Date(now).toISOString(),
      services: health,
      nats: nats.ok ? { ok: true } : { ok: false, error: nats.error },
      streams,
      consumers,
      outbox: outboxPart,
      emails,
      cache,
    };
  }

  /** Whether a view should record its numbers (the sampler has not recently). */
  recordDue(intervalMs: number, now = Date.now()): boolean {
    return now - this.lastRecorded >= Math.max(1000, intervalMs / 2);
  }

  private async nats(): Promise<{ streams: StreamOverview[]; consumers: ConsumerOverview[] }> {
    const jsm = this.s.jsm();
    const streams: StreamOverview[] = [];
    const consumers: ConsumerOverview[] = [];
    const none: Trend = { line: '', words: '' };
    await Promise.all(
      STREAM_ROLES.map(async (role) => {
        const name = this.s.names.streams[role];
        try {
          const info = await jsm.streams.info(name);
          const st = info.state;
          streams.push({
            role,
            name,
            exists: true,
            messages: st.messages,
            bytes: st.bytes,
            firstTime: st.messages > 0 ? validTime(st.first_ts) : null,
            lastTime: validTime(st.last_ts),
            firstSeq: st.first_seq,
            lastSeq: st.last_seq,
            consumerCount: st.consumer_count,
            trend: none,
          });
          for await (const c of jsm.consumers.list(name)) {
            consumers.push({
              stream: name,
              streamRole: role,
              name: c.name,
              durable: Boolean(c.config.durable_name),
              description: c.config.description ?? null,
              pending: c.num_pending,
              ackPending: c.num_ack_pending,
              maxAckPending: c.config.max_ack_pending ?? -1,
              redelivered: c.num_redelivered,
              waiting: c.num_waiting,
              lastActive: lastActive(c),
              trend: none,
            });
          }
        } catch (err) {
          if (!isStreamNotFound(err)) throw err;
          streams.push({
            role,
            name,
            exists: false,
            messages: 0,
            bytes: 0,
            firstTime: null,
            lastTime: null,
            firstSeq: 0,
            lastSeq: 0,
            consumerCount: 0,
            trend: none,
          });
        }
      }),
    );
    const order = (r: StreamRole) => STREAM_ROLES.indexOf(r);
    streams.sort((a, b) => order(a.role) - order(b.role));
    consumers.sort(
      (a, b) => order(a.streamRole) - order(b.streamRole) || a.name.localeCompare(b.name),
    );
    return { streams, consumers };
  }
}
