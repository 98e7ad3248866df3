// What a request costs, part by part, from a V8 CPU profile (`node --cpu-prof`) of a server under
// load. A sample whose stack passes through one of the platform's per-request parts (request id,
// logging, security headers, metrics, validation, ...) is that part's, the first in HOOKS' order
// when several are on the stack (a native write inside pino's destination is the log write, not
// the log line); any other sample goes to the innermost frame's component (service code, ioredis,
// Fastify, node's http). Each part's time divided by the requests answered while profiling is its
// cost in microseconds per request. Idle time and start-up (module loading, compiling) are
// left out. Used by the profile-hooks scenario and, as a command, on any profile:
//   node --import=tsx src/cpu-profile.ts <file.cpuprofile> <requests>
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A part of the request path: matched on a frame's `url` and, where given, its function name. */
interface Part {
  name: string;
  url: RegExp;
  fn?: RegExp;
}

// The per-request parts, in order of precedence. Paths match both the sources (tsx) and the build.
const HOOKS: Part[] = [
  { name: 'request id', url: /platform\/(src|dist)\/logger\.[jt]s$/, fn: /^genReqId$/ },
  {
    name: 'log redaction',
    url: /platform\/(src|dist)\/logger\.[jt]s$|@pinojs\/redact|fast-redact/,
  },
  {
    name: 'log write (to stdout)',
    url: /sonic-boom|platform\/(src|dist)\/log-destination\.[jt]s$/,
  },
  {
    name: 'log line (pino, serializers)',
    url: /\/pino\/|pino-std-serializers|fastify\/lib\/logger/,
  },
  {
    name: 'request log (Fastify log controller)',
    url: /fastify\/lib\/log-controller|platform\/(src|dist)\/app\.[jt]s$/,
    fn: /^(incomingRequest|requestCompleted)$/,
  },
  {
    name: 'security headers + request id header',
    url: /platform\/(src|dist)\/security-headers\.[jt]s$/,
  },
  { name: 'metrics histogram', url: /platform\/(src|dist)\/metrics\.[jt]s$|prom-client/ },
  { name: 'problem+json wiring', url: /platform\/(src|dist)\/errors\.[jt]s$/ },
  { name: 'CORS', url: /@fastify\/cors/ },
  { name: 'rate limit', url: /platform\/(src|dist)\/plugins\/rate-limiter\.[jt]s$/ },
  { name: 'validation (ajv, TypeBox)', url: /\/ajv\/|@sinclair\/typebox|fast-uri/ },
];

/** The rest, by the innermost frame that names one. */
const COMPONENTS: Part[] = [
  { name: 'route + cache (service code)', url: /services\/[^/]+\/(src|dist)\// },
  // Hooks that call `done()` have the rest of the request on their stack: innermost only.
  { name: 'platform app hooks (closing check)', url: /platform\/(src|dist)\/app\.[jt]s$/ },
  { name: 'batcher', url: /platform\/(src|dist)\/batcher\.[jt]s$/ },
  { name: 'ioredis', url: /\/ioredis\/|redis-parser|\/denque\// },
  { name: 'Fastify (routing, reply)', url: /\/fastify\/|find-my-way|\/avvio\/|light-my-request/ },
  { name: 'node http + net', url: /^node:(_http|net|internal\/(stream|streams|http|net)|stream)/ },
];

/** Every part a cost can be reported for. */
export const PART_NAMES: readonly string[] = [
  ...HOOKS.map((p) => p.name),
  ...COMPONENTS.map((p) => p.name),
  'garbage collector',
  'other',
];

const SKIP = new Set(['(idle)', '(program)', '(root)']);
const STARTUP =
  /node:internal\/modules|compileSourceTextModule|wrapSafe|internalModuleStat|openFileHandle/;

export interface PartCost {
  part: string;
  /** Microseconds of CPU per request. */
  usPerRequest: number;
  share: number;
}

/** CPU per request by part, most expensive first, plus `gc` and `other`, and the busy total. */
export function requestCosts(
  profile: CpuProfile,
  requests: number,
): { parts: PartCost[]; busyUsPerRequest: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const partOf = new Map<number, string | null>();
  const classify = (id: number): string | null => {
    const cached = partOf.get(id);
    if (cached !== undefined) return cached;
    const frames: CallFrame[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      frames.push((byId.get(cur) as ProfileNode).callFrame);
    }
    const leaf = frames[0] as CallFrame;
    let part: string | null;
    if (SKIP.has(leaf.functionName)) part = null;
    else if (leaf.functionName === '(garbage collector)') part = 'garbage collector';
    else if (frames.some((f) => STARTUP.test(f.url) || STARTUP.test(f.functionName))) part = null;
    else {
      const matches = (p: Part, f: CallFrame) =>
        p.url.test(f.url) && (!p.fn || p.fn.test(f.functionName));
      const hook = HOOKS.find((p) => frames.some((f) => matches(p, f)));
      let component: Part | undefined;
      for (const f of frames) {
        component = COMPONENTS.find((p) => matches(p, f));
        if (component) break;
      }
      part = (hook ?? component)?.name ?? 'other';
    }
    partOf.set(id, part);
    return part;
  };
  const totals = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const part = classify(id);
    if (part === null) return;
    const us = profile.timeDeltas[i] ?? 0;
    totals.set(part, (totals.get(part) ?? 0) + us);
    busy += us;
  });
  const parts = [...totals]
    .map(([part, us]) => ({ part, usPerRequest: us / requests, share: us / busy }))
    .sort((a, b) => b.usPerRequest - a.usPerRequest);
  return { parts, busyUsPerRequest: busy / requests };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, requests] = process.argv.slice(2);
  if (!file || !(Number(requests) > 0)) {
    process.stderr.write('usage: cpu-profile.ts <file.cpuprofile> <requests answered>\n');
    process.exit(2);
  }
  const { parts, busyUsPerRequest } = requestCosts(
    JSON.parse(readFileSync(file, 'utf8')) as CpuProfile,
    Number(requests),
  );
  for (const p of parts) {
    process.stdout.write(
      `${p.usPerRequest.toFixed(1).padStart(7)} µs  ${(100 * p.share).toFixed(1).padStart(5)}%  ${p.part}\n`,
    );
  }
  process.stdout.write(`${busyUsPerRequest.toFixed(1).padStart(7)} µs  total CPU per request\n`);
}
