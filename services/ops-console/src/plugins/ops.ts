// The console's view of the system as `app.ops`: the overview collector (and its sampler, which
// keeps the last hour's numbers), the dead-letter reader, the audit reads of Postgres, and the
// client of notification-service's admin API, through which every change goes. Needs the nats
// and prisma plugins; reads only (its Postgres session is read-only, see app.ts).
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { names as topologyNames, type Names } from '@app/contracts';
import { outboxProducers, type Config } from '../config.js';
import { AdminClient } from '../lib/admin-client.js';
import { AuditReader } from '../lib/audit.js';
import { DeadLetterReader } from '../lib/deadletters.js';
import { OverviewCollector } from '../lib/overview.js';

export interface Ops {
  names: Names;
  overview: OverviewCollector;
  deadLetters: DeadLetterReader;
  audit: AuditReader;
  admin: AdminClient;
  /** Resolves once the first sample of the numbers is taken (the start of the hour's counts). */
  firstSample: Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    ops: Ops;
  }
}

export const opsPlugin = fp<{ config: Config }>(
  async (app: FastifyInstance, { config }) => {
    const names = topologyNames(config.NATS_NAMESPACE);
    const audit = new AuditReader(app.prisma);
    const overview = new OverviewCollector({
      jsm: () => app.nats.jsm,
      names,
      outbox: () => audit.outboxBacklog(),
      producers: outboxProducers(config),
      services: {
        signup: { name: 'signup-service', url: config.OPS_SIGNUP_URL },
        profile: { name: 'profile-service', url: config.OPS_PROFILE_URL },
        notification: { name: 'notification-service', url: config.OPS_NOTIFICATION_URL },
      },
      timeoutMs: config.OPS_HTTP_TIMEOUT_MS,
    });
    const log = app.log.child({ plugin: 'ops' });
    let closed = false;
    const sample = async () => {
      if (closed) return;
      await overview.collect({ record: true }).catch((err: unknown) => {
        if (!closed) log.warn({ err }, 'sampling the overview failed');
      });
    };
    let resolveFirst: () => void = () => undefined;
    const firstSample = new Promise<void>((resolve) => (resolveFirst = resolve));
    let timer: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      // Not awaited: a service that does not answer must not hold up the console's start.
      void sample().finally(resolveFirst);
      if (config.OPS_SAMPLE_INTERVAL_MS > 0) {
        timer = setInterval(() => void sample(), config.OPS_SAMPLE_INTERVAL_MS);
        timer.unref();
      }
    });
    app.addHook('preClose', async () => {
      closed = true;
      clearInterval(timer);
      resolveFirst();
    });

    app.decorate('ops', {
      names,
      overview,
      deadLetters: new DeadLetterReader({
        jsm: () => app.nats.jsm,
        stream: names.streams.deadletter,
        scanMax: config.OPS_DEADLETTER_SCAN_MAX,
      }),
      audit,
      admin: new AdminClient({
        baseUrl: config.OPS_NOTIFICATION_URL,
        token: config.ADMIN_TOKEN,
        timeoutMs: config.OPS_HTTP_TIMEOUT_MS,
      }),
      firstSample,
    });
  },
  { name: 'ops', fastify: '5.x', dependencies: ['nats', 'prisma'] },
);
