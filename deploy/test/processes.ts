// Child processes of the system tests (demo, gateway): a process whose output lines are kept and
// can be waited on for a line or its exit, and a bounded wait for any promise.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

// ANSI colour codes: start.ts colours its prefixes whatever the terminal.
// eslint-disable-next-line no-control-regex
export const ANSI = /\x1b\[[0-9;]*m/g;

/** A child process whose output lines are kept, and which can be waited on for a line or exit. */
export class Proc {
  readonly lines: string[] = [];
  private listeners: Array<() => void> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line.replace(ANSI, ''));
        this.notify();
      });
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.notify();
        resolve({ code, signal });
      });
    });
  }

  private notify(): void {
    const listeners = this.listeners;
    this.listeners = [];
    for (const l of listeners) l();
  }

  get output(): string {
    return this.lines.join('\n');
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with `probe`'s first defined answer, re-asked on each new line; bounded. */
  async waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0 || !this.running) {
        throw new Error(
          `${what}: ${this.running ? `not within ${timeoutMs} ms` : 'the process exited'}\n${this.output.slice(-12000)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
