// In-process single-flight: concurrent callers asking for the same key share one promise, so N
// concurrent misses in one replica cost one trip to Redis and at most one to Postgres. A batch of
// keys joins the flights already running and starts one shared flight for the rest.
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T>>();

  do(key: string, fn: () => Promise<T>): Promise<T> {
    return this.flights.get(key) ?? this.start(key, fn());
  }

  /**
   * One promise per key: a running flight where there is one, else a share of one call of `fn`
   * with every key that had none (its map must hold each of them).
   */
  doMany(keys: string[], fn: (fresh: string[]) => Promise<Map<string, T>>): Array<Promise<T>> {
    const fresh = [...new Set(keys.filter((key) => !this.flights.has(key)))];
    if (fresh.length > 0) {
      const batch = fn(fresh);
      for (const key of fresh) {
        // Its callers (the returned promises) handle it; start() keeps it from going unhandled.
        void this.start(
          key,
          batch.then((results) => {
            const result = results.get(key);
            if (result === undefined) throw new Error(`batch flight gave no result for ${key}`);
            return result;
          }),
        );
      }
    }
    return keys.map((key) => this.flights.get(key)!);
  }

  /** Later callers start a fresh flight (after an update, an older flight may carry old data). */
  forget(key: string): void {
    this.flights.delete(key);
  }

  private start(key: string, flight: Promise<T>): Promise<T> {
    this.flights.set(key, flight);
    // A side branch (not `finally`, which would wrap every read in two more promises); it also
    // keeps a failed flight from counting as an unhandled rejection here: the callers handle it.
    const land = () => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    };
    flight.then(land, land);
    return flight;
  }
}
