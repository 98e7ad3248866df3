// Which Redis a service talks to, from the shared variables (DESIGN.md "Ports and config names"):
// one node at REDIS_URL, a Redis Cluster found through REDIS_CLUSTER_NODES, or the master that the
// REDIS_SENTINELS name for REDIS_SENTINEL_MASTER. The redis plugin builds its client from this, so
// every service chooses the mode with the same variables and logs it the same way.
import { redactUrl } from '@app/contracts';

export interface RedisNodeAddress {
  host: string;
  port: number;
}

export type RedisTopology =
  | { mode: 'single'; url: string }
  | { mode: 'cluster'; nodes: RedisNodeAddress[]; password?: string | undefined }
  | {
      mode: 'sentinel';
      sentinels: RedisNodeAddress[];
      /** The master name the sentinels monitor. */
      name: string;
      password?: string | undefined;
      sentinelPassword?: string | undefined;
    };

/** The REDIS_* part of a service's config (CommonEnv). */
export interface RedisEnv {
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: string | undefined;
  REDIS_SENTINELS?: string | undefined;
  REDIS_SENTINEL_MASTER?: string | undefined;
  REDIS_PASSWORD?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
}

/** `"a:6379, b:6380"` as addresses; the config schema has checked the shape. */
export function parseHostPorts(list: string): RedisNodeAddress[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((entry) => {
      const colon = entry.lastIndexOf(':');
      return { host: entry.slice(0, colon), port: Number(entry.slice(colon + 1)) };
    });
}

/** The topology a validated config selects: Cluster, Sentinel, or the one node of REDIS_URL. */
export function redisTopology(env: RedisEnv): RedisTopology {
  if (env.REDIS_CLUSTER_NODES !== undefined) {
    return {
      mode: 'cluster',
      nodes: parseHostPorts(env.REDIS_CLUSTER_NODES),
      password: env.REDIS_PASSWORD,
    };
  }
  if (env.REDIS_SENTINELS !== undefined) {
    if (env.REDIS_SENTINEL_MASTER === undefined) {
      throw new Error('REDIS_SENTINELS is set without REDIS_SENTINEL_MASTER');
    }
    return {
      mode: 'sentinel',
      sentinels: parseHostPorts(env.REDIS_SENTINELS),
      name: env.REDIS_SENTINEL_MASTER,
      password: env.REDIS_PASSWORD,
      sentinelPassword: env.REDIS_SENTINEL_PASSWORD,
    };
  }
  return { mode: 'single', url: env.REDIS_URL };
}

/** For logs and errors: the mode and where, never a password. */
export function describeRedisTopology(topology: RedisTopology): string {
  const list = (nodes: RedisNodeAddress[]) => nodes.map((n) => `${n.host}:${n.port}`).join(',');
  switch (topology.mode) {
    case 'single':
      return redactUrl(topology.url);
    case 'cluster':
      return `cluster ${list(topology.nodes)}`;
    case 'sentinel':
      return `sentinel ${topology.name} via ${list(topology.sentinels)}`;
  }
}
