// Bad input at CI size: every HTTP route of the three services fuzzed from its schema (at least
// 1,000 cases per route; no 5xx, problem+json on every 4xx, security headers on every answer), and
// malformed, oversized and wrong-schema messages on USERS, each of which must become a dead letter
// while the consumer goes on to send the next valid event's email.
import t from 'tap';
import { fuzzContext, fuzzRoutes, publishBadMessages, SIZES, startSystem } from '../src/index.js';

const system = await startSystem({ logLevel: 'warn' });
t.teardown(() => system.close());
const seed = 20261127;

await t.test('HTTP routes fuzzed from their schemas', async (t) => {
  const results = await fuzzRoutes(system, await fuzzContext(system, 'owner@fuzz.example'), {
    runsPerRoute: SIZES.ci.fuzzRunsPerRoute,
    seed,
  });
  t.ok(results.length >= 13, `${results.length} routes fuzzed`);
  for (const r of results) {
    t.ok(r.cases >= 1000, `${r.route}: ${r.cases} cases`);
    t.same(
      r.failures.map(
        (f) =>
          `${f.kind} x${f.count}: ${f.example.slice(0, 400)} -> ${f.status} ${f.body.slice(0, 200)}`,
      ),
      [],
      `${r.route}: no 5xx, problem+json and security headers on every answer (seed ${seed})`,
    );
  }
});

await t.test('malformed, oversized and wrong-schema messages on USERS', async (t) => {
  const { results, validEmailArrived } = await publishBadMessages(system, 30_000);
  for (const r of results) {
    t.ok(r.deadLettered, `${r.name}: dead-lettered (${r.reason ?? 'none'})`);
    if (r.deadLettered) t.match(r.reason ?? '', /invalid_payload/, `${r.name}: reason says why`);
  }
  t.ok(validEmailArrived, 'a valid event published after them still gets its welcome email');
});
