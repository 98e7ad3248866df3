// The nginx gateway's configuration (deploy/gateway/nginx.conf.template) rendered for one place:
// nginx reads no environment, so the upstream addresses, the listen address, where logs and temp
// files go and the rate limit are filled in here, each checked, and a placeholder left unfilled
// is an error rather than a config nginx would refuse (or worse, accept) later.
import { accessSync, chmodSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DEPLOY_DIR } from './paths.js';

export const GATEWAY_TEMPLATE = join(DEPLOY_DIR, 'gateway', 'nginx.conf.template');
/** The template rendered for docker-compose.yml (mounted into the gateway container). */
export const GATEWAY_COMPOSE_CONFIG = join(DEPLOY_DIR, 'gateway', 'nginx.compose.conf');

/** The gateway's default port (`pnpm gateway`, docker-compose). */
export const GATEWAY_PORT = 8080;

/** What the gateway's rate limit allows per client address, when not told otherwise. */
export const DEFAULT_GATEWAY_RATE = '20r/s';
export const DEFAULT_GATEWAY_BURST = 40;

export interface GatewayOptions {
  /** `host:port` of each service. */
  upstreams: { signup: string; profile: string; notification: string };
  /** What nginx listens on: a port (`8080`) or `address:port` (`127.0.0.1:8080`). */
  listen: string | number;
  /** Error log: a file path, `stderr` or `/dev/stderr`. */
  errorLog: string;
  /** Access log (one JSON line per request): a file path or `/dev/stdout`. */
  accessLog: string;
  /** Directory under which nginx keeps its temp files (bodies, proxied responses). */
  tempDir: string;
  /** Requests per client address: `20r/s`, `600r/m`. Default DEFAULT_GATEWAY_RATE. */
  rate?: string;
  /** Requests over the rate answered at once before 429s begin. Default DEFAULT_GATEWAY_BURST. */
  burst?: number;
  /**
   * The source address of the gateway's connections to the services (nginx `proxy_bind`), so they
   * can trust exactly that address (TRUST_PROXY); default: the system's choice.
   */
  proxyBind?: string;
  /** The user nginx's workers run as (when the master runs as root); default nginx's own. */
  user?: string;
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const LISTEN = /^((\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/;
const RATE = /^([1-9]\d*)r\/(s|m)$/;
/** A path or a word nginx takes as a log target: no spaces, quotes or `;` to break the config. */
const SAFE_PATH = /^[A-Za-z0-9_./-]+$/;

/** Seconds until a client over the limit gets a request through again (Retry-After). */
export function retryAfterSeconds(rate: string): number {
  const m = RATE.exec(rate);
  if (!m) throw new Error(`rate must look like 20r/s or 600r/m, got "${rate}"`);
  const perSecond = Number(m[1]) / (m[2] === 's' ? 1 : 60);
  return Math.max(1, Math.ceil(1 / perSecond));
}

function checkPort(port: string, what: string): void {
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new Error(`${what}: port ${port} is out of range`);
}

/** The problems with `options`, each naming the option; empty when it renders. */
export function gatewayOptionProblems(options: GatewayOptions): string[] {
  const problems: string[] = [];
  for (const [name, address] of Object.entries(options.upstreams)) {
    const m = HOST_PORT.exec(address);
    if (!m) problems.push(`upstreams.${name}: expected host:port, got "${address}"`);
    else {
      try {
        checkPort(m[2]!, `upstreams.${name}`);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  const listen = LISTEN.exec(String(options.listen));
  if (!listen) problems.push(`listen: expected a port or address:port, got "${options.listen}"`);
  else {
    try {
      checkPort(listen[3]!, 'listen');
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  for (const key of ['errorLog', 'accessLog', 'tempDir'] as const) {
    if (!SAFE_PATH.test(options[key])) problems.push(`${key}: not a plain path: "${options[key]}"`);
  }
  if (options.rate !== undefined && !RATE.test(options.rate)) {
    problems.push(`rate: expected like 20r/s or 600r/m, got "${options.rate}"`);
  }
  if (options.burst !== undefined && (!Number.isInteger(options.burst) || options.burst < 0)) {
    problems.push(`burst: expected an integer >= 0, got ${options.burst}`);
  }
  if (options.proxyBind !== undefined && !/^[0-9A-Fa-f:.]+$/.test(options.proxyBind)) {
    problems.push(`proxyBind: expected an IP address, got "${options.proxyBind}"`);
  }
  if (options.user !== undefined && !/^[a-z_][a-z0-9_-]*$/.test(options.user)) {
    problems.push(`user: expected a user name, got "${options.user}"`);
  }
  return problems;
}

/** Fills every `{{NAME}}` of `template` from `values`; throws on a missing or unused value. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  const used = new Set<string>();
  const missing = new Set<string>();
  const text = template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) {
      missing.add(name);
      return '';
    }
    used.add(name);
    return value;
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (missing.size > 0 || unused.length > 0) {
    throw new Error(
      [
        ...[...missing].map((n) => `the template's {{${n}}} has no value`),
        ...unused.map((n) => `${n} is not a placeholder of the template`),
      ].join('; '),
    );
  }
  return text;
}

/** The nginx configuration for `options`, from the template (or `template`, for tests). */
export function renderGatewayConfig(
  options: GatewayOptions,
  template = readFileSync(GATEWAY_TEMPLATE, 'utf8'),
): string {
  const problems = gatewayOptionProblems(options);
  if (problems.length > 0) throw new Error(`gateway options: ${problems.join('; ')}`);
  const rate = options.rate ?? DEFAULT_GATEWAY_RATE;
  return fillTemplate(template, {
    USER: options.user === undefined ? "# user: nginx's default" : `user ${options.user};`,
    LISTEN: String(options.listen),
    SIGNUP_UPSTREAM: options.upstreams.signup,
    PROFILE_UPSTREAM: options.upstreams.profile,
    NOTIFICATION_UPSTREAM: options.upstreams.notification,
    ERROR_LOG: options.errorLog,
    ACCESS_LOG: options.accessLog,
    TEMP_DIR: options.tempDir.replace(/\/$/, ''),
    RATE: rate,
    BURST: String(options.burst ?? DEFAULT_GATEWAY_BURST),
    RETRY_AFTER_SECONDS: String(retryAfterSeconds(rate)),
    PROXY_BIND: options.proxyBind ?? 'off',
  });
}

/** The gateway as docker-compose.yml runs it: the services by their compose names and ports. */
export function composeGatewayOptions(ports: {
  signup: number;
  profile: number;
  notification: number;
}): GatewayOptions {
  return {
    upstreams: {
      signup: `signup-service:${ports.signup}`,
      profile: `profile-service:${ports.profile}`,
      notification: `notification-service:${ports.notification}`,
    },
    listen: GATEWAY_PORT,
    errorLog: '/dev/stderr',
    accessLog: '/dev/stdout',
    tempDir: '/var/cache/nginx',
    // The image's own user, who owns /var/cache/nginx.
    user: 'nginx',
  };
}

/** The header of the committed compose rendering: where it comes from and how to redo it. */
export const COMPOSE_CONFIG_HEADER =
  '# GENERATED from deploy/gateway/nginx.conf.template by `pnpm gateway --write-compose`:\n' +
  '# edit the template, not this file (deploy/test/compose.test.ts checks they agree).\n';

/**
 * The nginx binary: `nginx` on PATH, else where packages put it (/usr/sbin is not on a normal
 * user's PATH on Debian); undefined when there is none.
 */
export function findNginx(path = process.env.PATH ?? ''): string | undefined {
  const dirs = [...path.split(delimiter).filter((d) => d !== ''), ...NGINX_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, 'nginx');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const NGINX_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/opt/homebrew/bin'];

/** Where a gateway run from `dir` keeps everything it writes: logs, temp files, its pid. */
export function gatewayPaths(dir: string): {
  configFile: string;
  errorLog: string;
  accessLog: string;
  tempDir: string;
  pidFile: string;
} {
  return {
    configFile: join(dir, 'nginx.conf'),
    errorLog: join(dir, 'error.log'),
    accessLog: join(dir, 'access.log'),
    tempDir: join(dir, 'temp'),
    pidFile: join(dir, 'nginx.pid'),
  };
}

/**
 * nginx's arguments to run the config in `dir` in the foreground without touching /etc/nginx or
 * /var/lib/nginx: prefix, startup error log and pid file all inside `dir`.
 */
export function nginxArgs(dir: string): string[] {
  const paths = gatewayPaths(dir);
  return [
    '-p',
    dir,
    '-e',
    paths.errorLog,
    '-c',
    paths.configFile,
    '-g',
    `daemon off; pid ${paths.pidFile};`,
  ];
}

/**
 * Renders `options` into `dir` with every log and temp path inside it (gatewayPaths), makes the
 * directories nginx expects, and returns the arguments of nginxArgs. The directory is made
 * readable to all: run as root, nginx's workers are another user and must reach its temp files.
 */
export function writeGatewayDir(
  dir: string,
  options: Omit<GatewayOptions, 'errorLog' | 'accessLog' | 'tempDir'>,
): string[] {
  const paths = gatewayPaths(dir);
  mkdirSync(paths.tempDir, { recursive: true });
  chmodSync(dir, 0o755);
  writeFileSync(paths.configFile, renderGatewayConfig({ ...options, ...paths }));
  return nginxArgs(dir);
}
