// In-process single-flight: concurrent callers asking for the same key share one promise, so N
// concurrent misses in one replica cost one trip to Redis and at most one to Postgres.
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T>>();

  do(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.flights.get(key);
    if (existing) return existing;
    const flight = fn();
    this.flights.set(key, flight);
    // A side branch (not `finally`, which would wrap every read in two more promises); it also
    // keeps a failed flight from counting as an unhandled rejection here: the callers handle it.
    const land = () => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    };
    flight.then(land, land);
    return flight;
  }

  /** Later callers start a fresh flight (after an update, an older flight may carry old data). */
  forget(key: string): void {
    this.flights.delete(key);
  }
}
