// The README's test runner: every test file of every package and service in one tap run (files in
// parallel, one per core), then one closing line `tests: N passed, N failed` for people and CI.
// Extra arguments go to tap (e.g. a file path to run just that file).
import { spawn } from 'node:child_process';

const child = spawn('tap', ['--reporter=tap', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
  shell: false,
});
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4000);
});
child.on('exit', (code, signal) => {
  // tap's closing summary: `# { total: 30, pass: 28, fail: 1, skip: 1 }`
  const summary = /^# \{ total: \d+(.*)\}\s*$/m.exec(tail)?.[1] ?? '';
  const count = (/** @type {string} */ k) =>
    Number(new RegExp(`${k}: (\\d+)`).exec(summary)?.[1] ?? 0);
  if (summary) process.stdout.write(`\ntests: ${count('pass')} passed, ${count('fail')} failed\n`);
  process.exit(code ?? (signal ? 1 : 0));
});
