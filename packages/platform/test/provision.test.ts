// Provisioning the JetStream topology: create, leave alone, update in place, report what cannot
// change, and the CLI's exit codes, drift report and env knobs. Each test works in a namespace of
// its own (isolatedNats deletes its streams in teardown).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { topology } from '@app/contracts';
import { isolatedNats, startTcpProxy, type TestLike } from '@app/testing';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import t from 'tap';
import { provision } from '../src/index.js';
import { NATS_URL } from './helpers.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import=tsx', '--conditions=app-source', 'src/cli/provision.ts', ...args],
      { cwd: packageDir, env: { ...process.env, NATS_URL, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

void t.test('provision creates everything, then a second run changes nothing', async (t) => {
  const { jsm, namespace } = await isolatedNats(t);
  const topo = topology({ namespace });
  const lines: string[] = [];

  const first = await provision(jsm, topo, { check: false, log: (l) => lines.push(l) });
  t.same(first.created, [
    ...topo.streams.map((s) => s.name),
    ...topo.consumers.map((c) => `${c.stream}/${c.config.durable_name}`),
  ]);
  t.same(first.drift, []);
  t.same(first.failed, []);
  t.ok(lines.includes(`stream ${topo.names.streams.users}: created`), lines.join('\n'));
  const info = await jsm.consumers.info(topo.names.streams.users, 'welcome-email');
  t.equal(info.config.max_ack_pending, 64);
  t.equal(info.config.filter_subject, `${namespace}.user.signed_up`);

  const second = await provision(jsm, topo, { check: false });
  t.same(second.created, []);
  t.same(second.updated, []);
  t.equal(second.unchanged.length, topo.streams.length + topo.consumers.length);

  const check = await provision(jsm, topo, { check: true });
  t.same(check.drift, []);

  // A changed declaration is applied in place.
  const tuned = topology({ namespace, welcomeEmail: { maxAckPending: 8 } });
  const third = await provision(jsm, tuned, { check: false });
  t.same(third.updated, [`${topo.names.streams.users}/welcome-email`]);
  t.equal(
    (await jsm.consumers.info(topo.names.streams.users, 'welcome-email')).config.max_ack_pending,
    8,
  );
});

void t.test('a field the server cannot change in place is reported, not a crash', async (t) => {
  const { jsm, namespace } = await isolatedNats(t);
  await provision(jsm, topology({ namespace }), { check: false });
  const changed = topology({ namespace });
  changed.streams = changed.streams.map((s) => ({ ...s, storage: StorageType.Memory }));
  const lines: string[] = [];
  const result = await provision(jsm, changed, { check: false, log: (l) => lines.push(l) });
  t.equal(result.failed.length, 3);
  t.match(result.drift[0], {
    kind: 'stream',
    field: 'storage',
    declared: 'memory',
    actual: 'file',
  });
  t.match(lines.join('\n'), /FAILED to update storage/);
});

/** A JetStream manager on the shared NATS through a proxy whose latency the test sets. */
async function slowJetStream(t: TestLike) {
  const target = new URL(NATS_URL);
  const proxy = await startTcpProxy({
    targetHost: target.hostname,
    targetPort: Number(target.port),
  });
  const nc = await connect({ servers: proxy.urlFor(NATS_URL), name: 'provision-slow' });
  // Each JetStream API request gives up after 400 ms: a latency above it times every one out.
  const jsm = await jetstreamManager(nc, { timeout: 400 });
  t.teardown(async () => {
    proxy.setLatency(0);
    await nc.close();
    await proxy.close();
  });
  return { proxy, jsm };
}

void t.test(
  'JetStream not answering in time: retried, one line per retry, then applied',
  async (t) => {
    const { jsm: direct, namespace } = await isolatedNats(t);
    const { proxy, jsm } = await slowJetStream(t);
    const topo = topology({ namespace });
    const lines: string[] = [];
    let firstRetry: () => void = () => undefined;
    const retried = new Promise<void>((resolve) => (firstRetry = resolve));

    proxy.setLatency(3000);
    const running = provision(jsm, topo, {
      check: false,
      retry: { attempts: 30, baseMs: 100, maxMs: 500 },
      log: (l) => {
        lines.push(l);
        if (/retrying/.test(l)) firstRetry();
      },
    });
    await retried;
    // The server answers in time again (after what the proxy still holds, at most 3 s).
    proxy.setLatency(0);
    const result = await running;

    const all = [
      ...topo.streams.map((s) => s.name),
      ...topo.consumers.map((c) => `${c.stream}/${c.config.durable_name}`),
    ];
    t.same(result.failed, [], 'nothing failed');
    // A create that timed out may have been applied: its next try reads it as unchanged.
    t.same([...result.created, ...result.unchanged].sort(), [...all].sort(), 'every one applied');
    t.match(
      lines[0],
      new RegExp(
        `^stream ${topo.names.streams.users}: timeout, retrying in 100 ms \\(try 2 of 30\\)$`,
      ),
      'the retry is logged with its wait and count',
    );
    const check = await provision(direct, topo, { check: true });
    t.same(check.drift, [], 'the server holds the declared topology');
  },
);

void t.test(
  'JetStream never answering: gives up after its tries, naming what it was on',
  async (t) => {
    const { namespace } = await isolatedNats(t);
    const { proxy, jsm } = await slowJetStream(t);
    const topo = topology({ namespace });
    const lines: string[] = [];
    proxy.setLatency(60_000);
    await t.rejects(
      provision(jsm, topo, {
        check: true,
        retry: { attempts: 3, baseMs: 50, maxMs: 50 },
        log: (l) => lines.push(l),
      }),
      {
        message: new RegExp(
          `^stream ${topo.names.streams.users}: timeout \\(JetStream did not answer in 3 tries;`,
        ),
      },
    );
    t.equal(lines.filter((l) => /retrying in 50 ms/.test(l)).length, 2, lines.join('\n'));
  },
);

void t.test(
  'the CLI: --check is clean after provisioning, and reports a hand-made change',
  async (t) => {
    const { jsm, namespace } = await isolatedNats(t);
    // The welcome-email knobs come from contracts' TopologyEnv, read by the CLI.
    const env = { NATS_NAMESPACE: namespace, NOTIFY_MAX_ACK_PENDING: '16' };
    const topo = topology({ namespace });

    const missing = await runCli(['--check'], env);
    t.equal(missing.code, 1, missing.stderr);
    t.match(missing.stdout, `stream ${topo.names.streams.users}: drift exists`);

    const applied = await runCli([], env);
    t.equal(applied.code, 0, applied.stderr);
    t.match(applied.stdout, `stream ${topo.names.streams.users}: created`);
    t.match(applied.stdout, `consumer ${topo.names.streams.users}/welcome-email: created`);
    const welcome = await jsm.consumers.info(topo.names.streams.users, 'welcome-email');
    t.equal(welcome.config.max_ack_pending, 16, 'NOTIFY_MAX_ACK_PENDING applied');

    const clean = await runCli(['--check'], env);
    t.equal(clean.code, 0, clean.stdout + clean.stderr);
    t.match(clean.stdout, `stream ${topo.names.streams.users}: unchanged`);
    t.notMatch(clean.stdout, 'drift');

    await jsm.streams.update(topo.names.streams.users, {
      max_age: 3_600_000_000_000,
      description: 'changed by hand',
    });
    const drift = await runCli(['--check', '--namespace', namespace], {
      NOTIFY_MAX_ACK_PENDING: '16',
    });
    t.equal(drift.code, 1, drift.stderr);
    t.match(
      drift.stdout,
      `stream ${topo.names.streams.users}: drift max_age: declared 604800000000000 vs actual 3600000000000`,
    );
    t.match(drift.stdout, `stream ${topo.names.streams.users}: drift description:`);
    t.match(drift.stdout, '"changed by hand"');
    t.equal(
      (await jsm.streams.info(topo.names.streams.users)).config.description,
      'changed by hand',
      '--check changed nothing',
    );

    const badConfig = await runCli(['--check'], { ...env, NOTIFY_MAX_DELIVER: 'lots' });
    t.equal(badConfig.code, 2);
    t.match(badConfig.stderr, /NOTIFY_MAX_DELIVER: expected integer 1\.\.1000, got "lots"/);
  },
);
