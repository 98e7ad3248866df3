// backoffDelay: attempt 1 is the base, each attempt doubles, the cap holds, jitter moves the delay by
// at most its fraction, and odd attempt numbers stay finite.
import t from 'tap';
import { backoffDelay } from '../src/index.js';

const schedule = { baseMs: 100, maxMs: 1000 };

void t.test('doubles from the base up to the cap', async (t) => {
  t.equal(backoffDelay(1, schedule), 100);
  t.equal(backoffDelay(2, schedule), 200);
  t.equal(backoffDelay(3, schedule), 400);
  t.equal(backoffDelay(4, schedule), 800);
  t.equal(backoffDelay(5, schedule), 1000, 'capped');
  t.equal(backoffDelay(500, schedule), 1000, 'a huge attempt stays at the cap');
});

void t.test('attempts below 1 or not integers count as attempt 1 or their floor', async (t) => {
  t.equal(backoffDelay(0, schedule), 100);
  t.equal(backoffDelay(-3, schedule), 100);
  t.equal(backoffDelay(Number.NaN, schedule), 100);
  t.equal(backoffDelay(2.7, schedule), 200);
});

void t.test('jitter moves the delay by up to its fraction, either way', async (t) => {
  const jittered = (draw: number) =>
    backoffDelay(3, { ...schedule, jitter: 0.25, random: () => draw });
  t.equal(jittered(0), 300, 'lowest draw: -25%');
  t.equal(jittered(0.5), 400, 'middle draw: unchanged');
  t.equal(jittered(0.999999), 500, 'highest draw: +25%');
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(3, { ...schedule, jitter: 0.25 });
    if (d < 300 || d > 500) t.fail(`out of bounds: ${d}`);
  }
  t.equal(
    backoffDelay(3, { ...schedule, jitter: 5, random: () => 0 }),
    0,
    'jitter is clamped to 1',
  );
});
