// Child processes of a benchmark: services and baseline servers, started with the same Node flags a
// user runs them with, pinned to the server core when the machine allows it, awaited until ready
// and always stopped (SIGTERM, then SIGKILL) when the scenario ends. Output is kept only as a short
// tail for error messages, never printed, since the children's environment carries secrets.
import { killOnExit } from '@app/testing';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { cpus } from 'node:os';
import { promisify } from 'node:util';
import type { Pinning } from './harness.js';

const execFileAsync = promisify(execFile);

export const SERVER_CPUS = '1';
export const LOAD_CPUS = '0';

const track = killOnExit;
const TAIL_BYTES = 6000;

/**
 * Pins this process (the load generator) to core 0 and reports whether children can go to core 1.
 * Without taskset or with one core, nothing is pinned and the reason is recorded.
 */
export async function setupPinning(pinSelf = true): Promise<Pinning> {
  const none = (reason: string): Pinning => ({
    applied: false,
    serverCpus: null,
    loadCpus: null,
    reason,
  });
  if (process.platform !== 'linux') return none(`not Linux (${process.platform})`);
  if (cpus().length < 2) return none(`only ${cpus().length} core`);
  try {
    await execFileAsync('taskset', ['-c', SERVER_CPUS, 'true']);
    if (pinSelf) await execFileAsync('taskset', ['-a', '-p', '-c', LOAD_CPUS, String(process.pid)]);
  } catch (error) {
    return none(`taskset unavailable: ${(error as Error).message.split('\n')[0]}`);
  }
  return {
    applied: true,
    serverCpus: SERVER_CPUS,
    loadCpus: pinSelf ? LOAD_CPUS : null,
    reason: pinSelf
      ? `servers on core ${SERVER_CPUS}, load generator on core ${LOAD_CPUS} (taskset)`
      : `servers on core ${SERVER_CPUS} (taskset); load generator not pinned`,
  };
}

export interface ChildOptions {
  /**
   * The entry point: a TypeScript one runs as `node --import=tsx --conditions=app-source <script>`,
   * a compiled one (`.js`) as `node <script>`, the way each is run outside the bench.
   */
  script: string;
  cwd: string;
  env: Record<string, string>;
  pinning: Pinning;
  label: string;
  /** Pass an IPC channel (for bench-owned workers that report over process.send). */
  ipc?: boolean;
  args?: string[];
  /** Node flags before the script (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
}

export interface Child {
  label: string;
  process: ChildProcess;
  pid: number;
  /** The last few KB of stdout+stderr. */
  output(): string;
  exited(): boolean;
  /** Rejects if the process exits before `promise` settles, with the output tail. */
  guard<T>(promise: Promise<T>): Promise<T>;
  stop(graceMs?: number): Promise<void>;
}

/** The environment a child inherits: PATH and friends, never this process's service settings. */
function baseEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'TMPDIR', 'NODE_OPTIONS', 'TZ'];
  const env: Record<string, string> = {};
  for (const key of keep) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

export function startChild(options: ChildOptions): Child {
  const nodeArgs = [
    ...(options.nodeArgs ?? []),
    ...(options.script.endsWith('.ts') ? ['--import=tsx', '--conditions=app-source'] : []),
    options.script,
    ...(options.args ?? []),
  ];
  const [command, args]: [string, string[]] = options.pinning.applied
    ? ['taskset', ['-c', options.pinning.serverCpus ?? SERVER_CPUS, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...baseEnv(), ...options.env },
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  // The pipes are drained as a container runtime drains them, keeping the last chunks only (a
  // service at info writes a line per request: copying all of it would load the bench's core).
  const chunks: Buffer[] = [];
  let kept = 0;
  const keep = (chunk: Buffer) => {
    chunks.push(chunk);
    kept += chunk.length;
    while (chunks.length > 1 && kept - (chunks[0] as Buffer).length >= TAIL_BYTES) {
      kept -= (chunks.shift() as Buffer).length;
    }
  };
  const tailText = () => Buffer.concat(chunks).toString('utf8').slice(-TAIL_BYTES);
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exit = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(`${signal ?? `code ${code}`}`));
    child.once('error', (error) => resolve(`spawn error: ${error.message}`));
  });
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;

  return {
    label: options.label,
    process: child,
    pid: child.pid ?? -1,
    output: tailText,
    exited: hasExited,
    guard<T>(promise: Promise<T>): Promise<T> {
      return Promise.race([
        promise,
        exit.then((how) => {
          throw new Error(`${options.label} exited (${how}) unexpectedly. Output:\n${tailText()}`);
        }),
      ]);
    },
    async stop(graceMs = 5000) {
      if (hasExited()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        if (!hasExited()) await once(child, 'exit');
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** GET a URL on 127.0.0.1 and resolve with status and body (no keep-alive; for probes). */
export function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Resolves once `url` answers 200, polling every 100 ms; fails with the child's output if it exits,
 * or after timeoutMs.
 */
export async function waitReady(child: Child, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exited()) {
      throw new Error(`${child.label} exited before it was ready. Output:\n${child.output()}`);
    }
    try {
      const res = await httpGet(url, 1000);
      if (res.status === 200) return;
      last = `HTTP ${res.status}: ${res.body.slice(0, 300)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${child.label} not ready at ${url} within ${timeoutMs} ms (${last}). Output:\n${child.output()}`,
  );
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}
