// The log stream's promise (log-destination.ts): lines come out in the order they were logged and
// none is lost when the process exits or crashes in the same turn as its last lines, an error line
// is written at once, and a lone line on a quiet service appears without waiting for anything.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  lines: Array<Record<string, unknown>>;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs the fixture to its end (or, with `until`, until a line matches, then SIGTERM). */
function runFixture(
  t: Test,
  mode: string,
  until?: (line: Record<string, unknown>) => boolean,
  options: { lines?: number; stalledReader?: boolean } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import=tsx', '--conditions=app-source', 'test/fixtures/log-exit.ts', mode],
      {
        cwd: packageDir,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: { ...process.env, LINES: String(options.lines ?? 5000) },
      },
    );
    const stdout = child.stdout!;
    const stderrStream = child.stderr!;
    if (options.stalledReader) {
      // Nothing is read until the child says it has logged everything: its pipe fills up.
      stdout.pause();
      child.once('message', () => stdout.resume());
    }
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const lines: Array<Record<string, unknown>> = [];
    let buffered = '';
    let stderr = '';
    stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let i;
      while ((i = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, i)) as Record<string, unknown>;
        buffered = buffered.slice(i + 1);
        lines.push(line);
        if (until?.(line)) child.kill('SIGTERM');
      }
    });
    stderrStream.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ lines, code, signal, stderr }));
  });
}

const numbers = (run: Run) => run.lines.filter((l) => l.msg === 'line').map((l) => l.n);
const expected = Array.from({ length: 5000 }, (_, n) => n);

void t.test('process.exit right after 5000 lines: every line, in order', async (t) => {
  const run = await runFixture(t, 'exit');
  t.equal(run.code, 0, run.stderr);
  t.same(numbers(run), expected);
  t.equal(run.lines[0]?.service, 'log-exit');
  t.equal(run.lines[0]?.level, 'info');
});

void t.test('an uncaught exception right after 5000 lines: every line, in order', async (t) => {
  const run = await runFixture(t, 'throw');
  t.equal(run.code, 1);
  t.match(run.stderr, 'crash after the lines');
  t.same(numbers(run), expected);
});

void t.test('an error line is written at once, with the lines before it', async (t) => {
  // SIGKILL runs no exit handler: only what was already written survives it.
  const run = await runFixture(t, 'kill-after-error');
  t.equal(run.signal, 'SIGKILL');
  t.same(
    run.lines.map((l) => [l.msg, l.level]),
    [
      ['before the error', 'info'],
      ['the error', 'error'],
    ],
  );
});

void t.test('a lone line on a quiet process appears while it keeps running', async (t) => {
  const run = await runFixture(t, 'quiet', (line) => line.msg === 'alone');
  t.equal(run.code, 0, 'it was still running when the line arrived, and SIGTERM ended it');
  t.same(
    run.lines.map((l) => l.msg),
    ['alone'],
  );
});

void t.test('a reader that stops does not stop the process, and loses nothing', async (t) => {
  // 40,000 lines (about 4 MB) into a pipe of 64 KiB that nobody reads: the child must go on to tell
  // its parent it is done (it could not if a write waited for the pipe), then every line arrives.
  const lines = 40_000;
  const run = await runFixture(t, 'flood', (line) => line.n === lines - 1, {
    lines,
    stalledReader: true,
  });
  t.equal(run.code, 0, run.stderr);
  t.same(
    numbers(run),
    Array.from({ length: lines }, (_, n) => n),
  );
});
