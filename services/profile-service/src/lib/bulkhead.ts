// A bulkhead around database reads: at most `maxConcurrent` run at once and at most `maxQueue`
// wait (each for at most `queueTimeoutMs`). Beyond that a read is refused at once, so that a cache
// outage turns into fast 503s rather than a pile of queries that takes Postgres down too.
export class BulkheadFullError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('too many concurrent database reads');
    this.name = 'BulkheadFullError';
  }
}

export interface BulkheadOptions {
  maxConcurrent: number;
  maxQueue: number;
  queueTimeoutMs: number;
  retryAfterSeconds?: number;
}

export class Bulkhead {
  private active = 0;
  private readonly waiting: Array<{ resolve: () => void; timer: NodeJS.Timeout }> = [];

  constructor(private readonly options: BulkheadOptions) {}

  get inFlight(): number {
    return this.active;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.active < this.options.maxConcurrent) {
      this.active += 1;
      return Promise.resolve();
    }
    const retryAfter = this.options.retryAfterSeconds ?? 1;
    if (this.waiting.length >= this.options.maxQueue) {
      return Promise.reject(new BulkheadFullError(retryAfter));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve,
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new BulkheadFullError(retryAfter));
        }, this.options.queueTimeoutMs),
      };
      this.waiting.push(waiter);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) {
      // The slot passes straight to the next waiter: `active` stays the same.
      clearTimeout(next.timer);
      next.resolve();
    } else {
      this.active -= 1;
    }
  }
}
