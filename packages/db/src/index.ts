// Public surface of @app/db: the migration command's API, the client factory, and the generated
// Prisma types (src/generated is produced by `pnpm db:generate`, also run on install).
export { migrate, migrationsDir, MigrationError, MIGRATE_ADVISORY_LOCK_ID } from './migrate.js';
export type { MigrateOptions, MigrateResult } from './migrate.js';
export { ensureDatabase } from './database.js';
export { createPrisma } from './client.js';
export type { CreatePrismaOptions } from './client.js';
export { PrismaClient, Prisma } from './generated/prisma/client.js';
export type {
  User,
  Profile,
  OutboxEvent,
  IdempotencyKey,
  NotificationDelivery,
  DeadLetterRedrive,
} from './generated/prisma/client.js';
