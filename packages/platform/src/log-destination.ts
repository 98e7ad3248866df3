// Where a service's log lines go: standard output, in the order they were logged, many lines per
// write, never losing one on an exit or a crash, and never stalling requests on a slow reader.
//
// pino's asynchronous stream writes from the thread pool while newer lines queue, and the flush it
// does on exit wrote the queued lines first, so the last lines before an exit came out of order or
// not at all. Its synchronous stream (sonic-boom) keeps the order but writes once per line, and when
// the pipe is full (a log shipper that falls behind, a container runtime under load) it sleeps
// 100 ms with the event loop blocked and tries again. This stream, one writer for the process:
// - every line joins the pending text; one write of all of it is due FLUSH_MS later, or at once
//   when FLUSH_BYTES are pending, so a busy service writes a hundred requests' lines at a time and
//   a quiet one's line appears within FLUSH_MS;
// - a write the pipe cannot take whole keeps the rest, in order, for a retry 1 ms later, while the
//   event loop goes on; only past MAX_PENDING_BYTES (a reader that stopped) does a write wait for
//   the pipe, which is then the backpressure;
// - a line at `error` or above, and process `exit` (process.exit, the end of the event loop, an
//   uncaught exception), write everything pending before going on, waiting for the pipe if they
//   must, so a crash's cause and the lines before an exit are out before the process ends.
// Only a SIGKILL (or an abort) can lose lines: those of the last FLUSH_MS at most.
import { writeSync } from 'node:fs';
import type { DestinationStream } from 'pino';

const ERROR_LEVEL = 50;
/** How long a line may wait for the next write. */
export const FLUSH_MS = 10;
/** Pending text that is written at once, whatever the time. */
const FLUSH_BYTES = 64 * 1024;
/** Past this much unwritten output, writes wait for the reader instead of queueing more. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** How long a waiting write sleeps between attempts, and how long an `exit` may wait in all. */
const RETRY_MS = 1;
const EXIT_WAIT_MS = 5000;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

/** pino passes each line's level to a stream that asks for it (`Symbol.for('pino.metadata')`). */
export class BatchedStdout implements DestinationStream {
  /** Set by pino before each write (the stream declares `pino.metadata`). */
  lastLevel = 0;
  private pending = '';
  /** Bytes a write could not take yet (they go before `pending`). */
  private carry: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly flushPending = () => this.flush(false);
  private readonly flushAtExit = () => this.flush(true, EXIT_WAIT_MS);

  constructor(private readonly fd: number) {
    Object.defineProperty(this, Symbol.for('pino.metadata'), { value: true });
    process.on('exit', this.flushAtExit);
  }

  write(line: string): void {
    this.pending += line;
    if (this.lastLevel >= ERROR_LEVEL) this.flush(true);
    // While bytes wait for the pipe, the retry already due takes the new lines along.
    else if (this.pending.length >= FLUSH_BYTES && !this.carry) this.flush(false);
    else this.schedule(FLUSH_MS);
  }

  /** Writes every pending line now, waiting for the pipe if it must (pino's flush, `pino.final`). */
  flushSync(): void {
    this.flush(true);
  }

  /** Writes what is pending and stops listening for `exit` (a test that makes many streams). */
  close(): void {
    this.flush(true);
    process.removeListener('exit', this.flushAtExit);
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(this.flushPending, ms);
    // A pending write never keeps a process alive: `exit` writes it.
    this.timer.unref();
  }

  /**
   * Writes the carried bytes and the pending text. `wait`: until all is written (or `maxWaitMs`
   * has passed: a reader that never comes back must not hang an exit); otherwise what the pipe
   * cannot take now is carried to a retry.
   */
  private flush(wait: boolean, maxWaitMs = Infinity): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending === '' && !this.carry) return;
    let buf = this.pending === '' ? this.carry! : Buffer.from(this.pending);
    if (this.carry && this.pending !== '') buf = Buffer.concat([this.carry, buf]);
    this.pending = '';
    this.carry = undefined;
    const deadline = Date.now() + maxWaitMs;
    while (buf.length > 0) {
      try {
        buf = buf.subarray(writeSync(this.fd, buf));
        continue;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // The reader is gone (EPIPE) or the descriptor unusable: there is nowhere to write to.
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') return;
      }
      if (!wait && buf.length < MAX_PENDING_BYTES) {
        this.carry = buf;
        this.schedule(RETRY_MS);
        return;
      }
      if (Date.now() >= deadline) return;
      sleep(RETRY_MS);
    }
  }
}

let stdoutStream: BatchedStdout | undefined;

/** Standard output for log lines, one stream for the process (every app in it shares it). */
export function stdoutDestination(): BatchedStdout {
  // Node opens a pipe on fd 1 in non-blocking mode when process.stdout is first used: done here,
  // so a full pipe answers EAGAIN (and the rest waits for a retry) rather than stopping the process.
  void process.stdout;
  stdoutStream ??= new BatchedStdout(1);
  return stdoutStream;
}
