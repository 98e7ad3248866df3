// Batcher: same-turn grouping, the maxBatch bound, queueing behind maxInFlight, key dedupe, and
// retrySingly isolating a bad item. `recorder` keeps every call of the batch function.
import t from 'tap';
import { Batcher } from '../src/index.js';

/** A batch function that doubles numbers and remembers each batch it was given. */
function recorder() {
  const calls: number[][] = [];
  const run = async (items: number[]) => {
    calls.push(items);
    return items.map((n) => n * 2);
  };
  return { calls, run };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

void t.test('items submitted in one turn leave in one batch', async (t) => {
  const { calls, run } = recorder();
  const batcher = new Batcher(run);
  const results = await Promise.all([batcher.submit(1), batcher.submit(2), batcher.submit(3)]);
  t.same(results, [2, 4, 6]);
  t.same(calls, [[1, 2, 3]]);
  t.same(await batcher.submit(4), 8);
  t.same(calls, [[1, 2, 3], [4]], 'a later turn is a new batch');
});

void t.test('a full batch leaves at once; the rest at the end of the turn', async (t) => {
  const { calls, run } = recorder();
  const sizes: number[] = [];
  const batcher = new Batcher(run, { maxBatch: 2, onBatch: (n) => sizes.push(n) });
  const pending = [1, 2, 3, 4, 5].map((n) => batcher.submit(n));
  t.same(sizes, [2, 2], 'the two full batches were sent within the turn');
  t.same(await Promise.all(pending), [2, 4, 6, 8, 10]);
  t.same(calls, [[1, 2], [3, 4], [5]]);
  t.same(sizes, [2, 2, 1]);
});

void t.test('while maxInFlight batches run, new items queue and leave together', async (t) => {
  const gate = deferred();
  const calls: number[][] = [];
  const batcher = new Batcher<number, number>(
    async (items) => {
      calls.push(items);
      if (calls.length === 1) await gate.promise;
      return items;
    },
    { maxInFlight: 1 },
  );
  const first = batcher.submit(1);
  await nextTurn();
  t.same(calls, [[1]], 'the first batch is running');
  const later = [batcher.submit(2)];
  await nextTurn();
  later.push(batcher.submit(3));
  await nextTurn();
  t.same(calls, [[1]], 'nothing else leaves while the slot is taken');
  gate.resolve();
  t.same(await Promise.all([first, ...later]), [1, 2, 3]);
  t.same(calls, [[1], [2, 3]], 'the queued items went in one batch');
});

void t.test('equal keys share one slot and one result', async (t) => {
  const calls: string[][] = [];
  const batcher = new Batcher<string, string>(
    async (keys) => {
      calls.push(keys);
      return keys.map((k) => `value of ${k}`);
    },
    { key: (k) => k, maxBatch: 3 },
  );
  const results = await Promise.all(['a', 'b', 'a', 'c', 'a'].map((k) => batcher.submit(k)));
  t.same(results, ['value of a', 'value of b', 'value of a', 'value of c', 'value of a']);
  t.same(calls, [['a', 'b', 'c'], ['a']], 'a repeat shares a pending slot, never a sent one');
});

void t.test('retrySingly: a failed batch is retried item by item', async (t) => {
  const run = async (items: number[]) => {
    if (items.includes(13)) throw new Error('13 is unlucky');
    return items;
  };
  const single = new Batcher(run, { retrySingly: true });
  const settled = await Promise.allSettled([1, 13, 3].map((n) => single.submit(n)));
  t.same(
    settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)),
    [1, '13 is unlucky', 3],
    'only the bad item fails',
  );

  const together = new Batcher(run);
  const all = await Promise.allSettled([1, 13, 3].map((n) => together.submit(n)));
  t.same(
    all.map((s) => s.status),
    ['rejected', 'rejected', 'rejected'],
    'without it the whole batch fails',
  );
});

void t.test('a batch function returning the wrong number of results fails its batch', async (t) => {
  const batcher = new Batcher<number, number>(async (items) => items.slice(1));
  await t.rejects(
    Promise.all([batcher.submit(1), batcher.submit(2)]),
    /returned 1 results for 2 items/,
  );
});
