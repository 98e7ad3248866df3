// The JetStream cluster under load, at CI size: the system on a private 3-node cluster with R3
// streams (the prod overlay's shape), then kill -9 the node leading USERS, kill -9 the node
// leading the welcome-email consumer, and a rolling restart of all three. Every signup answers
// 201 (the outbox holds events while publishing fails), every event is emailed exactly once, no
// dead letter appears, and the topology is provisioned at R3 with `nats:provision --check`
// finding no drift afterwards (and finding it when the declared replicas differ).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import { REPO_DIR } from '../src/index.js';
import { scenarioTest } from './helper.js';

const system = await scenarioTest(t, [
  'kill -9 the USERS stream leader',
  'kill -9 the welcome-email consumer leader',
  'rolling restart of the NATS cluster',
]);

/** `pnpm nats:provision --check` as an operator runs it, with notification-service's settings. */
async function provisionCheck(env: Record<string, string>): Promise<{ code: number; out: string }> {
  const child = spawn(
    process.execPath,
    ['--import=tsx', '--conditions=app-source', 'src/cli/provision.ts', '--check'],
    { cwd: join(REPO_DIR, 'packages', 'platform'), env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, out };
}

void t.test('the streams are R3 on the cluster, and --check sees drift there', async (t) => {
  const users = await system.jsm.streams.info(system.names.streams.users);
  t.equal(users.config.num_replicas, 3, 'USERS is R3');
  t.equal(users.cluster?.replicas?.length, 2, 'a leader and two replicas');
  t.ok(
    users.cluster?.replicas?.every((r) => r.current),
    'every replica current after the faults',
  );
  const env = system.services['notification-service'].env;
  const clean = await provisionCheck(env);
  t.equal(clean.code, 0, `no drift: ${clean.out.slice(-300)}`);
  const drifted = await provisionCheck({ ...env, NATS_STREAM_REPLICAS: '1' });
  t.equal(drifted.code, 1, 'declared R1 against R3: drift');
  t.match(drifted.out, /num_replicas/, `names the field: ${drifted.out.slice(-300)}`);
});
