// Starting the project's services for a scenario: each one as a child process the way a user runs
// it, in its folder, `node dist/server.js` once it is built (and the build is newer than every
// source file), else `node --import=tsx --conditions=app-source src/server.ts`; on a free port,
// pinned to the server core, awaited until /health/ready answers, and stopped when the scenario
// ends. The bench never imports a service: what it measures is the process a user starts.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '@app/testing';
import { commonServiceEnv, serviceDir, type BenchEnv } from './environment.js';
import type { ScenarioContext } from './harness.js';
import { startChild, waitReady, type Child } from './processes.js';

export type ServiceName = 'signup-service' | 'profile-service' | 'notification-service';

export interface RunningService {
  name: ServiceName;
  child: Child;
  /** `http://127.0.0.1:<port>` */
  url: string;
  stop(): Promise<void>;
}

export async function startService(
  ctx: ScenarioContext,
  env: BenchEnv,
  name: ServiceName,
  extraEnv: Record<string, string> = {},
  label: string = name,
  nodeArgs: string[] = [],
): Promise<RunningService> {
  const dir = serviceDir(name);
  const script = serviceEntry(dir);
  const port = await freePort();
  const child = startChild({
    script,
    cwd: dir,
    env: { ...commonServiceEnv(env, port), ...extraEnv },
    pinning: ctx.pinning,
    label,
    nodeArgs,
  });
  ctx.teardown(() => child.stop());
  const url = `http://127.0.0.1:${port}`;
  await waitReady(child, `${url}/health/ready`);
  return { name, child, url, stop: () => child.stop() };
}

/** Newest modification time of the files under `dir` (0 if there are none). */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * The entry point to run, relative to the service's folder: the build when there is one at least
 * as new as the sources (a stale build would measure code that is no longer there), else the source.
 */
export function serviceEntry(dir: string): 'dist/server.js' | 'src/server.ts' {
  const built = join(dir, 'dist', 'server.js');
  if (existsSync(built) && statSync(built).mtimeMs >= newestMtime(join(dir, 'src'))) {
    return 'dist/server.js';
  }
  if (!existsSync(join(dir, 'src', 'server.ts'))) throw new Error(`${dir} has no src/server.ts`);
  return 'src/server.ts';
}

/** Sum of a Prometheus counter in a /metrics text: all label sets, or those containing `labels`. */
export function counterValue(metricsText: string, name: string, labels?: string): number {
  let total = 0;
  let found = false;
  for (const line of metricsText.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match && match[1] === name && (!labels || (match[2] ?? '').includes(labels))) {
      total += Number(match[3]);
      found = true;
    }
  }
  if (!found) throw new Error(`metric ${name} not found in /metrics`);
  return total;
}
