#!/usr/bin/env node
// Stand-in for Prisma's native schema-engine binary, which cannot be downloaded here. `prisma
// generate` only needs the path to exist (it parses the schema with bundled WebAssembly); anything
// that really runs the engine (migrate, db push, introspection) gets a clear error instead of a hang.
import process from 'node:process';

const message =
  'The real Prisma schema engine is not installed here (it cannot be downloaded); this is the ' +
  'stand-in scripts/schema-engine-stand-in.mjs, which only lets `prisma generate` run offline. ' +
  'Apply migrations with `pnpm db:migrate`. Where the engine can be downloaded, unset ' +
  'PRISMA_SCHEMA_ENGINE_BINARY and use `prisma migrate deploy`.';
// Prisma skips the engine's first stderr line and parses the rest as JSON log records.
process.stderr.write(`schema-engine stand-in: ${message}\n`);
process.stderr.write(
  JSON.stringify({ level: 'ERROR', target: 'schema_engine::stand_in', fields: { message } }) + '\n',
);
process.exit(1);
