// The fault proxy in front of the real Postgres: queries pass, cut() breaks open and new connections,
// restore() lets new ones through again, and latency shows up in the round trip.
import { performance } from 'node:perf_hooks';
import t from 'tap';
import pg from 'pg';
import { addressesOf, serviceUrls, startTcpProxy } from '../src/index.js';

const { databaseUrl } = await serviceUrls();
const [target] = addressesOf(databaseUrl, 5432);

async function query(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const res = await client.query<{ answer: string }>("SELECT 'through the proxy' AS answer");
    return res.rows[0]!.answer;
  } finally {
    await client.end().catch(() => undefined);
  }
}

void t.test('pg through the proxy; cut, restore, latency', async (t) => {
  const proxy = await startTcpProxy({ targetHost: target!.host, targetPort: target!.port });
  t.teardown(() => proxy.close());
  const url = proxy.urlFor(databaseUrl);
  t.equal(new URL(url).port, String(proxy.port));

  t.equal(await query(url), 'through the proxy');

  const open = new pg.Client({ connectionString: url });
  const broken = new Promise<Error>((resolve) => open.on('error', resolve));
  await open.connect();
  t.equal(proxy.connections(), 1, 'one open connection');

  proxy.cut();
  t.match((await broken).message, /terminated|ECONNRESET/, 'an open connection breaks');
  await t.rejects(query(url), 'a new connection is refused');
  t.equal(proxy.connections(), 0);
  await open.end().catch(() => undefined);

  proxy.restore();
  t.equal(await query(url), 'through the proxy', 'works again after restore');

  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.teardown(() => client.end());
  // Only lower bounds and a generous race: a loaded machine can slow a query, never speed it up.
  const latencyMs = 1000;
  proxy.setLatency(latencyMs);
  const slow = performance.now();
  await client.query('SELECT 1');
  const delayed = performance.now() - slow;
  t.ok(delayed >= 2 * latencyMs, `round trip ${delayed.toFixed(0)} ms: delayed both ways`);

  proxy.setLatency(0);
  const undelayed = await Promise.race([
    client.query('SELECT 1').then(() => 'answered'),
    new Promise((resolve) => setTimeout(resolve, 2 * latencyMs, 'still delayed')),
  ]);
  t.equal(undelayed, 'answered', 'latency 0 removes the delay');

  t.throws(() => proxy.setLatency(-1), /latency must be >= 0 ms/);
});
