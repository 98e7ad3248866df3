// Prisma 7 reads the schema location and the datasource URL from here, not from schema.prisma.
// `prisma generate` needs no database; the URL only matters to `prisma migrate deploy` where the
// schema engine is available.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/app',
  },
});
