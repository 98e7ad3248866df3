// Several replicas of each service behind the balancer: a rolling restart (one replica at a time:
// SIGTERM, its exit, start again, ready, and seen UP by the balancer before the next one goes), and
// each replica's own counters read from its own /metrics. A process's counters start again at 0
// when it restarts, so ReplicaCounters adds each incarnation's last reading (taken while it drains,
// up to its listener closing) to the current one.
import { httpRequest } from './http.js';
import type { ExitInfo, ServiceName, ServiceProcess, System } from './system.js';

/** The sum of the samples of `name` whose labels include `labels`, in Prometheus text. */
export function sumSamples(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = new Map<string, string>();
    for (const pair of (match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      present.set(pair[1]!, pair[2]!);
    }
    if (Object.entries(labels).every(([k, v]) => present.get(k) === v)) sum += Number(match[4]);
  }
  return sum;
}

/** One replica's /metrics, read from its own port (not through the balancer). */
export async function scrape(proc: ServiceProcess): Promise<string> {
  const res = await httpRequest(proc.url, { path: '/metrics', timeoutMs: 10_000 });
  if (res.status !== 200) throw new Error(`${proc.id} /metrics answered ${res.status}`);
  return res.body;
}

export interface CounterSpec {
  service: ServiceName;
  metric: string;
  labels?: Record<string, string>;
}

/** Per-replica counters that survive restarts (`follow` a replica while it stops). */
export class ReplicaCounters {
  private readonly banked = new Map<string, number>();

  constructor(
    private readonly system: System,
    private readonly specs: Record<string, CounterSpec>,
  ) {}

  private key(id: string, counter: string): string {
    return `${id} ${counter}`;
  }

  /** This incarnation's counters; undefined once the process has gone. */
  private async read(proc: ServiceProcess): Promise<Map<string, number> | undefined> {
    const out = new Map<string, number>();
    const wanted = Object.entries(this.specs).filter(([, s]) => s.service === proc.name);
    if (!proc.running()) return undefined;
    if (wanted.length === 0) return out;
    const text = await scrape(proc);
    for (const [counter, s] of wanted) out.set(counter, sumSamples(text, s.metric, s.labels));
    return out;
  }

  /**
   * Reads the replica's counters now and then every 200 ms for as long as it answers (a draining
   * replica still does); the function returned, awaited once the process has exited, keeps the
   * last reading, which the next incarnation's counters are added to.
   */
  async follow(proc: ServiceProcess): Promise<() => Promise<void>> {
    let last = (await this.read(proc)) ?? new Map<string, number>();
    let stopped = false;
    const polling = (async () => {
      while (!stopped && proc.running()) {
        await new Promise((r) => setTimeout(r, 200));
        try {
          last = (await this.read(proc)) ?? last;
        } catch {
          // Closed: the reading before this one is the incarnation's last.
        }
      }
    })();
    return async () => {
      stopped = true;
      await polling;
      for (const [counter, value] of last) {
        const key = this.key(proc.id, counter);
        this.banked.set(key, (this.banked.get(key) ?? 0) + value);
      }
    };
  }

  /** Every replica's total of `counter`, by replica id (banked plus the running incarnation). */
  async totals(counter: string): Promise<Record<string, number>> {
    const spec = this.specs[counter];
    if (!spec) throw new Error(`no counter ${counter}`);
    const out: Record<string, number> = {};
    for (const proc of this.system.instances(spec.service)) {
      const now = (await this.read(proc))?.get(counter) ?? 0;
      out[proc.id] = (this.banked.get(this.key(proc.id, counter)) ?? 0) + now;
    }
    return out;
  }
}

export interface RestartRecord {
  id: string;
  exit: ExitInfo & { ms: number };
  /** From SIGTERM until the replica was ready again (and UP in the balancer, when it has one). */
  backMs: number;
}

export interface RollingRestartOptions {
  /**
   * Runs before each replica is stopped; what it returns runs once the replica has exited
   * (ReplicaCounters.follow).
   */
  before?: (proc: ServiceProcess) => Promise<(() => Promise<void>) | void>;
  readyTimeoutMs?: number;
}

/**
 * Restarts every replica of each service in turn, never two at once: the next one stops only once
 * the previous one is ready and (behind the balancer) its health checks have put it back.
 */
export async function rollingRestart(
  system: System,
  names: readonly ServiceName[],
  options: RollingRestartOptions = {},
): Promise<RestartRecord[]> {
  const records: RestartRecord[] = [];
  const backends = new Set((await system.balancer?.stats())?.map((r) => r.pxname) ?? []);
  for (const name of names) {
    for (const proc of system.instances(name)) {
      const after = await options.before?.(proc);
      const started = Date.now();
      const exit = await system.term(proc);
      await after?.();
      await system.start(proc);
      if (system.balancer && backends.has(`be_${name}`)) {
        await system.balancer.waitFor(name, proc.index, 'UP', options.readyTimeoutMs ?? 60_000);
      }
      records.push({ id: proc.id, exit, backMs: Date.now() - started });
    }
  }
  return records;
}
