// What a production command may be: plain `node` on a compiled file under a package's dist/, never
// a TypeScript loader. The image, compose and Kubernetes checks all hold their commands to this,
// and map an in-image path back to the source file `pnpm build` compiles it from.
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

/** Flags or words that mean TypeScript runs from source (tsx, a loader, the source condition). */
const SOURCE_RUNNER = /tsx|--import|--loader|--experimental-strip-types|app-source|\.ts$/;

/** Problems with a `node <script>` command; none for `[node, <something>/dist/<file>.js]`. */
export function productionCommandProblems(command: readonly string[]): string[] {
  const problems: string[] = [];
  if (command[0] !== 'node') problems.push(`runs ${command[0] ?? '(nothing)'}, not node`);
  for (const word of command) {
    if (SOURCE_RUNNER.test(word)) problems.push(`"${word}" runs TypeScript from source`);
  }
  const script = command.at(-1) ?? '';
  if (!/(^|\/)dist\/.+\.js$/.test(script)) problems.push(`${script} is not a dist/*.js file`);
  return problems;
}

/**
 * The repository source a compiled in-image path is built from: `dist/server.js` of service `svc`
 * is services/svc/src/server.ts; `node_modules/@app/db/dist/cli/migrate.js` is
 * packages/db/src/cli/migrate.ts (each package's tsconfig.build.json maps src/ to dist/).
 */
export function sourceOfImagePath(path: string, service: string): string | undefined {
  const toSource = (p: string) => p.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts');
  const dependency = /^node_modules\/@app\/([^/]+)\/(dist\/.+\.js)$/.exec(path);
  if (dependency) return join(REPO_ROOT, 'packages', dependency[1]!, toSource(dependency[2]!));
  if (/^dist\/.+\.js$/.test(path)) return join(REPO_ROOT, 'services', service, toSource(path));
  return undefined;
}
