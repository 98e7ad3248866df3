// Liveness and readiness. Liveness does no I/O (a slow dependency must not get the pod killed);
// readiness runs the checks of what the service cannot work without, each bounded by a timeout, and
// fails as soon as shutdown begins so that the load balancer stops sending work first.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import {
  jsonResponse,
  platformProblems,
  PROBLEM_CONTENT_TYPE,
  problemResponse,
  RETRY_AFTER,
  serverProblems,
} from '@app/contracts';
import { Type } from '@sinclair/typebox';
import { Gauge } from 'prom-client';
import { problemType } from './errors.js';
import { withTimeout } from './util.js';

export type ReadinessCheck = () => Promise<unknown>;

export interface Readiness {
  /** Adds a check run by `/health/ready`; a plugin may add its own (`nats`, `db`). */
  add(name: string, check: ReadinessCheck): void;
  /** Makes `/health/ready` answer 503 from now on; shutdown calls it first. */
  markNotReady(): void;
  readonly ready: boolean;
  /** Runs every check; what `/health/ready` answers. */
  run(): Promise<{ ok: boolean; checks: Record<string, string> }>;
}

declare module 'fastify' {
  interface FastifyInstance {
    readiness: Readiness;
    /** Shorthand for `readiness.markNotReady()`. */
    markNotReady(): void;
  }
}

export interface HealthPluginOptions {
  service: string;
  checks?: Record<string, ReadinessCheck>;
  timeoutMs?: number;
}

export const healthPlugin = fp<HealthPluginOptions>(
  async (app: FastifyInstance, options) => {
    const timeoutMs = options.timeoutMs ?? 2000;
    const checks = new Map<string, ReadinessCheck>(Object.entries(options.checks ?? {}));
    let ready = true;

    const readiness: Readiness = {
      add(name, check) {
        if (checks.has(name)) throw new Error(`readiness check "${name}" is already registered`);
        checks.set(name, check);
      },
      markNotReady() {
        ready = false;
      },
      get ready() {
        return ready;
      },
      async run() {
        const results: Record<string, string> = {};
        let ok = true;
        await Promise.all(
          [...checks].map(async ([name, check]) => {
            try {
              await withTimeout(Promise.resolve().then(check), timeoutMs, `check ${name}`);
              results[name] = 'ok';
            } catch (err) {
              ok = false;
              results[name] = 'failed';
              app.log.warn({ err, check: name }, 'readiness check failed');
            }
          }),
        );
        return { ok, checks: results };
      },
    };
    app.decorate('readiness', readiness);
    // What `/health/ready` would answer, at each scrape: an alert on instances failing readiness,
    // and on a service with none ready, needs no probe of its own.
    if (app.hasDecorator('metrics')) {
      new Gauge({
        name: 'service_ready',
        help: '1 when every readiness check of this instance passes (what /health/ready answers 200 for), else 0',
        registers: [app.metrics.registry],
        async collect() {
          this.set(ready && (await readiness.run()).ok ? 1 : 0);
        },
      });
    }
    app.decorate('markNotReady', () => readiness.markNotReady());
    // Fastify rejects new connections only once close() runs; failing readiness first lets the
    // load balancer drain this instance while in-flight requests finish.
    app.addHook('preClose', async () => readiness.markNotReady());

    app.get(
      '/health/live',
      {
        logLevel: 'warn',
        schema: {
          summary: 'Liveness: the process answers (no I/O)',
          operationId: 'getLiveness',
          tags: ['health'],
          security: [],
          response: {
            200: jsonResponse(
              Type.Object({ status: Type.Literal('ok') }, { examples: [{ status: 'ok' }] }),
              'The process is alive',
            ),
            ...serverProblems(),
          },
        },
      },
      async () => ({ status: 'ok' }),
    );

    app.get(
      '/health/ready',
      {
        logLevel: 'warn',
        schema: {
          summary: 'Readiness: every dependency this instance cannot work without answers',
          operationId: 'getReadiness',
          tags: ['health'],
          security: [],
          response: {
            200: jsonResponse(
              Type.Object(
                {
                  status: Type.Literal('ok'),
                  checks: Type.Record(Type.String(), Type.Literal('ok'), {
                    description: 'Each check by name',
                  }),
                },
                { examples: [{ status: 'ok', checks: { postgres: 'ok' } }] },
              ),
              'Ready: every check passed',
            ),
            500: serverProblems()[500],
            503: problemResponse(
              {
                NOT_READY:
                  'a check failed or timed out (`checks` tells which), or the instance is ' +
                  'shutting down',
                ...platformProblems('SHUTTING_DOWN'),
              },
              { 'retry-after': { ...RETRY_AFTER, required: false } },
            ),
          },
        },
      },
      async (request, reply) => {
        const notReady = (detail: string, results?: Record<string, string>) =>
          reply
            .code(503)
            .type(PROBLEM_CONTENT_TYPE)
            .send(
              JSON.stringify({
                type: problemType(options.service, 'NOT_READY'),
                title: 'Not ready',
                status: 503,
                code: 'NOT_READY',
                detail,
                instance: request.url,
                requestId: request.id,
                ...(results ? { checks: results } : {}),
              }),
            );
        if (!ready) return notReady('The service is shutting down');
        const { ok, checks: results } = await readiness.run();
        if (!ready) return notReady('The service is shutting down', results);
        if (!ok) {
          const failed = Object.keys(results).filter((k) => results[k] !== 'ok');
          return notReady(`Failed checks: ${failed.join(', ')}`, results);
        }
        return { status: 'ok', checks: results };
      },
    );
  },
  { name: 'health', fastify: '5.x' },
);
