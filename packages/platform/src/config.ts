// Configuration from the environment: TypeBox schemas with defaults and string coercion, validated
// once at start-up so that a service with a bad or missing variable refuses to start and says
// exactly which variables are wrong, without ever echoing a secret's value.
import { isIP } from 'node:net';
import {
  FormatRegistry,
  Kind,
  Type,
  type Static,
  type TObject,
  type TSchema,
} from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { redactUrl } from '@app/contracts';

export class ConfigError extends Error {
  /** One entry per bad or missing variable, as printed in the message. */
  readonly problems: ReadonlyArray<{ variable: string; problem: string }>;

  constructor(problems: Array<{ variable: string; problem: string }>) {
    super(
      ['Invalid configuration:', ...problems.map((p) => `  ${p.variable}: ${p.problem}`)].join(
        '\n',
      ),
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const SECRET_NAME = /KEY|SECRET|TOKEN|PASSWORD/i;

/** True for variable names whose values must never be printed. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * Reads the variables named by `schema` from `env`, applies defaults, converts strings to numbers,
 * integers and booleans, and validates. Throws a ConfigError naming every bad variable.
 * Empty strings count as unset, as `FOO=` in a compose file or a Kubernetes manifest means "none".
 */
export function loadConfig<S extends TObject>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): Static<S> {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const converted = Value.Convert(schema, Value.Default(schema, raw));
  const valid = Value.Check(schema, converted);
  const problems = new Map<string, string>();
  for (const error of valid ? [] : Value.Errors(schema, converted)) {
    const variable = error.path.split('/')[1] ?? '';
    if (variable === '' || problems.has(variable)) continue;
    const fieldSchema: TSchema | undefined = schema.properties[variable];
    const expected = fieldSchema ? describe(fieldSchema) : 'nothing (unknown variable)';
    const value = raw[variable];
    if (value === undefined) {
      problems.set(variable, `required, missing (expected ${expected})`);
    } else {
      const shown = isSecretName(variable)
        ? '(value hidden)'
        : JSON.stringify(redactUrl(typeof value === 'string' ? value : JSON.stringify(value)));
      problems.set(variable, `expected ${expected}, got ${shown}`);
    }
  }
  for (const { variable, problem } of redisTopologyProblems(raw)) {
    if (!problems.has(variable)) problems.set(variable, problem);
  }
  if (valid && problems.size === 0) return converted;
  throw new ConfigError([...problems].map(([variable, problem]) => ({ variable, problem })));
}

/** What a schema accepts, in words: `integer 1..65535`, `one of "info", "debug"`. */
function describe(schema: TSchema): string {
  if (typeof schema.description === 'string' && schema.description !== '') {
    return schema.description;
  }
  const kind: string = schema[Kind];
  const range = (s: TSchema) => {
    const min = (s.minimum as number | undefined) ?? (s.exclusiveMinimum as number | undefined);
    const max = (s.maximum as number | undefined) ?? (s.exclusiveMaximum as number | undefined);
    if (min === undefined && max === undefined) return '';
    return ` ${min ?? ''}..${max ?? ''}`;
  };
  switch (kind) {
    case 'Integer':
      return `integer${range(schema)}`;
    case 'Number':
      return `number${range(schema)}`;
    case 'Boolean':
      return 'boolean (true or false)';
    case 'Literal':
      return JSON.stringify(schema.const);
    case 'Union': {
      const anyOf = schema.anyOf as TSchema[];
      if (anyOf.every((s) => s[Kind] === 'Literal')) {
        return `one of ${anyOf.map((s) => JSON.stringify(s.const)).join(', ')}`;
      }
      return anyOf.map(describe).join(' or ');
    }
    case 'String': {
      const parts = ['string'];
      if (schema.minLength !== undefined) parts.push(`of at least ${String(schema.minLength)}`);
      if (schema.pattern !== undefined) parts.push(`matching /${String(schema.pattern)}/`);
      if (schema.format !== undefined) parts.push(`in format ${String(schema.format)}`);
      return parts.join(' ');
    }
    default:
      return kind.toLowerCase();
  }
}

/** An integer environment variable within [minimum, maximum]. */
export function IntEnv(defaultValue: number | undefined, minimum: number, maximum?: number) {
  return Type.Integer({
    minimum,
    ...(maximum === undefined ? {} : { maximum }),
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  });
}

/** A boolean environment variable: accepts true/false/1/0. */
export function BoolEnv(defaultValue: boolean) {
  return Type.Boolean({ default: defaultValue });
}

/** The HTTP port; 0 asks the OS for a free one (handy for end-to-end tests). */
export function PortEnv(defaultPort: number) {
  return Type.Integer({
    minimum: 0,
    maximum: 65535,
    default: defaultPort,
    description: 'integer 0..65535 (0 picks a free port)',
  });
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/app';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

const HOST_PORT = String.raw`[^\s,:/@]+:\d{1,5}`;
const HOST_PORT_LIST = `^${HOST_PORT}(\\s*,\\s*${HOST_PORT})*$`;
const HOST_PORT_DESCRIPTION = 'comma-separated host:port pairs (10.0.0.1:6379,10.0.0.2:6379)';

/**
 * The Redis topology variables that only make sense together (REDIS_SENTINELS needs
 * REDIS_SENTINEL_MASTER) or apart (Cluster or Sentinel, not both), as problems of each variable.
 */
function redisTopologyProblems(
  raw: Record<string, unknown>,
): Array<{ variable: string; problem: string }> {
  const cluster = raw.REDIS_CLUSTER_NODES !== undefined;
  const sentinels = raw.REDIS_SENTINELS !== undefined;
  const problems: Array<{ variable: string; problem: string }> = [];
  if (cluster && sentinels) {
    for (const variable of ['REDIS_CLUSTER_NODES', 'REDIS_SENTINELS']) {
      problems.push({
        variable,
        problem: 'set REDIS_CLUSTER_NODES (Cluster) or REDIS_SENTINELS (Sentinel), not both',
      });
    }
  }
  if (sentinels && raw.REDIS_SENTINEL_MASTER === undefined) {
    problems.push({
      variable: 'REDIS_SENTINEL_MASTER',
      problem: 'required with REDIS_SENTINELS, missing (the master name the sentinels monitor)',
    });
  }
  if (!sentinels && raw.REDIS_SENTINEL_MASTER !== undefined) {
    problems.push({
      variable: 'REDIS_SENTINEL_MASTER',
      problem: 'only meaningful with REDIS_SENTINELS, which is not set',
    });
  }
  return problems;
}

const NATS_SERVER = String.raw`(nats|tls|ws|wss)://[^\s,]+|[^\s,:/]+:\d+`;
// A browser origin: scheme, host and optional port, nothing after (no path, no trailing slash).
const ORIGIN = String.raw`https?://[A-Za-z0-9.-]+(:\d{1,5})?`;

const TRUST_PROXY_DESCRIPTION =
  'empty (trust no proxy), or comma-separated IP addresses or CIDR ranges (10.0.0.5,10.1.0.0/16)';

/** One `TRUST_PROXY` entry: an IPv4 or IPv6 address, or a CIDR range of either. */
function isAddressOrCidr(entry: string): boolean {
  if (entry.includes('%')) return false; // a zone id, which Fastify's proxy-addr cannot match
  const slash = entry.indexOf('/');
  if (slash === -1) return isIP(entry) !== 0;
  const version = isIP(entry.slice(0, slash));
  const bits = entry.slice(slash + 1);
  if (version === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (version === 4 ? 32 : 128);
}

/**
 * The addresses of `TRUST_PROXY` ("10.0.0.5, 10.1.0.0/16"), as Fastify's `trustProxy` takes them;
 * empty for an empty value. Throws a ConfigError naming the variable and each bad entry.
 */
export function trustProxyAddresses(value: string): string[] {
  if (value.trim() === '') return [];
  const entries = value.split(',').map((s) => s.trim());
  const bad = entries.filter((e) => !isAddressOrCidr(e));
  if (bad.length > 0) {
    throw new ConfigError([
      {
        variable: 'TRUST_PROXY',
        problem: `expected ${TRUST_PROXY_DESCRIPTION}, got ${bad.map((b) => JSON.stringify(b)).join(', ')}`,
      },
    ]);
  }
  return entries;
}

if (!FormatRegistry.Has('trust-proxy')) {
  FormatRegistry.Set(
    'trust-proxy',
    (v) => v.trim() === '' || v.split(',').every((e) => isAddressOrCidr(e.trim())),
  );
}

/**
 * The variables every service shares (DESIGN.md "Ports and config names"). A service spreads them
 * into its own schema: `Type.Object({ ...CommonEnv, PORT: PortEnv(3002), PROFILE_CACHE_TTL_SECONDS: ... })`.
 */
export const CommonEnv = {
  DATABASE_URL: Type.String({
    pattern: '^postgres(ql)?://',
    default: DEFAULT_DATABASE_URL,
    description: 'a postgresql:// URL',
  }),
  REDIS_URL: Type.String({
    pattern: '^rediss?://',
    default: DEFAULT_REDIS_URL,
    description: 'a redis:// or rediss:// URL',
  }),
  /** Redis Cluster: any of its nodes (the client discovers the rest); REDIS_URL is then unused. */
  REDIS_CLUSTER_NODES: Type.Optional(
    Type.String({ pattern: HOST_PORT_LIST, description: HOST_PORT_DESCRIPTION }),
  ),
  /** Redis Sentinel: the sentinels to ask for REDIS_SENTINEL_MASTER's address. */
  REDIS_SENTINELS: Type.Optional(
    Type.String({ pattern: HOST_PORT_LIST, description: HOST_PORT_DESCRIPTION }),
  ),
  REDIS_SENTINEL_MASTER: Type.Optional(
    Type.String({
      pattern: String.raw`^[A-Za-z0-9._-]+$`,
      description: 'the master name the sentinels monitor (letters, digits, . _ -)',
    }),
  ),
  /** The Redis nodes' password in Cluster and Sentinel mode (REDIS_URL carries its own). */
  REDIS_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  NATS_URL: Type.String({
    pattern: `^(${NATS_SERVER})(,\\s*(${NATS_SERVER}))*$`,
    default: DEFAULT_NATS_URL,
    description: 'comma-separated NATS server URLs (nats://host:port,...)',
  }),
  PORT: PortEnv(3000),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0', description: 'a host name or IP address' }),
  LOG_LEVEL: Type.Union(
    LOG_LEVELS.map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  NATS_NAMESPACE: Type.String({
    pattern: '^([a-z][a-z0-9_]{0,31})?$',
    default: '',
    description: 'empty, or lowercase letters, digits and _ starting with a letter (max 32)',
  }),
  NATS_STREAM_REPLICAS: Type.Integer({ minimum: 1, maximum: 5, default: 1 }),
  CORS_ORIGINS: Type.String({
    pattern: `^(${ORIGIN}(\\s*,\\s*${ORIGIN})*)?$`,
    default: '',
    description:
      'empty (no cross-origin access), or comma-separated origins like https://app.example',
  }),
  /**
   * The proxies (the gateway, an ingress) whose `X-Forwarded-*` headers a service believes, so that
   * `request.ip` is the client's address only when the peer is one of them. Empty: trust nothing.
   */
  TRUST_PROXY: Type.String({
    format: 'trust-proxy',
    default: '',
    description: TRUST_PROXY_DESCRIPTION,
  }),
  /**
   * On SIGTERM, how long a service keeps serving after failing readiness, so that a balancer's
   * health checks stop sending to it before its listener closes (runServer's `drainMs`).
   */
  SHUTDOWN_DRAIN_MS: IntEnv(0, 0, 60_000),
};

/** Splits `CORS_ORIGINS` into the list createApp's `cors.origins` takes (empty: CORS off). */
export function corsOrigins(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Splits `NATS_URL` ("nats://a:4222, nats://b:4222") into the server list the client takes. */
export function natsServers(url: string): string[] {
  return url
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
