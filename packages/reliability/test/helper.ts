// Shared by the test files: runs a subset of the fault scenarios at CI size on one system and
// turns each scenario's invariants into assertions a failing run explains.
import type { Test } from 'tap';
import { runScenario, SCENARIOS, SIZES, startSystem, type ScenarioResult } from '../src/index.js';

export async function scenarioTest(t: Test, names: string[]): Promise<void> {
  const system = await startSystem();
  t.teardown(() => system.close());
  for (const name of names) {
    const index = SCENARIOS.findIndex((s) => s.name === name);
    const scenario = SCENARIOS[index];
    if (!scenario) throw new Error(`no scenario named ${name}`);
    await t.test(name, async (t) => {
      const r: ScenarioResult = await runScenario(system, scenario, index, { params: SIZES.ci });
      t.ok(r.signups > 0, `signups answered 201 (${r.signups})`);
      t.equal(r.lost, 0, 'no signup lost: each 201 has an email or a dead letter');
      t.equal(r.duplicates, 0, 'no duplicate email or dead letter');
      t.equal(r.emails + r.deadLetters, r.signups, 'every 201 accounted for exactly once');
      t.equal(r.unexpected5xx, 0, `no 5xx beyond what the scenario allows (${scenario.allows})`);
      t.equal(r.unexpectedUnanswered, 0, 'no request left unanswered beyond what it allows');
      t.equal(r.notProblemJson, 0, 'every error answer is problem+json');
      // Exit 0 is also "within the grace period": past it, the service exits 1 by itself.
      if (r.exit) t.equal(r.exit.code, 0, `the service exited 0 after SIGTERM (${r.exit.ms} ms)`);
      t.same(r.violations, [], 'no violations');
    });
  }
}
