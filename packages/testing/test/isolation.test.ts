// Two test processes at once (as tap runs test files in parallel), each with its own database,
// key prefix and namespace: each checks, while the other is running, that it sees none of the
// other's data. Spawned here so that they overlap whatever tap's job count is.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const worker = fileURLToPath(new URL('./fixtures/isolation-worker.ts', import.meta.url));

function run(
  me: string,
  other: string,
  runId: string,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import=tsx', '--conditions=app-source', worker, me, other, runId],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

void t.test('two test processes in parallel see none of each other’s data', async (t) => {
  const runId = randomBytes(6).toString('hex');
  const [a, b] = await Promise.all([run('a', 'b', runId), run('b', 'a', runId)]);
  for (const [name, r] of [
    ['a', a],
    ['b', b],
  ] as const) {
    t.equal(r.code, 0, `worker ${name} passed`, { output: r.code === 0 ? undefined : r.out });
    t.match(r.out, /\bok \d+ - the other file wrote at the same time/, `worker ${name} overlapped`);
    t.match(r.out, /\bok \d+ - only my stream is in my namespace/, `worker ${name} checked NATS`);
    t.notMatch(r.out, /not ok/, `worker ${name} has no failed assertion`);
  }
});
