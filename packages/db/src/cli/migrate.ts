// `pnpm db:migrate`: creates the database if needed, applies pending migrations, prints one line
// per migration and a summary. Exit code 1 on any failure, with the reason on stderr.
import { redactUrl } from '@app/contracts';
import { ensureDatabase } from '../database.js';
import { migrate } from '../migrate.js';

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/app';

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const target = redactUrl(databaseUrl);
  if (await ensureDatabase(databaseUrl)) console.log(`created database ${target}`);
  const result = await migrate({ databaseUrl, log: (line) => console.log(line) });
  console.log(
    `migrations: ${result.applied.length} applied, ${result.alreadyApplied.length} already applied (${target})`,
  );
}

main().catch((error: unknown) => {
  console.error(`migrate failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
