// A small Dockerfile reader for the static checks that stand in for `docker build` here (no Docker
// engine on this machine): instructions with continuations joined, global ARG defaults, stages
// with their base image resolved, and COPY sources/flags, enough to check paths and stages.

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
