#!/usr/bin/env node
// Runs `prisma generate` without network access: the package's `generate` and `postinstall`
// script, so a fresh `pnpm install` produces src/generated/ (the client and the DMMF snapshot).
// Prisma's CLI otherwise downloads a native schema-engine binary before generating, although
// generation itself only uses bundled WebAssembly; pointing PRISMA_SCHEMA_ENGINE_BINARY at a
// stand-in skips that download (and its checksum fetch) entirely. CHECKPOINT_DISABLE stops the
// CLI's update/telemetry check, which would otherwise try the network. The CLI is a devDependency:
// a production install (`pnpm deploy --prod`) has no CLI and needs none, since the generated client
// is compiled into dist/, so there this script does nothing.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
let prismaCli;
try {
  prismaCli = createRequire(import.meta.url).resolve('prisma/build/index.js');
} catch {
  process.stderr.write('prisma generate skipped: no Prisma CLI here (a production install)\n');
  process.exit(0);
}

const env = {
  ...process.env,
  // A real engine set by the caller (e.g. an image that has one) wins over the stand-in.
  PRISMA_SCHEMA_ENGINE_BINARY:
    process.env.PRISMA_SCHEMA_ENGINE_BINARY ||
    join(packageDir, 'scripts', 'schema-engine-stand-in.mjs'),
  CHECKPOINT_DISABLE: '1',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
};

const result = spawnSync(
  process.execPath,
  [prismaCli, 'generate', '--schema', join(packageDir, 'prisma', 'schema.prisma')],
  { cwd: packageDir, env, stdio: 'inherit' },
);
if (result.error) {
  process.stderr.write(`prisma generate could not start: ${result.error.message}\n`);
  process.exit(1);
}
process.exit(result.status ?? 1);
