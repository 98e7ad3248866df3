// In-process single-flight: concurrent callers asking for the same key share one promise, so N
// concurrent misses in one replica cost one trip to Redis and at most one to Postgres.
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T>>();

  do(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.flights.get(key);
    if (existing) return existing;
    const flight = fn().finally(() => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    });
    this.flights.set(key, flight);
    return flight;
  }

  /** Later callers start a fresh flight (after an update, an older flight may carry old data). */
  forget(key: string): void {
    this.flights.delete(key);
  }
}
