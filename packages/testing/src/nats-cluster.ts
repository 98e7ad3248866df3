// A private JetStream cluster for the tests that kill, restart or lose brokers: three nats-server
// processes on free loopback ports, routed to each other (NATS-NOTES.md "Clusters"), each with
// its own store, so that R3 streams, leader elections and a node's return with its data are real.
// The shared broker on 4222 is never touched.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort, startNatsNode, type PrivateServer } from './servers.js';
import { waitUntil } from './wait.js';

export interface NatsNode extends PrivateServer {
  /** Its `--server_name`, as stream and consumer info name leaders and replicas. */
  name: string;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** Every member's client URL, comma-separated: what NATS_URL takes. */
  url: string;
  servers: string[];
  node(name: string): NatsNode;
  /** Resolves once JetStream answers through every running member (a meta leader is elected). */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const FORM_TIMEOUT_MS = 60_000;

/** Asks one member for the account's JetStream info: fails until the cluster has a meta leader. */
async function jetStreamAnswers(url: string): Promise<boolean> {
  const nc = await connect({ servers: url, reconnect: false, timeout: 2000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    await jsm.getAccountInfo();
    return true;
  } finally {
    await nc.close();
  }
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const clusterName = `test_${Math.random().toString(36).slice(2, 8)}`;
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({
      port: await freePort(),
      clusterPort: await freePort(),
    })),
  );
  const routeOf = (i: number) => `nats://127.0.0.1:${ports[i]!.clusterPort}`;
  const started = await Promise.allSettled(
    ports.map(async ({ port, clusterPort }, i) => {
      const name = `n${i + 1}`;
      const server = await startNatsNode({
        name,
        port,
        clusterPort,
        clusterName,
        routes: ports.flatMap((_, j) => (j === i ? [] : [routeOf(j)])),
      });
      const node: NatsNode = Object.assign(server, { name });
      return node;
    }),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(nodes.map((n) => n.close()));
    throw failed.reason;
  }
  const servers = nodes.map((n) => n.url);
  const cluster: NatsCluster = {
    nodes,
    servers,
    url: servers.join(','),
    node(name) {
      const found = nodes.find((n) => n.name === name);
      if (!found)
        throw new Error(`no cluster node named ${name} (${nodes.map((n) => n.name).join(', ')})`);
      return found;
    },
    async waitForJetStream(timeoutMs = FORM_TIMEOUT_MS) {
      for (const n of nodes.filter((x) => x.running())) {
        await waitUntil(
          `JetStream through ${n.name} (${n.url})`,
          () => jetStreamAnswers(n.url),
          timeoutMs,
        );
      }
    },
    close: async () => {
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
  try {
    await cluster.waitForJetStream();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}
