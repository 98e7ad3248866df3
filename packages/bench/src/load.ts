// Load generators: autocannon for closed-loop throughput (fixed connections, as many requests as
// the server answers) and an open-loop driver that sends at a steady rate whatever the latency,
// which is how a signup API is actually hit. Both refuse to report numbers from failed requests.
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { percentile } from './stats.js';

export interface CannonOptions {
  url: string;
  connections: number;
  durationS: number;
  /** Path for each request (e.g. a fresh id per request for the miss path). */
  nextPath?: () => string;
  headers?: Record<string, string>;
}

export interface CannonResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
}

export async function cannon(options: CannonOptions): Promise<CannonResult> {
  const nextPath = options.nextPath;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationS,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(nextPath
      ? {
          requests: [
            {
              setupRequest: (req: autocannon.Request) => ({ ...req, path: nextPath() }),
            },
          ],
        }
      : {}),
  });
  const total = result['2xx'] + result.non2xx;
  if (result.errors > 0 || result.non2xx > 0 || total === 0) {
    throw new Error(
      `autocannon ${options.url}: ${result['2xx']} ok, ${result.non2xx} non-2xx (4xx ${result['4xx']}, 5xx ${result['5xx']}), ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
  return {
    rps: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result['2xx'],
  };
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** performance.now() when the full response had arrived. */
  at: number;
  latencyMs: number;
}

/** A keep-alive JSON client for one origin. */
export class HttpClient {
  readonly agent: Agent;

  constructor(
    readonly origin: string,
    maxSockets = 256,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.origin}${path}`,
        {
          method,
          agent: this.agent,
          headers: {
            ...headers,
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
              : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const at = performance.now();
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
              at,
              latencyMs: at - started,
            });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface SteadyResult<T> {
  results: T[];
  /** Requests actually started per second (checks the driver kept up). */
  achievedRate: number;
}

/**
 * Open loop: starts `fire(i)` every 1/rate seconds for durationS, without waiting for answers,
 * then waits for all of them. The schedule is absolute, so one slow timer does not lower the rate.
 */
export async function steadyRate<T>(
  rate: number,
  durationS: number,
  fire: (i: number) => Promise<T>,
): Promise<SteadyResult<T>> {
  const total = Math.max(1, Math.round(rate * durationS));
  const interval = 1000 / rate;
  const pending: Array<Promise<T>> = [];
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(fire(i));
  }
  const elapsed = Math.max(1e-3, (performance.now() - start) / 1000);
  const results = await Promise.all(pending);
  // total requests span total-1 intervals
  return { results, achievedRate: total > 1 ? (total - 1) / elapsed : rate };
}

export function latencySummary(values: readonly number[]): { p50: number; p99: number } {
  return { p50: percentile(values, 50), p99: percentile(values, 99) };
}
