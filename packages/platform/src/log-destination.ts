// Where a service's log lines go: standard output, written synchronously, but many lines per
// write rather than one.
//
// pino's asynchronous stream writes from the thread pool while newer lines queue, and the flush it
// does on exit wrote the queued lines first, so the last lines before an exit came out of order or
// not at all; a synchronous write per line keeps them in order but costs a system call per line,
// the largest part of what logging cost a request at `info` (README, Performance). This stream
// keeps the synchronous write and its order, and gathers lines into few writes:
// - every line joins the pending text, and one write of all of it is due FLUSH_MS later (or as
//   soon as FLUSH_BYTES are pending), so a busy service writes a hundred requests' lines at once
//   and a quiet one's line appears within FLUSH_MS;
// - a line at `error` or above writes everything pending at once, itself included (pino tells the
//   stream each line's level), so a crash's cause is out before anything else can fail;
// - on `exit` (process.exit, the end of the event loop, an uncaught exception) whatever is pending
//   is written before the process ends, so nothing logged before an exit is lost.
// Only a SIGKILL (or an abort) can lose lines: those of the last FLUSH_MS at most.
import { destination, type DestinationStream } from 'pino';

const ERROR_LEVEL = 50;
/** How long a line may wait for the next write. */
export const FLUSH_MS = 10;
/** Pending text that is written at once, whatever the time. */
const FLUSH_BYTES = 64 * 1024;

/** pino passes each line's level to a stream that asks for it (`Symbol.for('pino.metadata')`). */
export class TurnBufferedDestination implements DestinationStream {
  /** Set by pino before each write (the stream declares `pino.metadata`). */
  lastLevel = 0;
  private pending = '';
  private scheduled = false;
  private readonly flushPending = () => this.flush();

  constructor(private readonly out: DestinationStream) {
    Object.defineProperty(this, Symbol.for('pino.metadata'), { value: true });
    process.on('exit', this.flushPending);
  }

  write(line: string): void {
    this.pending += line;
    if (this.lastLevel >= ERROR_LEVEL || this.pending.length >= FLUSH_BYTES) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      // Unreferenced: a pending write never keeps a process alive (`exit` writes it).
      setTimeout(this.flushPending, FLUSH_MS).unref();
    }
  }

  /** Writes every pending line now (synchronously). */
  flush(): void {
    this.scheduled = false;
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.out.write(text);
  }

  /** pino's `logger.flush()` and `pino.final` call this. */
  flushSync(): void {
    this.flush();
  }

  /** Stops listening for `exit` (a test that makes many streams). */
  close(): void {
    this.flush();
    process.removeListener('exit', this.flushPending);
  }
}

let stdoutStream: TurnBufferedDestination | undefined;

/** Standard output for log lines, one stream for the process (every app in it shares it). */
export function stdoutDestination(): TurnBufferedDestination {
  stdoutStream ??= new TurnBufferedDestination(destination({ dest: 1, sync: true }));
  return stdoutStream;
}
