// `pnpm gateway`: the nginx gateway in front of `pnpm start`'s services, in the foreground. It
// renders deploy/gateway/nginx.conf.template for the local ports (the README's, or the
// *_SERVICE_PORT variables start.ts honours) into a temporary directory that holds everything
// nginx writes (logs, temp files, pid), runs nginx there until Ctrl-C, then removes it.
// `pnpm gateway --write-compose` instead rewrites deploy/gateway/nginx.compose.conf, the rendering
// docker-compose.yml mounts; `--print` prints the local rendering and exits.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  COMPOSE_CONFIG_HEADER,
  composeGatewayOptions,
  findNginx,
  GATEWAY_COMPOSE_CONFIG,
  GATEWAY_PORT,
  gatewayPaths,
  renderGatewayConfig,
  writeGatewayDir,
  type GatewayOptions,
} from '../deploy/src/gateway.js';
import { documentedPorts } from '../deploy/src/ports.js';

const env = process.env;
const say = (line: string) => process.stdout.write(`\x1b[1m[gateway]\x1b[0m ${line}\n`);
function fail(line: string): never {
  process.stderr.write(`pnpm gateway: ${line}\n`);
  process.exit(1);
}

const { ports } = documentedPorts();
const documented = (service: string) =>
  ports.get(service) ?? fail(`the README documents no port for ${service}`);
const port = (service: string) => {
  const own = env[`${service.toUpperCase().replace(/-/g, '_')}_PORT`];
  return own ? Number(own) : documented(service);
};

if (process.argv.includes('--write-compose')) {
  const text = renderGatewayConfig(
    composeGatewayOptions({
      signup: documented('signup-service'),
      profile: documented('profile-service'),
      notification: documented('notification-service'),
    }),
  );
  writeFileSync(GATEWAY_COMPOSE_CONFIG, COMPOSE_CONFIG_HEADER + text);
  say(`wrote ${GATEWAY_COMPOSE_CONFIG}`);
  process.exit(0);
}

const listenPort = Number(env.GATEWAY_PORT ?? GATEWAY_PORT);
const options: Omit<GatewayOptions, 'errorLog' | 'accessLog' | 'tempDir'> = {
  upstreams: {
    signup: `127.0.0.1:${port('signup-service')}`,
    profile: `127.0.0.1:${port('profile-service')}`,
    notification: `127.0.0.1:${port('notification-service')}`,
  },
  listen: listenPort,
  ...(env.GATEWAY_RATE ? { rate: env.GATEWAY_RATE } : {}),
  ...(env.GATEWAY_BURST ? { burst: Number(env.GATEWAY_BURST) } : {}),
  ...(env.GATEWAY_PROXY_BIND ? { proxyBind: env.GATEWAY_PROXY_BIND } : {}),
};

const dir = mkdtempSync(join(tmpdir(), 'gateway-'));
let args: string[];
try {
  args = writeGatewayDir(dir, options);
} catch (err) {
  rmSync(dir, { recursive: true, force: true });
  fail(err instanceof Error ? err.message : String(err));
}
if (process.argv.includes('--print')) {
  process.stdout.write(readFileSync(gatewayPaths(dir).configFile, 'utf8'));
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

const nginx = findNginx();
if (!nginx) {
  rmSync(dir, { recursive: true, force: true });
  fail('nginx is not installed (Debian: apt-get install nginx-light; macOS: brew install nginx)');
}

const { upstreams } = options;
say(
  `http://127.0.0.1:${listenPort} -> signup ${upstreams.signup}, profile ${upstreams.profile}, notification ${upstreams.notification}`,
);
say(`logs: ${gatewayPaths(dir).accessLog} and error.log beside it; Ctrl-C stops it`);
if (options.proxyBind) {
  say(
    `connects to the services from ${options.proxyBind}: start them with TRUST_PROXY=${options.proxyBind}`,
  );
} else {
  say(
    'the services see every request as coming from this machine; to have request.ip be the ' +
      'client, run with GATEWAY_PROXY_BIND=127.0.0.2 and start the services with TRUST_PROXY=127.0.0.2',
  );
}

const child = spawn(nginx, args, { stdio: 'inherit' });
// Ctrl-C reaches nginx too (the terminal signals the whole group); a plain kill of this script
// is passed on. nginx takes SIGINT and SIGTERM as "stop now", SIGQUIT as "finish, then stop".
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => child.kill(signal));
}
child.once('error', (err) => {
  rmSync(dir, { recursive: true, force: true });
  fail(`could not run ${nginx}: ${err.message}`);
});
child.once('exit', (code, signal) => {
  rmSync(dir, { recursive: true, force: true });
  say(`nginx exited (${signal ?? `code ${code}`})`);
  process.exit(signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : (code ?? 1));
});
