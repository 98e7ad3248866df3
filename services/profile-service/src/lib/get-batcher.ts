// Merges the Redis GETs of concurrent reads into one MGET. Node hands every ready socket to its
// callback in one poll phase and runs `setImmediate` callbacks right after it, so the reads that
// arrived together leave together: one command, one write to the Redis socket and one reply to
// parse for the whole group, instead of one each. A socket write is most of what a cached read
// costs besides the HTTP exchange itself (see README "Performance"), so under load this is what
// keeps the Redis tier close to the in-memory route. A lone read waits for nothing but the end of
// the current poll phase. Duplicate keys in one group are asked once; a failed MGET fails every
// read of its group (each one then takes its own bypass path).
export type MultiGet = (keys: string[]) => Promise<Array<string | null>>;

interface Waiter {
  resolve(value: string | null): void;
  reject(err: unknown): void;
}

export interface GetBatcherOptions {
  /** A group is sent at once when it reaches this many distinct keys (default 128). */
  maxKeys?: number;
  /** Called once per MGET sent, with its number of distinct keys (for metrics). */
  onBatch?: (keys: number) => void;
}

export class GetBatcher {
  private group: Map<string, Waiter[]> | null = null;
  private readonly maxKeys: number;

  constructor(
    private readonly mget: MultiGet,
    private readonly options: GetBatcherOptions = {},
  ) {
    this.maxKeys = options.maxKeys ?? 128;
  }

  get(key: string): Promise<string | null> {
    let group = this.group;
    if (group === null) {
      const fresh = new Map<string, Waiter[]>();
      group = fresh;
      this.group = fresh;
      setImmediate(() => this.send(fresh));
    }
    const waiters = group.get(key);
    const promise = new Promise<string | null>((resolve, reject) => {
      if (waiters) waiters.push({ resolve, reject });
      else group.set(key, [{ resolve, reject }]);
    });
    if (group.size >= this.maxKeys) this.send(group);
    return promise;
  }

  private send(group: Map<string, Waiter[]>): void {
    if (this.group === group) this.group = null;
    if (group.size === 0) return;
    const keys = [...group.keys()];
    const entries = [...group.values()];
    group.clear(); // the scheduled send of a group already sent finds it empty
    this.options.onBatch?.(keys.length);
    let sent: Promise<Array<string | null>>;
    try {
      sent = this.mget(keys);
    } catch (err) {
      sent = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    sent.then(
      (values) => {
        for (let i = 0; i < entries.length; i++) {
          const value = values[i] ?? null;
          for (const w of entries[i] as Waiter[]) w.resolve(value);
        }
      },
      (err: unknown) => {
        for (const waiters of entries) for (const w of waiters) w.reject(err);
      },
    );
  }
}
