// Shared by the test files: runs a subset of the fault scenarios at CI size on one system and
// turns each scenario's invariants into assertions a failing run explains.
import type { Test } from 'tap';
import {
  runScenario,
  SCENARIOS,
  SIZES,
  startSystem,
  type ScenarioResult,
  type System,
} from '../src/index.js';

/** Runs the named scenarios as subtests; resolves with their system (torn down with `t`). */
export async function scenarioTest(t: Test, names: string[]): Promise<System> {
  const chosen = names.map((name) => {
    const index = SCENARIOS.findIndex((s) => s.name === name);
    if (index < 0) throw new Error(`no scenario named ${name}`);
    return { name, index, scenario: SCENARIOS[index]! };
  });
  // The JetStream-cluster scenarios need a system on a 3-node cluster: one file, one kind.
  const natsCluster = chosen.some((c) => c.scenario.natsCluster);
  if (chosen.some((c) => (c.scenario.natsCluster ?? false) !== natsCluster)) {
    throw new Error('cluster and single-broker scenarios need systems of their own: two files');
  }
  const system = await startSystem({ natsCluster });
  t.teardown(() => system.close());
  for (const { name, index, scenario } of chosen) {
    await t.test(name, async (t) => {
      const r: ScenarioResult = await runScenario(system, scenario, index, { params: SIZES.ci });
      t.comment(
        `${name}: ${r.requests} requests, ${r.signups} signups, ${r.emails} emails, ` +
          `recovery ${r.recoveryMs} ms, fault to next email ${r.faultToEmailMs} ms`,
      );
      t.ok(r.signups > 0, `signups answered 201 (${r.signups})`);
      t.equal(r.lost, 0, 'no signup lost: each 201 has an email or a dead letter');
      t.equal(r.duplicates, 0, 'no duplicate email or dead letter');
      t.equal(r.emails + r.deadLetters, r.signups, 'every 201 accounted for exactly once');
      t.equal(r.unexpected5xx, 0, `no 5xx beyond what the scenario allows (${scenario.allows})`);
      t.equal(r.unexpectedUnanswered, 0, 'no request left unanswered beyond what it allows');
      t.equal(r.notProblemJson, 0, 'every error answer is problem+json');
      // Exit 0 is also "within the grace period": past it, the service exits 1 by itself.
      if (r.exit) t.equal(r.exit.code, 0, `the service exited 0 after SIGTERM (${r.exit.ms} ms)`);
      if (scenario.updates)
        t.ok(r.updatesOk > 0, `profile updates answered 200 (${r.updatesOk} of ${r.updates})`);
      if (scenario.noDeadLetters)
        t.equal(r.deadLetters, 0, 'no dead letter: nothing failed for good');
      t.same(r.violations, [], 'no violations');
    });
  }
  return system;
}
