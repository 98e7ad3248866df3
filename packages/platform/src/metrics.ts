// Prometheus metrics for one app instance: its own registry (so two apps in one process, as in
// tests, never clash on metric names), default process metrics, and an HTTP latency histogram
// labelled by route pattern so that ids in URLs do not explode the label cardinality.
import { serverProblems } from '@app/contracts';
import { Type } from '@sinclair/typebox';
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

    // One callback hook and Fastify's own clock (reply.elapsedTime): no start time to keep per
    // request. The child of each label set is kept, so a request does not hash its labels again.
    type Child = ReturnType<typeof httpRequestDuration.labels>;
    const children = new Map<string, Child>();
    app.addHook('onResponse', (request, reply, done) => {
      // Unmatched URLs share one label value: a scanner must not create a series per URL.
      const route = request.routeOptions.url ?? '(unmatched)';
      const key = `${request.method} ${reply.statusCode} ${route}`;
      let child = children.get(key);
      if (child === undefined) {
        child = httpRequestDuration.labels({
          method: request.method,
          route,
          status_code: String(reply.statusCode),
        });
        children.set(key, child);
      }
      child.observe(reply.elapsedTime / 1000);
      done();
    });

    app.get(
      options.path ?? '/metrics',
      {
        schema: {
          summary: 'Prometheus metrics of this instance (text exposition format)',
          operationId: 'getMetrics',
          tags: ['metrics'],
          security: [],
          response: {
            200: {
              description: 'Every metric of this instance, in the Prometheus text format',
              content: { 'text/plain': { schema: Type.String() } },
            },
            ...serverProblems(),
          },
        },
        logLevel: 'warn',
      },
      async (_request, reply) => {
        const body = await registry.metrics();
        return reply.type(registry.contentType).send(body);
      },
    );
  },
  { name: 'metrics', fastify: '5.x' },
);
