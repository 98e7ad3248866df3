#!/usr/bin/env node
// A minimal Prisma generator that writes the schema's full DMMF (tables, columns, native types,
// nullability, indexes) to a JSON file. Prisma 7 ships getDMMF only inside its CLI bundle and the
// generated client keeps just a runtime subset (no native types), so this is how
// test/schema-matches.test.ts learns what schema.prisma declares. Speaks Prisma's generator
// protocol: JSON-RPC requests on stdin, one JSON response per line on stderr.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import process from 'node:process';

/** @param {number} id @param {unknown} result */
const reply = (id, result) => {
  process.stderr.write(JSON.stringify({ jsonrpc: '2.0', id, result }) + '\n');
};
/** @param {number} id @param {unknown} error */
const fail = (id, error) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32000, message, data: null } }) + '\n',
  );
};

createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return;
  }
  if (request.method === 'getManifest') {
    reply(request.id, {
      manifest: { prettyName: 'DMMF snapshot', defaultOutput: '../src/generated/dmmf.json' },
    });
    return;
  }
  if (request.method === 'generate') {
    try {
      // DMMF_OUTPUT lets a test snapshot the current schema without touching src/generated.
      const output = process.env.DMMF_OUTPUT || request.params.generator.output?.value;
      if (!output) throw new Error('dmmf generator: no output path configured');
      mkdirSync(dirname(output), { recursive: true });
      writeFileSync(output, JSON.stringify(request.params.dmmf.datamodel, null, 2) + '\n');
      reply(request.id, null);
    } catch (error) {
      fail(request.id, error);
    }
  }
});
