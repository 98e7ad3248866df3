// Test helpers: a log sink that keeps pino's JSON lines, and bounded waits on events.
import { Writable } from 'node:stream';

export interface LogSink {
  stream: Writable;
  lines: Array<Record<string, unknown>>;
  /** Resolves with the first line matching `predicate`, or rejects after `timeoutMs`. */
  waitFor(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  text(): string;
}

export function logSink(): LogSink {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const waiters: Array<{
    p: (l: Record<string, unknown>) => boolean;
    r: (l: Record<string, unknown>) => void;
  }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim() === '') continue;
        raw.push(text);
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.p(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.r(line);
          }
        }
      }
      cb();
    },
  });
  return {
    stream,
    lines,
    text: () => raw.join('\n'),
    waitFor(predicate, timeoutMs = 5000) {
      const found = lines.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching log line within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          p: predicate,
          r: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
  };
}

export const NATS_URL = 'nats://127.0.0.1:4222';
export const REDIS_URL = 'redis://127.0.0.1:6379';
