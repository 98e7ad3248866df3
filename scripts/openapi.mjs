// `pnpm openapi`: regenerates deploy/openapi/api.json, the gateway's OpenAPI document, from the
// services' own documents merged (@app/testing's mergeOpenApi), and the typed client's types made
// from it (packages/client/src/api.ts, by openapi-typescript), and lints every document with
// Redocly (`recommended` and redocly.yaml). `pnpm openapi --check` writes nothing and fails (exit
// 1, with a summary of the differences) when either checked-in file is stale or Redocly reports
// any problem on any document. The services are GATEWAY_DOCUMENT's, each built as its tests build it
// (its test helper, on an isolated database, Redis prefix and NATS namespace of the local
// services), without listening, and closed once its document is read.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as prettier from 'prettier';
import {
  CLIENT_TYPES,
  clientTypesDifference,
  generateClientTypes,
} from '../packages/client/src/generate.js';
import { checkOpenApi, GATEWAY_DOCUMENT } from '../packages/testing/src/openapi.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const API_FILE = join(ROOT, GATEWAY_DOCUMENT.file);
const CLIENT_FILE = join(ROOT, CLIENT_TYPES.file);

/** @typedef {{ app: { swagger(): Record<string, unknown> } }} BuiltService */
/** @typedef {(t: { teardown(fn: () => unknown): void }) => Promise<BuiltService>} BuildService */

/**
 * Each named service's OpenAPI document, from an instance built by its test helper's `build(t)`.
 * @param {readonly string[]} names
 * @returns {Promise<Record<string, Record<string, unknown>>>}
 */
async function serviceDocuments(names) {
  /** @type {Array<() => unknown>} */
  const teardowns = [];
  const t = { teardown: (/** @type {() => unknown} */ fn) => void teardowns.push(fn) };
  /** @type {Record<string, Record<string, unknown>>} */
  const documents = {};
  try {
    for (const name of names) {
      const helper = join(ROOT, 'services', name, 'test', 'helper.ts');
      const { build } = /** @type {{ build: BuildService }} */ (
        await import(pathToFileURL(helper).href)
      );
      const { app } = await build(t);
      documents[name] = app.swagger();
    }
  } finally {
    for (const fn of teardowns.reverse()) await fn();
  }
  return documents;
}

const check = process.argv.includes('--check');
const file = relative(ROOT, API_FILE);
const current = existsSync(API_FILE) ? JSON.parse(readFileSync(API_FILE, 'utf8')) : undefined;
const result = await checkOpenApi({
  root: ROOT,
  documents: await serviceDocuments(GATEWAY_DOCUMENT.services),
  alone: await serviceDocuments(GATEWAY_DOCUMENT.alone),
  current,
});
const clientTypes = await generateClientTypes(ROOT, result.merged);
const clientFile = relative(ROOT, CLIENT_FILE);

if (check) {
  const clientStale = clientTypesDifference(
    clientTypes,
    existsSync(CLIENT_FILE) ? readFileSync(CLIENT_FILE, 'utf8') : undefined,
  );
  const ok = result.ok && clientStale === undefined;
  process.stdout.write(`${result.report}\n${clientStale === undefined ? '' : `${clientStale}\n`}`);
  process.stdout.write(
    ok
      ? `openapi: ${file} and ${clientFile} are up to date, every document lints clean\n`
      : `openapi: FAILED (run \`pnpm openapi\` to regenerate ${file} and ${clientFile})\n`,
  );
  process.exit(ok ? 0 : 1);
}

mkdirSync(dirname(API_FILE), { recursive: true });
const options = (await prettier.resolveConfig(API_FILE)) ?? {};
writeFileSync(
  API_FILE,
  await prettier.format(JSON.stringify(result.merged), { ...options, filepath: API_FILE }),
);
const clientBefore = existsSync(CLIENT_FILE) ? readFileSync(CLIENT_FILE, 'utf8') : undefined;
writeFileSync(CLIENT_FILE, clientTypes);
const lintProblems = result.lint.some((r) => r.errors > 0 || r.warnings > 0);
process.stdout.write(
  `${result.lint.map((r) => `redocly ${r.name}: ${r.errors} error(s), ${r.warnings} warning(s)\n${r.problems.map((p) => `  ${p}\n`).join('')}`).join('')}` +
    `openapi: wrote ${file}${result.stale.length > 0 ? ` (${result.stale.length} difference(s) from before)` : ' (unchanged)'}\n` +
    `openapi: wrote ${clientFile}${clientBefore === clientTypes ? ' (unchanged)' : ' (changed)'}\n`,
);
process.exit(lintProblems ? 1 : 0);
