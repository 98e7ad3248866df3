// What every service's test helper shares: building one instance of a service (its loadConfig and
// buildApp) on a test's environment, ready, closed in teardown; several builds on one environment
// are several replicas of one system. The services' helpers make the environment (isolatedSystem
// plus their own variables, keys, SMTP sink and clients) and may wait for more after the start.
// Every response a test gets through the app's `inject` is checked against the app's own OpenAPI
// document (contract.ts), so a route that drifts from its contract fails the test that showed it.
import { checkInjects, isContractApp } from './contract.js';
import type { TestLike } from './isolation.js';

/** A service's skeleton as its tests see it: `loadConfig(env)` and `buildApp(config, deps)`. */
export interface ServiceModule<C, D, A> {
  loadConfig(env: Record<string, string | undefined>): C;
  buildApp(config: C, deps?: D): Promise<A>;
}

interface Closable {
  ready(): PromiseLike<unknown>;
  close(): PromiseLike<unknown>;
}

export interface Built<A, C, E> {
  app: A;
  config: C;
  env: E;
}

export interface BuildOverrides<E, D> {
  /** The environment to build on (a new one unless given: replicas share one). */
  env?: E;
  /** Variables over the environment's; `undefined` removes one. */
  vars?: Record<string, string | undefined>;
  deps?: D;
}

/**
 * Loads the config from `vars` and builds the app, silent unless `deps` gives a logger or a log
 * stream; waits until it is ready and closes it in teardown (before the environment goes). An app
 * with an OpenAPI document (`swagger()`) gets its `inject` checked against it.
 */
export async function startApp<
  C,
  D extends { logger?: unknown; logStream?: unknown },
  A extends Closable,
>(
  t: TestLike,
  service: ServiceModule<C, D, A>,
  vars: Record<string, string | undefined>,
  deps?: D,
): Promise<{ app: A; config: C }> {
  const config = service.loadConfig(vars);
  const app = await service.buildApp(
    config,
    (deps?.logStream === undefined ? { logger: false, ...deps } : deps) as D,
  );
  t.teardown(() => app.close());
  await app.ready();
  if (isContractApp(app)) checkInjects(app);
  return { app, config };
}

/**
 * A service test helper's `build(t, { env, vars, deps })`: the environment from `makeEnv` unless
 * one is given, the app started on it, then `afterStart` (waits a service's tests rely on).
 */
export function serviceBuilder<
  C,
  D extends { logger?: unknown; logStream?: unknown },
  A extends Closable,
  E extends { vars: Record<string, string | undefined> },
>(
  service: ServiceModule<C, D, A>,
  makeEnv: (t: TestLike) => Promise<E>,
  options: { deps?: D; afterStart?: (built: Built<A, C, E>) => Promise<void> } = {},
): (t: TestLike, overrides?: BuildOverrides<E, D>) => Promise<Built<A, C, E>> {
  return async (t, overrides = {}) => {
    const env = overrides.env ?? (await makeEnv(t));
    const deps = { ...options.deps, ...overrides.deps } as D;
    const { app, config } = await startApp(t, service, { ...env.vars, ...overrides.vars }, deps);
    const built = { app, config, env };
    await options.afterStart?.(built);
    return built;
  };
}
