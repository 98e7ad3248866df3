import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { createApp, runServer } from '../src/index.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** The fixture server as a child process, with a wait for each of its log lines. */
function startFixture(t: Test, args: string[] = []) {
  const child = spawn(
    process.execPath,
    ['--import=tsx', '--conditions=app-source', 'test/fixtures/server.ts', ...args],
    { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const lines: Array<Record<string, unknown>> = [];
  let buffered = '';
  let onLine: (() => void) | undefined;
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let i;
    while ((i = buffered.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffered.slice(0, i)) as Record<string, unknown>);
      buffered = buffered.slice(i + 1);
      onLine?.();
    }
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const waitFor = (msg: string, timeoutMs = 10_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${msg}" log line; ${stderr}`)),
        timeoutMs,
      );
      const look = () => {
        const line = lines.find((l) => l.msg === msg);
        if (line) {
          clearTimeout(timer);
          resolve(line);
        }
      };
      onLine = look;
      look();
    });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const shutdownOrder = () =>
    lines.map((l) => l.msg).filter((m) => String(m).startsWith('shutdown:'));
  return { child, lines, waitFor, exited, shutdownOrder };
}

void t.test('runServer listens, then on SIGTERM fails readiness, closes and exits 0', async (t) => {
  const { child, lines, waitFor, exited, shutdownOrder } = startFixture(t);
  const listening = await waitFor('startup: listening');
  const address = listening.address as string;
  t.match(address, /^http:\/\/127\.0\.0\.1:\d+$/);
  const live = await fetch(`${address}/health/live`);
  t.equal(live.status, 200);
  t.equal((await fetch(`${address}/health/ready`)).status, 200);

  child.kill('SIGTERM');
  await waitFor('shutdown: closed');
  t.equal(await exited, 0);
  t.same(shutdownOrder(), [
    'shutdown: marking not ready',
    'shutdown: closing (in-flight requests finish, connections drain)',
    'shutdown: closed',
  ]);
  t.equal(lines.find((l) => l.msg === 'shutdown: marking not ready')?.reason, 'SIGTERM');
  t.equal(lines[0]?.service, 'fixture');
});

void t.test(
  'with a drain delay, a SIGTERMed server fails readiness but still serves',
  async (t) => {
    // Long enough that the requests below land inside it even on a loaded machine.
    const { child, waitFor, exited, shutdownOrder } = startFixture(t, ['4000']);
    const address = (await waitFor('startup: listening')).address as string;
    child.kill('SIGTERM');
    const draining = await waitFor('shutdown: draining (still serving while balancers notice)');
    t.equal(draining.drainMs, 4000);
    t.equal((await fetch(`${address}/health/ready`)).status, 503, 'readiness fails at once');
    t.equal((await fetch(`${address}/health/live`)).status, 200, 'the listener is still open');
    await waitFor('shutdown: closed');
    t.equal(await exited, 0, 'exits 0 within the grace');
    t.same(shutdownOrder(), [
      'shutdown: marking not ready',
      'shutdown: draining (still serving while balancers notice)',
      'shutdown: closing (in-flight requests finish, connections drain)',
      'shutdown: closed',
    ]);
  },
);

void t.test('a drain delay as long as the grace is refused before anything starts', async (t) => {
  let built = false;
  await t.rejects(
    runServer({
      build: async () => {
        built = true;
        return createApp({ name: 'fixture', logger: false });
      },
      port: 0,
      host: '127.0.0.1',
      graceMs: 1000,
      drainMs: 1000,
    }),
    /drain delay \(1000 ms\) must be shorter than the grace \(1000 ms\)/,
  );
  t.equal(built, false);
});
