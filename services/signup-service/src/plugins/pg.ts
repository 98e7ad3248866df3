// The Postgres pool of the signup hot path as `app.pg`: the signup transaction and the
// idempotency-key statements run as parameterised SQL on it, because through Prisma the same path
// cost more CPU per signup than the project allows (README, Data access). Everything else uses
// platform's `app.prisma`.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import pg from 'pg';

export interface PgPluginOptions {
  databaseUrl: string;
  max?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    pg: pg.Pool;
  }
}

export const pgPlugin = fp<PgPluginOptions>(
  async (app: FastifyInstance, options) => {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.max ?? 10,
      connectionTimeoutMillis: 5000,
    });
    pool.on('error', (err) => app.log.warn({ err }, 'idle Postgres connection lost'));
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`Postgres is unreachable: ${(err as Error).message}`, { cause: err });
    }
    app.decorate('pg', pool);
    app.addHook('onClose', async () => pool.end());
  },
  { name: 'pg', fastify: '5.x' },
);
