// `pnpm nats:provision [--check] [--namespace <ns>]`: applies the JetStream topology of
// @app/contracts (a Kubernetes Job runs it before the services), or with --check reports drift.
// Exit codes: 0 ok, 1 drift found in check mode, 2 error (bad config, NATS unreachable, refused).
import { parseArgs } from 'node:util';
import { topologyFromEnv, TopologyEnv } from '@app/contracts';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Type } from '@sinclair/typebox';
import { CommonEnv, loadConfig, natsServers } from '../config.js';
import { provision } from '../provision.js';

const Env = Type.Object({
  NATS_URL: CommonEnv.NATS_URL,
  NATS_NAMESPACE: CommonEnv.NATS_NAMESPACE,
  NATS_STREAM_REPLICAS: CommonEnv.NATS_STREAM_REPLICAS,
  // The consumers' knobs are declared with the topology, not here.
  ...TopologyEnv,
});

const USAGE = 'usage: provision [--check] [--namespace <ns>]';

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        check: { type: 'boolean', default: false },
        namespace: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }

  const config = loadConfig(Env);
  const namespace = args.namespace ?? config.NATS_NAMESPACE;
  const topo = topologyFromEnv({ ...config, NATS_NAMESPACE: namespace });

  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: natsServers(config.NATS_URL), name: 'provision', timeout: 5000 });
    const jsm = await jetstreamManager(nc);
    console.log(
      `${args.check ? 'checking' : 'provisioning'} JetStream topology` +
        ` (namespace ${namespace === '' ? '(none)' : namespace}) on ${nc.getServer()}`,
    );
    const result = await provision(jsm, topo, { check: args.check, log: (l) => console.log(l) });
    if (result.failed.length > 0) return 2;
    if (args.check && result.drift.length > 0) {
      console.log(`drift: ${result.drift.length} difference(s)`);
      return 1;
    }
    return 0;
  } finally {
    await nc?.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`provision failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  },
);
