// `pnpm openapi`: regenerates deploy/openapi/api.json, the gateway's OpenAPI document, from the
// services' own documents merged (@app/testing's mergeOpenApi), and lints every document with
// Redocly (`recommended` and redocly.yaml). `pnpm openapi --check` writes nothing and fails (exit
// 1, with a summary of the differences) when the checked-in file is stale or Redocly reports any
// problem on any document. The services are GATEWAY_DOCUMENT's, each built as its tests build it
// (its test helper, on an isolated database, Redis prefix and NATS namespace of the local
// services), without listening, and closed once its document is read.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as prettier from 'prettier';
import { checkOpenApi, GATEWAY_DOCUMENT } from '../packages/testing/src/openapi.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const API_FILE = join(ROOT, GATEWAY_DOCUMENT.file);

/** @typedef {{ app: { swagger(): Record<string, unknown> } }} BuiltService */
/** @typedef {(t: { teardown(fn: () => unknown): void }) => Promise<BuiltService>} BuildService */

/**
 * Each service's OpenAPI document, from an instance built by its test helper's `build(t)`.
 * @returns {Promise<Record<string, Record<string, unknown>>>}
 */
async function serviceDocuments() {
  /** @type {Array<() => unknown>} */
  const teardowns = [];
  const t = { teardown: (/** @type {() => unknown} */ fn) => void teardowns.push(fn) };
  /** @type {Record<string, Record<string, unknown>>} */
  const documents = {};
  try {
    for (const name of GATEWAY_DOCUMENT.services) {
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
  documents: await serviceDocuments(),
  current,
});

if (check) {
  process.stdout.write(`${result.report}\n`);
  process.stdout.write(
    result.ok
      ? `openapi: ${file} is up to date, every document lints clean\n`
      : `openapi: FAILED (run \`pnpm openapi\` to regenerate ${file})\n`,
  );
  process.exit(result.ok ? 0 : 1);
}

mkdirSync(dirname(API_FILE), { recursive: true });
const options = (await prettier.resolveConfig(API_FILE)) ?? {};
writeFileSync(
  API_FILE,
  await prettier.format(JSON.stringify(result.merged), { ...options, filepath: API_FILE }),
);
const lintProblems = result.lint.some((r) => r.errors > 0 || r.warnings > 0);
process.stdout.write(
  `${result.lint.map((r) => `redocly ${r.name}: ${r.errors} error(s), ${r.warnings} warning(s)\n${r.problems.map((p) => `  ${p}\n`).join('')}`).join('')}` +
    `openapi: wrote ${file}${result.stale.length > 0 ? ` (${result.stale.length} difference(s) from before)` : ' (unchanged)'}\n`,
);
process.exit(lintProblems ? 1 : 0);
