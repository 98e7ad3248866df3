// The Postgres client as `app.prisma` (Prisma from @app/db). Connects and runs `SELECT 1` during
// registration so that a wrong DATABASE_URL fails start-up, and disconnects on close.
import { createPrisma, type PrismaClient } from '@app/db';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { redactUrl } from '@app/contracts';
import { withTimeout } from '../util.js';

export interface PrismaPluginOptions {
  databaseUrl: string;
  /** Pool size of this process. */
  poolMax?: number;
  /**
   * Bound on the first query (default 30 s). It includes Prisma's warm-up, which a loaded machine
   * stretches; a wrong host or port still fails at once with a refused connection.
   */
  connectTimeoutMs?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    prisma: PrismaClient;
    /** `SELECT 1`; the readiness probe for Postgres. */
    prismaPing(): Promise<void>;
  }
}

export const prismaPlugin = fp<PrismaPluginOptions>(
  async (app: FastifyInstance, options) => {
    const prisma = createPrisma(
      options.databaseUrl,
      options.poolMax === undefined ? {} : { max: options.poolMax },
    );
    const ping = async () => {
      await prisma.$queryRaw`SELECT 1`;
    };
    try {
      await withTimeout(ping(), options.connectTimeoutMs ?? 30_000, 'connecting to Postgres');
    } catch (err) {
      await prisma.$disconnect().catch(() => undefined);
      throw new Error(
        `Postgres at ${redactUrl(options.databaseUrl)} is unreachable: ${(err as Error).message}`,
        { cause: err },
      );
    }
    app.decorate('prisma', prisma);
    app.decorate('prismaPing', ping);
    app.addHook('onClose', async () => {
      await prisma.$disconnect();
    });
  },
  { name: 'prisma', fastify: '5.x' },
);
