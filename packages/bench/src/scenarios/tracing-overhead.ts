// tracing-overhead: what the OpenTelemetry tracing code costs a cached profile read (GET
// /v1/profiles/:id, a Redis-only hit: the in-process tier off, as profile-read's Redis-only arm)
// when it is off, as it ships, and what it costs turned on. Three profile-service processes, each
// started as a user starts it (services.ts) at the level that ships (LOG_LEVEL=info), loaded by
// autocannon with 32 connections:
//   1. tracing off: no OTEL_* variable (the shipped default; the subject);
//   2. tracing on, nothing sampled: OTEL_EXPORTER_OTLP_ENDPOINT at an in-process OTLP receiver and
//      OTEL_TRACES_SAMPLER=always_off (the SDK and instrumentations loaded, no span recorded);
//   3. tracing on, every request sampled: parentbased_always_on, exporting to another in-process
//      receiver with the SDK's defaults (http/protobuf, OTEL_BSP_SCHEDULE_DELAY 5 s).
// Their rates come from 1 s slices, every arm once per round in a shuffled order, as profile-read's
// cached reads: this machine's speed drifts over tens of seconds, and slicing puts every arm under
// the same drift. Arm 1 against arm 2 and 3 is informational: "costs nothing" is arm 1 against the
// same service without the tracing code, which cannot be run, so it is measured in process instead:
// the real `withSpan` of @app/platform with tracing off against calling its function directly, and
// the read path's tracing calls (withSpan + annotateSpan, as routes/profiles.ts makes them) against
// the same read with no tracing code, in ns per call, set against the time arm 1 spends per request.
import { performance } from 'node:perf_hooks';
import type { Span } from '@app/platform';
import { startOtlpReceiver, type OtlpReceiver } from '@app/testing';
import { benchEnv, provisionTopology, serviceDir } from '../environment.js';
import type { Scenario } from '../harness.js';
import { cannon, HttpClient } from '../load.js';
import { httpGet } from '../processes.js';
import { ProfileSeeder } from '../seed.js';
import { median } from '../stats.js';
import { counterValue, serviceEntry, startService, type RunningService } from '../services.js';

const HOT_KEYS = 100;
const CONNECTIONS = 32;
/** The span routes/profiles.ts makes around the cache read: one per Redis-only hit when sampled. */
const CACHE_SPAN = 'profile cache read';

const OFF = 'tracing off (shipped default)';
const UNSAMPLED = 'tracing on, always_off sampler';
const SAMPLED = 'tracing on, every request sampled';
const OFF_P99 = 'tracing off p99';
const UNSAMPLED_P99 = 'tracing on, always_off p99';
const SAMPLED_P99 = 'tracing on, all sampled p99';
const OFF_VS_UNSAMPLED = 'off / on unsampled';
const OFF_VS_SAMPLED = 'off / on all sampled';
const EXPORTED = 'sampled arm: cache spans received';

const DIRECT = 'fn(undefined) called directly';
const WITH_SPAN = 'withSpan(name, options, fn), tracing off';
const WITH_SPAN_COST = 'withSpan overhead, tracing off';
const WITH_SPAN_SHARE = 'withSpan overhead / arm-1 request time';
const READ_ABSENT = 'read path, no tracing code';
const READ_OFF = 'read path with its tracing calls, off';
const READ_COST = 'read path tracing overhead, off';
const READ_SHARE = 'read path tracing overhead / arm-1 request time';

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Occurrences of `needle` in `haystack` (an OTLP/protobuf body keeps each span name verbatim). */
function occurrences(haystack: Buffer, needle: Buffer): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) count++;
  return count;
}

interface Arm {
  metric: string;
  p99: string;
  service: RunningService;
}

/** A stand-in for `app.profiles.load(id)` answered from Redis: an async call, a small result. */
interface ReadResult {
  profile: { id: string } | null;
  source: 'HIT' | 'MISS';
}

export const tracingOverhead: Scenario = {
  name: 'tracing-overhead',
  description:
    'cached profile reads (Redis only) with tracing off (shipped), on with nothing sampled, on with every request sampled; withSpan off vs a direct call, in process',
  target: {
    metric: WITH_SPAN_COST,
    op: '<=',
    value: 50,
    unit: 'ns/call',
    text: 'withSpan with tracing off costs at most 50 ns per call over calling its function directly (nothing measurable against a request; the share of arm 1’s request time is beside it)',
  },
  async run(ctx) {
    // The real helpers, loaded here rather than at the CLI's start (no other scenario needs them).
    const { annotateSpan, tracingEnabled, withSpan } = await import('@app/platform');
    if (tracingEnabled()) throw new Error('tracing-overhead: tracing is on in the bench process');

    const env = await benchEnv(ctx);
    await provisionTopology(env.nats);
    const seeder = new ProfileSeeder(env.databaseUrl);
    ctx.teardown(() => seeder.close());
    const hot = await seeder.seed(HOT_KEYS);
    let hotIndex = 0;
    const nextHot = () => `/v1/profiles/${hot[hotIndex++ % hot.length] as string}`;

    // One receiver per traced arm: the unsampled arm's must never get an export.
    const receivers: OtlpReceiver[] = [];
    for (let i = 0; i < 2; i++) {
      const receiver = await startOtlpReceiver();
      ctx.teardown(() => receiver.close());
      receivers.push(receiver);
    }
    const [unsampledReceiver, sampledReceiver] = receivers as [OtlpReceiver, OtlpReceiver];
    const needle = Buffer.from(CACHE_SPAN, 'utf8');
    let sampledSpans = 0;
    let sampledExports = 0;
    /** Counts what the receivers got and lets go of the bodies (they would pile up in memory). */
    const drainReceivers = () => {
      const stray = unsampledReceiver.raw.length + unsampledReceiver.spans.length;
      if (stray > 0) {
        throw new Error(
          `tracing-overhead: the always_off instance exported ${stray} request(s) of spans`,
        );
      }
      for (const body of sampledReceiver.raw.splice(0)) {
        sampledExports++;
        sampledSpans += occurrences(body.body, needle);
      }
      sampledSpans += sampledReceiver.spans.splice(0).filter((s) => s.name === CACHE_SPAN).length;
    };

    const startInstance = (key: string, otel: Record<string, string>, label: string) =>
      startService(
        ctx,
        env,
        'profile-service',
        {
          PROFILE_REDIS_PREFIX: `${env.redisPrefix}${key}:`,
          PROFILE_LOCAL_CACHE: 'false',
          LOG_LEVEL: 'info',
          ...otel,
        },
        `profile-service (${label})`,
      );
    // What startService runs (the build when it is fresh, else the source through tsx).
    const entry = serviceEntry(serviceDir('profile-service'));
    // One after another, as in every scenario: concurrent start-ups only race for the cores.
    const off = await startInstance('off', {}, 'tracing off');
    const unsampled = await startInstance(
      'unsampled',
      { OTEL_EXPORTER_OTLP_ENDPOINT: unsampledReceiver.url, OTEL_TRACES_SAMPLER: 'always_off' },
      'tracing on, always_off',
    );
    const sampled = await startInstance(
      'sampled',
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: sampledReceiver.url,
        OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      },
      'tracing on, all sampled',
    );
    const arms: Arm[] = [
      { metric: OFF, p99: OFF_P99, service: off },
      { metric: UNSAMPLED, p99: UNSAMPLED_P99, service: unsampled },
      { metric: SAMPLED, p99: SAMPLED_P99, service: sampled },
    ];

    // Fill every cache and check that what we call a hit is one, and the same answer everywhere.
    let reference: string | undefined;
    for (const arm of arms) {
      for (const id of hot) await httpGet(`${arm.service.url}/v1/profiles/${id}`);
      const probe = new HttpClient(arm.service.url, 1);
      const res = await probe
        .send('GET', `/v1/profiles/${hot[0] as string}`)
        .finally(() => probe.close());
      if (res.status !== 200 || res.headers['x-cache'] !== 'HIT') {
        throw new Error(
          `tracing-overhead: a warmed profile answered ${res.status} x-cache=${String(res.headers['x-cache'])} (${arm.service.child.label})`,
        );
      }
      reference ??= res.body;
      if (res.body !== reference) {
        throw new Error(`tracing-overhead: ${arm.service.child.label} answered another body`);
      }
    }

    const hitRun = async (arm: Arm, durationS: number) => {
      const r = await cannon({
        url: `${arm.service.url}/v1/profiles/x`,
        connections: CONNECTIONS,
        durationS,
        nextPath: nextHot,
      });
      drainReceivers();
      return r;
    };
    /** `seconds` rounds of 1 s per arm in a shuffled order: requests/s and p99 per arm. */
    const hitSlices = async (seconds: number) => {
      const sums = new Map(
        arms.map((a) => [a.metric, { requests: 0, busyS: 0, p99: [] as number[] }]),
      );
      for (let round = 0; round < seconds; round++) {
        for (const arm of shuffled(arms)) {
          const r = await hitRun(arm, 1);
          const sum = sums.get(arm.metric) as { requests: number; busyS: number; p99: number[] };
          sum.requests += r.requests;
          sum.busyS += r.requests / r.rps;
          sum.p99.push(r.p99);
        }
      }
      const out: Record<string, { rps: number; p99: number }> = {};
      for (const [metric, sum] of sums) {
        out[metric] = { rps: sum.requests / sum.busyS, p99: median(sum.p99) };
      }
      return out;
    };

    // The in-process comparison: the route's cache read (routes/profiles.ts) with its tracing
    // calls, tracing off as in this process, against the same read without them.
    const load = async (id: string): Promise<ReadResult> => ({ profile: { id }, source: 'HIT' });
    let sink = 0;
    // Every callback is an anonymous function expression, as in the route: tsx (esbuild's
    // keepNames) wraps a closure bound to a name in a `__name()` call, which alone costs more than
    // what is measured here, so "direct" calls its function expression in place.
    const variants: Record<string, (id: string) => Promise<void>> = {
      [DIRECT]: async (id) => {
        const r = await (async (span?: Span) => {
          const result = await load(id);
          span?.setAttribute('cache.result', result.source.toLowerCase());
          return result;
        })(undefined);
        sink += r.source.length;
      },
      [WITH_SPAN]: async (id) => {
        const r = await withSpan(
          CACHE_SPAN,
          () => ({ attributes: { 'profile.id': id } }),
          async (span) => {
            const result = await load(id);
            span?.setAttribute('cache.result', result.source.toLowerCase());
            return result;
          },
        );
        sink += r.source.length;
      },
      [READ_ABSENT]: async (id) => {
        const r = await load(id);
        sink += r.source.length;
      },
      [READ_OFF]: async (id) => {
        const r = await withSpan(
          CACHE_SPAN,
          () => ({ attributes: { 'profile.id': id } }),
          async (span) => {
            const result = await load(id);
            span?.setAttribute('cache.result', result.source.toLowerCase());
            return result;
          },
        );
        annotateSpan({ 'cache.result': r.source.toLowerCase() });
        sink += r.source.length;
      },
    };
    const names = Object.keys(variants);
    // Small chunks, many rounds: another process taking the core moves a 5 ms chunk, not the rep.
    const CHUNK = 10_000;
    const ROUNDS = ctx.smoke ? 10 : 100;
    /** Nanoseconds per awaited call of one variant over `calls` calls. */
    const timeChunk = async (call: (id: string) => Promise<void>, calls: number) => {
      const id = hot[0] as string;
      const started = performance.now();
      for (let i = 0; i < calls; i++) await call(id);
      return ((performance.now() - started) * 1e6) / calls;
    };
    /**
     * ROUNDS rounds of CHUNK calls per variant, in a shuffled order each round: each variant's
     * median ns per call over its chunks, and each overhead as the median of its per-round
     * differences (the two chunks of a difference ran a few ms apart, under the same load).
     */
    const micro = async () => {
      const chunks = new Map(names.map((name) => [name, [] as number[]]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const name of shuffled(names)) {
          const call = variants[name] as (id: string) => Promise<void>;
          (chunks.get(name) as number[]).push(await timeChunk(call, CHUNK));
        }
      }
      const of = (name: string) => chunks.get(name) as number[];
      const diff = (a: string, b: string) =>
        median(of(a).map((ns, i) => ns - (of(b)[i] as number)));
      const out: Record<string, number> = {};
      for (const name of names) out[name] = median(of(name));
      out[WITH_SPAN_COST] = diff(WITH_SPAN, DIRECT);
      out[READ_COST] = diff(READ_OFF, READ_ABSENT);
      return out;
    };

    // Warm the JIT for every variant and the servers for every arm before anything is measured.
    for (const call of Object.values(variants)) await timeChunk(call, 10 * CHUNK);
    if (ctx.warmupS > 0) {
      ctx.log(`warming up (${ctx.warmupS} s per arm)`);
      for (const arm of arms) await hitRun(arm, ctx.warmupS);
    }

    ctx.metric(OFF, { unit: 'req/s' });
    ctx.metric(UNSAMPLED, { unit: 'req/s', baseline: OFF });
    ctx.metric(SAMPLED, { unit: 'req/s', baseline: OFF });
    ctx.metric(OFF_VS_UNSAMPLED, { unit: '×', decimals: 3 });
    ctx.metric(OFF_VS_SAMPLED, { unit: '×', decimals: 3 });
    ctx.metric(OFF_P99, { unit: 'ms', decimals: 1 });
    ctx.metric(UNSAMPLED_P99, { unit: 'ms', decimals: 1, baseline: OFF_P99 });
    ctx.metric(SAMPLED_P99, { unit: 'ms', decimals: 1, baseline: OFF_P99 });
    ctx.metric(DIRECT, { unit: 'ns/call', decimals: 1 });
    ctx.metric(WITH_SPAN, { unit: 'ns/call', decimals: 1, baseline: DIRECT });
    ctx.metric(WITH_SPAN_COST, { unit: 'ns/call', decimals: 1, allowZero: true });
    ctx.metric(WITH_SPAN_SHARE, { unit: '%', decimals: 3, allowZero: true });
    ctx.metric(READ_ABSENT, { unit: 'ns/call', decimals: 1 });
    ctx.metric(READ_OFF, { unit: 'ns/call', decimals: 1, baseline: READ_ABSENT });
    ctx.metric(READ_COST, { unit: 'ns/request', decimals: 1, allowZero: true });
    ctx.metric(READ_SHARE, { unit: '%', decimals: 3, allowZero: true });

    // Each repetition's shares set its in-process overheads against its own arm-1 rate, recorded
    // by whichever of the two arms runs second in that repetition.
    const perRep = new Map<number, { offRps?: number; withSpanNs?: number; readNs?: number }>();
    const shares = (rep: number): Record<string, number> => {
      const r = perRep.get(rep);
      if (r?.offRps === undefined || r.withSpanNs === undefined || r.readNs === undefined)
        return {};
      const requestNs = 1e9 / r.offRps;
      return {
        [WITH_SPAN_SHARE]: (100 * r.withSpanNs) / requestNs,
        [READ_SHARE]: (100 * r.readNs) / requestNs,
      };
    };
    const d = Math.max(1, Math.round(ctx.durationS));
    await ctx.alternate([
      {
        name: 'cached hits (1 s slices, shuffled)',
        run: async (rep) => {
          const r = await hitSlices(d);
          const rps = (metric: string) => (r[metric] as { rps: number }).rps;
          const out: Record<string, number> = {};
          for (const arm of arms) {
            out[arm.metric] = rps(arm.metric);
            out[arm.p99] = (r[arm.metric] as { p99: number }).p99;
          }
          out[OFF_VS_UNSAMPLED] = rps(OFF) / rps(UNSAMPLED);
          out[OFF_VS_SAMPLED] = rps(OFF) / rps(SAMPLED);
          perRep.set(rep, { ...perRep.get(rep), offRps: rps(OFF) });
          return { ...out, ...shares(rep) };
        },
      },
      {
        name: 'in process: withSpan off vs direct (shuffled chunks)',
        run: async (rep) => {
          const out = await micro();
          perRep.set(rep, {
            ...perRep.get(rep),
            withSpanNs: out[WITH_SPAN_COST],
            readNs: out[READ_COST],
          });
          return { ...out, ...shares(rep) };
        },
      },
    ]);
    if (sink === 0) throw new Error('tracing-overhead: the in-process variants did nothing');

    // The sampled instance's last spans wait in its batch processor (up to 5 s): wait for them.
    ctx.metric(EXPORTED, { unit: '% of its requests', decimals: 1 });
    for (let waited = 0, last = -1; waited < 12_000 && sampledSpans !== last; waited += 3_000) {
      last = sampledSpans;
      await new Promise((resolve) => setTimeout(resolve, waited === 0 ? 6_000 : 3_000));
      drainReceivers();
    }
    // What the sampled instance answered on the route, by its own count (autocannon does not count
    // the requests still in flight when a run ends; the service answered them).
    const sampledRequests = counterValue(
      (await httpGet(`${sampled.url}/metrics`)).body,
      'http_request_duration_seconds_count',
      'route="/v1/profiles/:id"',
    );
    ctx.record(EXPORTED, (100 * sampledSpans) / sampledRequests);
    ctx.note(
      `tracing-overhead: three profile-service instances (${entry}, Redis only, in-process tier off, LOG_LEVEL=info, stdout a drained pipe), autocannon ${CONNECTIONS} connections over ${HOT_KEYS} hot profiles, ${d} shuffled 1 s slices per arm and repetition (p99: median of the slices'). Arm 2: OTEL_EXPORTER_OTLP_ENDPOINT at an in-process OTLP receiver, OTEL_TRACES_SAMPLER=always_off (it received no export, as checked after every slice). Arm 3: parentbased_always_on, the SDK's defaults otherwise (http/protobuf, batch span processor: 5 s delay, queue 2,048, batches of 512), exporting to a receiver in the bench process (core 0, beside autocannon); it answered ${sampledRequests.toLocaleString('en-US')} profile reads (its own count) and ${sampledExports.toLocaleString('en-US')} export requests brought ${sampledSpans.toLocaleString('en-US')} "${CACHE_SPAN}" spans (one per sampled request: below 100% the batch processor dropped spans; above it, the up to ${CONNECTIONS} requests in flight when each autocannon run stops were traced, but their connection closed before the service counted them). "off / on" ratios: arm 1's rate over the other arm's, per repetition (informational: arms 1 and 2 both record nothing). In process (bench process, tracing off, the real withSpan and annotateSpan of @app/platform): ${ROUNDS} rounds of ${CHUNK.toLocaleString('en-US')} awaited calls per variant and repetition, the variants shuffled each round; a variant's figure is the median of its chunks, an overhead the median of the per-round differences; "withSpan" wraps the route's callback, "direct" awaits that callback itself; "read path" is routes/profiles.ts's cache read with withSpan and annotateSpan, against awaiting the read alone; shares divide the overhead by 1/(arm 1's rate) of the same repetition, the time one request takes of the service's core.`,
    );
  },
};
