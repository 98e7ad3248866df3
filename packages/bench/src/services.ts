// Starting the project's services for a scenario: each one as a child process exactly as
// `node --import=tsx --conditions=app-source src/server.ts` in its folder, on a free port, pinned
// to the server core, awaited until /health/ready answers, and stopped when the scenario ends.
import { existsSync } from 'node:fs';
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
): Promise<RunningService> {
  const dir = serviceDir(name);
  const entry = join(dir, 'src', 'server.ts');
  if (!existsSync(entry)) throw new Error(`${name} has no ${entry}: the service is not built yet`);
  const port = await freePort();
  const child = startChild({
    script: 'src/server.ts',
    cwd: dir,
    env: { ...commonServiceEnv(env, port), ...extraEnv },
    pinning: ctx.pinning,
    label,
  });
  ctx.teardown(() => child.stop());
  const url = `http://127.0.0.1:${port}`;
  await waitReady(child, `${url}/health/ready`);
  return { name, child, url, stop: () => child.stop() };
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
