// The micro-batcher: turns many concurrent single calls (a Redis GET, a delivery-row INSERT) into one
// call over all of them. Items submitted in the same event-loop turn leave together (setImmediate
// runs right after the poll phase that delivered them), a full batch leaves at once, and at most
// `maxInFlight` batches run at a time while later items queue and leave together in the next one.
// Used by profile-service's Redis reads (MGET) and notification-service's delivery ledger.

export interface BatcherOptions<I> {
  /** Most distinct items per batch; a full batch leaves at once. Default 128. */
  maxBatch?: number;
  /** Batches running at once; while that many run, new items queue. Default Infinity. */
  maxInFlight?: number;
  /** Items with equal keys in one batch share one slot and one result. Default: every item its own. */
  key?: (item: I) => string;
  /** A failed batch of several is retried one item at a time, so one bad item fails alone. */
  retrySingly?: boolean;
  /** Called for every call of `run`, with its number of items (for metrics). */
  onBatch?: (size: number) => void;
}

interface Waiter<O> {
  resolve(value: O): void;
  reject(err: unknown): void;
}

interface Slot<I, O> {
  item: I;
  waiters: Array<Waiter<O>>;
}

export class Batcher<I, O> {
  private queue: Array<Slot<I, O>> = [];
  // Slots of the queue by key; a slot leaves this map when its batch is sent.
  private readonly byKey = new Map<string, Slot<I, O>>();
  private running = 0;
  private scheduled = false;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly options: BatcherOptions<I> = {},
  ) {
    this.maxBatch = options.maxBatch ?? 128;
    this.maxInFlight = options.maxInFlight ?? Infinity;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) {
      throw new RangeError('maxBatch must be a positive integer');
    }
    if (!(this.maxInFlight >= 1)) throw new RangeError('maxInFlight must be at least 1');
  }

  /** Queues `item`; resolves with its result from the batch it went out in. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const waiter = { resolve, reject };
      const key = this.options.key?.(item);
      const shared = key === undefined ? undefined : this.byKey.get(key);
      if (shared) {
        shared.waiters.push(waiter);
        return;
      }
      const slot = { item, waiters: [waiter] };
      this.queue.push(slot);
      if (key !== undefined) this.byKey.set(key, slot);
      if (this.queue.length >= this.maxBatch) this.pump(true);
      if (this.queue.length > 0 && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump(false);
        });
      }
    });
  }

  /** Sends batches while a slot is free; `fullOnly` leaves a partial batch for the end of the turn. */
  private pump(fullOnly: boolean): void {
    while (this.running < this.maxInFlight && this.queue.length > 0) {
      if (fullOnly && this.queue.length < this.maxBatch) return;
      const batch = this.queue.splice(0, this.maxBatch);
      if (this.options.key) {
        for (const slot of batch) this.byKey.delete(this.options.key(slot.item));
      }
      this.running++;
      void this.send(batch).finally(() => {
        this.running--;
        this.pump(false);
      });
    }
  }

  private async send(batch: Array<Slot<I, O>>): Promise<void> {
    let results: O[];
    try {
      results = await this.call(batch.map((s) => s.item));
    } catch (err) {
      if (this.options.retrySingly && batch.length > 1) {
        await Promise.all(batch.map((slot) => this.send([slot])));
        return;
      }
      for (const slot of batch) for (const w of slot.waiters) w.reject(err);
      return;
    }
    batch.forEach((slot, i) => {
      for (const w of slot.waiters) w.resolve(results[i] as O);
    });
  }

  private async call(items: I[]): Promise<O[]> {
    this.options.onBatch?.(items.length);
    const results = await this.run(items);
    if (!Array.isArray(results) || results.length !== items.length) {
      throw new Error(
        `batch function returned ${Array.isArray(results) ? results.length : typeof results} results for ${items.length} items`,
      );
    }
    return results;
  }
}
