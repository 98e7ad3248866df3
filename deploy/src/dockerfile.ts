// The Dockerfile of the services, as data and as images. A small reader for the static checks
// (deploy/test/dockerfile.test.ts): instructions with continuations joined, global ARG defaults,
// stages with their base image resolved, and COPY sources/flags, enough to check paths and stages.
// And podman helpers for the tests that build and run the images (deploy/test/containers*.test.ts):
// the build command of a service, the base images, a command runner and a tar reader for layers.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuations joined. */
  rest: string;
  line: number;
}

export interface Stage {
  name?: string;
  /** The base as written (`${NODE_IMAGE}`) and with global ARG defaults substituted. */
  from: string;
  image: string;
  instructions: Instruction[];
}

export interface CopyInstruction {
  from?: string;
  sources: string[];
  destination: string;
  line: number;
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Map<string, string | undefined>;
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  let buffer = '';
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (buffer === '' && (line.trim() === '' || line.trim().startsWith('#'))) return;
    if (buffer !== '' && line.trim().startsWith('#')) return; // comments inside continuations
    if (buffer === '') start = index + 1;
    if (line.endsWith('\\')) {
      buffer += `${line.slice(0, -1)} `;
      return;
    }
    buffer += line;
    const match = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buffer);
    if (!match) throw new Error(`line ${start}: cannot parse "${buffer.trim()}"`);
    instructions.push({ keyword: match[1]!.toUpperCase(), rest: match[2]!.trim(), line: start });
    buffer = '';
  });
  if (buffer !== '') throw new Error('the Dockerfile ends inside a line continuation');

  const globalArgs = new Map<string, string | undefined>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.rest);
      if (!m) throw new Error(`line ${ins.line}: cannot parse FROM ${ins.rest}`);
      const from = m[1]!;
      const image = from.replace(/\$\{?(\w+)\}?/g, (_, name: string) => globalArgs.get(name) ?? '');
      stages.push({ name: m[2], from, image, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before FROM`);
      const [name, value] = splitArg(ins.rest);
      globalArgs.set(name, value);
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

function splitArg(rest: string): [string, string | undefined] {
  const eq = rest.indexOf('=');
  return eq === -1 ? [rest, undefined] : [rest.slice(0, eq), rest.slice(eq + 1)];
}

/** Words of a shell-form argument list, or the array of an exec-form (JSON) one. */
function words(rest: string): string[] {
  if (rest.startsWith('[')) return JSON.parse(rest) as string[];
  return rest.split(/\s+/).filter((w) => w !== '');
}

export function copyInstructions(stage: Stage): CopyInstruction[] {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
    .map((i) => {
      const m = /^((?:--\S+\s+)*)([\s\S]*)$/.exec(i.rest)!;
      const flags = words(m[1]!);
      const paths = words(m[2]!);
      if (paths.length < 2)
        throw new Error(`line ${i.line}: COPY needs a source and a destination`);
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      return { from, sources: paths.slice(0, -1), destination: paths.at(-1)!, line: i.line };
    });
}

/** The last value an instruction keyword takes in a stage (e.g. the effective USER). */
export function lastInstruction(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1);
}

/** A base image pinned to a version tag (not `latest`, not bare) or a digest. */
export function isPinnedBase(image: string): boolean {
  if (image.includes('@sha256:')) return true;
  const colon = image.lastIndexOf(':');
  if (colon === -1 || image.lastIndexOf('/') > colon) return false;
  const tag = image.slice(colon + 1);
  return /\d/.test(tag) && !/latest/.test(tag);
}

// ---------------------------------------------------------------------------------------------
// Building and running the Dockerfile's images with podman (deploy/test/containers*.test.ts and
// deploy/README.md): the build command for one service, with the optional registry secrets, and a
// small runner that keeps a command's output for failure messages.

/** The tag docker-compose.yml and the Kubernetes manifests name for a service's image. */
export const IMAGE_VERSION = '0.1.0';
export const serviceImage = (service: string): string =>
  `jetstream-fastify/${service}:${IMAGE_VERSION}`;
/** The Node base made by deploy/docker/base-images.sh where no registry can be reached. */
export const LOCAL_NODE_IMAGE = 'localhost/node:22-bookworm-slim';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved as they came, the last 64 KiB. */
  output: string;
  stdout: string;
  ms: number;
}

export interface CommandOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Called with each complete output line (stdout and stderr), e.g. for progress. */
  onLine?: (line: string) => void;
}

/** Runs a command to its end (SIGKILL after timeoutMs); never rejects for a non-zero exit. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let stdout = '';
    let partial = '';
    const keep = (chunk: Buffer, isStdout: boolean) => {
      const text = chunk.toString();
      output = (output + text).slice(-65_536);
      if (isStdout) stdout = (stdout + text).slice(-1_048_576);
      if (options.onLine) {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) options.onLine(line);
      }
    };
    child.stdout.on('data', (c: Buffer) => keep(c, true));
    child.stderr.on('data', (c: Buffer) => keep(c, false));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (partial && options.onLine) options.onLine(partial);
      resolve({ code, signal, output, stdout, ms: performance.now() - started });
    });
  });
}

/** `podman ...`, bounded (default 5 min). */
export function podman(args: readonly string[], options: CommandOptions = {}) {
  return runCommand('podman', args, { timeoutMs: 300_000, ...options });
}

/** The host's CA bundle (what npm and node trust here), for the build's `ca` secret. */
export function hostCaBundle(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const file of [
    env.NODE_EXTRA_CA_CERTS,
    env.SSL_CERT_FILE,
    '/etc/ssl/certs/ca-certificates.crt',
  ]) {
    if (file && existsSync(file)) return file;
  }
  return undefined;
}

export interface ServiceBuild {
  service: string;
  port: number;
  /** NODE_IMAGE build argument; default the Dockerfile's own (the official image). */
  nodeImage?: string;
  /** Files for the optional build secrets `ca` (a CA bundle) and `npmrc` (a user npmrc). */
  secrets?: { ca?: string; npmrc?: string };
  tag?: string;
}

/** The arguments of `podman build` (or `docker build`) for one service, from the repo root. */
export function serviceBuildArgs(build: ServiceBuild): string[] {
  const args = [
    'build',
    '--format',
    'docker', // podman's default OCI format drops HEALTHCHECK
    '--layers',
    '-f',
    'deploy/docker/Dockerfile',
    '--build-arg',
    `SERVICE=${build.service}`,
    '--build-arg',
    `PORT=${build.port}`,
    '-t',
    build.tag ?? serviceImage(build.service),
  ];
  if (build.nodeImage) {
    args.push('--build-arg', `NODE_IMAGE=${build.nodeImage}`);
    // a local base must never be looked up in a registry
    if (build.nodeImage.startsWith('localhost/')) args.push('--pull=never');
  }
  if (build.secrets?.ca) args.push('--secret', `id=ca,src=${build.secrets.ca}`);
  if (build.secrets?.npmrc) args.push('--secret', `id=npmrc,src=${build.secrets.npmrc}`);
  args.push('.');
  return args;
}

export interface BuiltImage {
  image: string;
  ms: number;
  /** Steps podman ran, and how many of them came from its layer cache. */
  steps: number;
  cached: number;
  result: CommandResult;
}

/** `nice -n 19 podman build` of one service from `cwd` (the repository root). */
export async function buildServiceImage(
  build: ServiceBuild,
  options: { cwd: string; timeoutMs?: number; onLine?: (line: string) => void },
): Promise<BuiltImage> {
  const result = await runCommand('nice', ['-n', '19', 'podman', ...serviceBuildArgs(build)], {
    cwd: options.cwd,
    timeoutMs: options.timeoutMs ?? 1_800_000,
    onLine: options.onLine,
  });
  const steps = (result.output.match(/^\[\d+\/\d+\] STEP \d+\/\d+:/gm) ?? []).length;
  const cached = (result.output.match(/^--> Using cache /gm) ?? []).length;
  return { image: build.tag ?? serviceImage(build.service), ms: result.ms, steps, cached, result };
}

export interface TarEntry {
  path: string;
  /** '0' file, '5' directory, '2' symlink, '1' hard link, ... (ustar typeflag). */
  type: string;
  mode: number;
  linkname: string;
  /** The content of a regular file (a view into the archive, not a copy). */
  data: Buffer;
}

/** The entries of an uncompressed tar archive (ustar, PAX `path`/`linkpath`, GNU long names). */
export function* tarEntries(archive: Buffer): Generator<TarEntry> {
  let offset = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  const field = (start: number, length: number) =>
    archive.toString('utf8', offset + start, offset + start + length).replace(/\0.*$/s, '');
  while (offset + 512 <= archive.length) {
    if (archive[offset] === 0 && archive.subarray(offset, offset + 512).every((b) => b === 0)) {
      return; // end of archive
    }
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const prefix = field(257, 6).startsWith('ustar') ? field(345, 155) : '';
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const data = archive.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      pax = {};
      for (const record of data.toString('utf8').split('\n')) {
        const m = /^\d+ ([^=]+)=(.*)$/s.exec(record);
        if (m) pax[m[1]!] = m[2]!;
      }
      continue;
    }
    if (type === 'g') continue;
    if (type === 'L' || type === 'K') {
      const value = data.toString('utf8').replace(/\0.*$/s, '');
      if (type === 'L') longName = value;
      else longLink = value;
      continue;
    }
    yield {
      path: (pax.path ?? longName ?? name).replace(/^\.\//, ''),
      type,
      mode: parseInt(field(100, 8).trim() || '0', 8),
      linkname: pax.linkpath ?? longLink ?? field(157, 100),
      data,
    };
    pax = {};
    longName = undefined;
    longLink = undefined;
  }
}

export interface PreparedImages {
  /** What went wrong; undefined when podman works, the base images exist and every image built. */
  failure?: string;
  /** Progress lines (base-images.sh's and one per image). */
  progress: string[];
  builds: Array<BuiltImage & { service: string }>;
}

/**
 * What the container tests need before they can start: podman, the local base images
 * (deploy/docker/base-images.sh `node` or `all`, built only when missing) and each service's
 * image, built with podman's layer cache on the local Node base. Never throws.
 */
export async function prepareServiceImages(options: {
  services: ReadonlyArray<{ service: string; port: number }>;
  baseImages: 'node' | 'all';
  secrets?: ServiceBuild['secrets'];
  /** The repository checkout to build from. */
  context: string;
  note?: (line: string) => void;
}): Promise<PreparedImages> {
  const progress: string[] = [];
  const note = (line: string) => {
    progress.push(line);
    options.note?.(line);
  };
  const fail = (failure: string) => ({ failure, progress, builds });
  const builds: PreparedImages['builds'] = [];
  const version = await runCommand('podman', ['--version']).catch((err: Error) => ({
    code: 1,
    output: err.message,
  }));
  if (version.code !== 0) {
    return fail(`podman is not usable (deploy/docker/ci-setup.sh installs it): ${version.output}`);
  }
  note(version.output.trim());
  const script = join(options.context, 'deploy', 'docker', 'base-images.sh');
  const base = await runCommand(script, [options.baseImages], {
    timeoutMs: 40 * 60_000,
    onLine: (line) => {
      if (line.startsWith('[base-images]')) note(line);
    },
  });
  if (base.code !== 0) {
    return fail(
      `deploy/docker/base-images.sh ${options.baseImages} failed\n${base.output.slice(-4000)}`,
    );
  }
  for (const { service, port } of options.services) {
    note(`building ${serviceImage(service)}`);
    const b = await buildServiceImage(
      { service, port, nodeImage: LOCAL_NODE_IMAGE, secrets: options.secrets },
      { cwd: options.context },
    );
    if (b.result.code !== 0) {
      return fail(`podman build of ${service} failed\n${b.result.output.slice(-6000)}`);
    }
    const seconds = (b.ms / 1000).toFixed(1);
    note(`built ${b.image} in ${seconds} s (${b.cached} of ${b.steps} steps from cache)`);
    builds.push({ service, ...b });
  }
  return { progress, builds };
}
