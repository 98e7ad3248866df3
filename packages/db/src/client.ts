// Builds the Prisma client every service uses: the generated `prisma-client` code on top of
// @prisma/adapter-pg, so queries run through node-postgres and no native query engine is needed.
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client.js';

export interface CreatePrismaOptions {
  /** Pool size of the underlying node-postgres pool (pg's default is 10). */
  max?: number;
}

export function createPrisma(databaseUrl: string, options: CreatePrismaOptions = {}): PrismaClient {
  const adapter = new PrismaPg(
    options.max === undefined
      ? { connectionString: databaseUrl }
      : { connectionString: databaseUrl, max: options.max },
  );
  return new PrismaClient({ adapter });
}
