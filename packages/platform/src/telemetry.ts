// OpenTelemetry tracing, off unless an OTLP endpoint is configured, with the SDK's standard
// variables (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT and _PROTOCOL: http/protobuf, http/json or grpc;
// OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER[_ARG], OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED). The
// maintained instrumentations see HTTP (node's http, Fastify through @fastify/otel), Postgres (pg,
// under Prisma's adapter too) and Redis (ioredis); `spans.ts` adds what they cannot see.
//
// A service's entry calls `startTelemetry` before it imports anything that loads pg or ioredis: the
// ESM loader hook that lets the instrumentations patch them must be registered first, and only for
// them (`include`), so no other module pays for it. Tracing off, nothing is loaded or registered.
import { register } from 'node:module';

export interface Telemetry {
  enabled: boolean;
  /** Exports the spans still buffered; the process's shutdown awaits it. */
  shutdown(this: void): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

/** True when the environment asks for traces to be exported (what `startTelemetry` follows). */
export function tracingConfigured(env: Env = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  if (env.OTEL_TRACES_EXPORTER?.split(',').every((e) => e.trim() === 'none')) return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);
}

const PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'];
const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

/** Every OTEL_* setting the SDK would reject or silently ignore, each named with what it takes. */
export function telemetryConfigErrors(env: Env = process.env): string[] {
  const errors: string[] = [];
  for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) {
    const value = env[name];
    if (value && !/^https?:\/\/[^/]/.test(value))
      errors.push(`${name}: not an http(s) URL: ${value}`);
  }
  for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']) {
    const value = env[name];
    if (value && !PROTOCOLS.includes(value)) {
      errors.push(`${name}: ${value} is not one of ${PROTOCOLS.join(', ')}`);
    }
  }
  const sampler = env.OTEL_TRACES_SAMPLER;
  if (sampler && !SAMPLERS.includes(sampler)) {
    errors.push(`OTEL_TRACES_SAMPLER: ${sampler} is not one of ${SAMPLERS.join(', ')}`);
  }
  const ratio = env.OTEL_TRACES_SAMPLER_ARG;
  if (ratio && sampler?.endsWith('traceidratio') && !(Number(ratio) >= 0 && Number(ratio) <= 1)) {
    errors.push(`OTEL_TRACES_SAMPLER_ARG: ${ratio} is not a ratio between 0 and 1`);
  }
  return errors;
}

const OFF: Telemetry = { enabled: false, shutdown: async () => undefined };
let current: Telemetry = OFF;

/** Whether this process exports traces (the cheap check a hot path makes before a span). */
export function tracingEnabled(): boolean {
  return current.enabled;
}

/** Paths whose requests make no trace: probes and scrapes, every few seconds, on every instance. */
const UNTRACED = /^\/(health\/|metrics(\?|$))/;

export async function startTelemetry(
  serviceName: string,
  env: Env = process.env,
): Promise<Telemetry> {
  if (current.enabled || !tracingConfigured(env)) return current;
  const errors = telemetryConfigErrors(env);
  if (errors.length > 0) {
    throw new Error(`invalid tracing configuration:\n  ${errors.join('\n  ')}`);
  }
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
    data: { include: ['pg', 'pg-pool', 'ioredis'] },
  });
  const [
    { NodeSDK },
    { HttpInstrumentation },
    { PgInstrumentation },
    { IORedisInstrumentation },
    { FastifyOtelInstrumentation },
  ] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@fastify/otel'),
  ]);
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME, when set, names the service instead.
    serviceName: env.OTEL_SERVICE_NAME ?? serviceName,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED.test(request.url ?? ''),
      }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        // The request and handler spans; a span per lifecycle hook would outnumber the work.
        instrumentHooks: false,
        ignorePaths: (route) => UNTRACED.test(route.url),
      }),
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  current = { enabled: true, shutdown: () => sdk.shutdown() };
  return current;
}
