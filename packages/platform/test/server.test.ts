import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

void t.test('runServer listens, then on SIGTERM fails readiness, closes and exits 0', async (t) => {
  const child = spawn(
    process.execPath,
    ['--import=tsx', '--conditions=app-source', 'test/fixtures/server.ts'],
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

  const listening = await waitFor('startup: listening');
  const address = listening.address as string;
  t.match(address, /^http:\/\/127\.0\.0\.1:\d+$/);
  const live = await fetch(`${address}/health/live`);
  t.equal(live.status, 200);
  t.equal((await fetch(`${address}/health/ready`)).status, 200);

  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  await waitFor('shutdown: closed');
  t.equal(await exited, 0);
  const order = lines.map((l) => l.msg).filter((m) => String(m).startsWith('shutdown:'));
  t.same(order, [
    'shutdown: marking not ready',
    'shutdown: closing (in-flight requests finish, connections drain)',
    'shutdown: closed',
  ]);
  t.equal(lines.find((l) => l.msg === 'shutdown: marking not ready')?.reason, 'SIGTERM');
  t.equal(lines[0]?.service, 'fixture');
});
