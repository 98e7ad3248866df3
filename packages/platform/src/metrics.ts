// Prometheus metrics for one app instance: its own registry (so two apps in one process, as in
// tests, never clash on metric names), default process metrics, and an HTTP latency histogram
// labelled by route pattern so that ids in URLs do not explode the label cardinality.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface AppMetrics {
  /** Register the service's own metrics here, not on prom-client's global registry. */
  registry: Registry;
  httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: AppMetrics;
  }
}

export interface MetricsPluginOptions {
  /** Labels added to every metric of this registry (e.g. `{ service: 'profile-service' }`). */
  defaultLabels?: Record<string, string>;
  /** Where the text exposition is served. */
  path?: string;
}

const startTimes = new WeakMap<object, bigint>();

export const metricsPlugin = fp<MetricsPluginOptions>(
  async (app: FastifyInstance, options) => {
    const registry = new Registry();
    if (options.defaultLabels) registry.setDefaultLabels(options.defaultLabels);
    collectDefaultMetrics({ register: registry });
    const httpRequestDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    app.decorate('metrics', { registry, httpRequestDuration });

    app.addHook('onRequest', async (request) => {
      startTimes.set(request, process.hrtime.bigint());
    });
    app.addHook('onResponse', async (request, reply) => {
      const start = startTimes.get(request);
      if (start === undefined) return;
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      httpRequestDuration.observe(
        {
          method: request.method,
          // Unmatched URLs share one label value: a scanner must not create a series per URL.
          route: request.routeOptions.url ?? '(unmatched)',
          status_code: String(reply.statusCode),
        },
        seconds,
      );
    });

    app.get(
      options.path ?? '/metrics',
      { schema: { hide: true }, logLevel: 'warn' },
      async (_request, reply) => {
        const body = await registry.metrics();
        return reply.type(registry.contentType).send(body);
      },
    );
  },
  { name: 'metrics', fastify: '5.x' },
);
