// The gateway's OpenAPI document and its checks, for `pnpm openapi` and the deploy test: the
// services' documents merged into one (their paths are distinct; a clash of path, operationId,
// tag or component is an error, never a silent rename), a diff summary against the checked-in
// file, and Redocly's lint of every document (`recommended` and the repository's redocly.yaml,
// zero errors and zero warnings).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

export type OpenApiDocument = Record<string, unknown>;

interface Operation {
  operationId?: string;
  tags?: string[];
  security?: Array<Record<string, unknown>>;
  'x-internal'?: boolean;
  [key: string]: unknown;
}
type PathItem = Record<string, Operation>;
type Components = Record<string, Record<string, unknown>>;

export interface MergeOptions {
  title: string;
  description?: string;
}

/** The gateway's document (deploy/openapi/api.json) as `pnpm openapi` writes it. */
export const GATEWAY_DOCUMENT = {
  /** Relative to the repository root. */
  file: 'deploy/openapi/api.json',
  /**
   * The services whose APIs it merges, in this order: each a folder of `services/` whose test
   * helper's `build(t)` starts an instance. A service joins the gateway's contract by being named.
   */
  services: ['signup-service', 'profile-service', 'notification-service'],
  /**
   * Services not behind the gateway (the operators' console): their own documents are linted like
   * the others, and stay out of the merge.
   */
  alone: ['ops-console'],
  merge: {
    title: 'jetstream-fastify API',
    description:
      "Every service's API in one document: each operation names the service that serves it " +
      "in 'x-service'. Every error is a problem+json (RFC 9457) with a stable `code`.",
  } satisfies MergeOptions,
};

/** Every `#/components/<section>/<name>` reference under `node`. */
function refsUnder(node: unknown, found: Set<string>): void {
  if (Array.isArray(node)) {
    for (const item of node) refsUnder(item, found);
  } else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/components/')) {
        found.add(value.slice('#/components/'.length));
      } else {
        refsUnder(value, found);
      }
    }
  }
}

/**
 * The gateway's document: every operation of every service but the `x-internal` ones (what each
 * instance serves for itself: probes, metrics, its own document), each marked with the
 * `x-service` it is routed to; and the components and tags those operations use.
 */
export function mergeOpenApi(
  documents: Record<string, OpenApiDocument>,
  options: MergeOptions,
): OpenApiDocument {
  const names = Object.keys(documents);
  const first = documents[names[0] ?? ''];
  if (!first) throw new Error('mergeOpenApi: no documents');
  const versions = new Set(names.map((n) => documents[n]!.openapi));
  if (versions.size !== 1) throw new Error(`OpenAPI versions differ: ${[...versions].join(', ')}`);

  const paths: Record<string, PathItem> = {};
  const operationIds = new Map<string, string>();
  const components: Components = {};
  const componentOwner = new Map<string, string>();
  const tags = new Map<string, { tag: { name: string }; owner: string }>();
  const usedTags = new Set<string>();
  const usedSchemes = new Set<string>();

  for (const name of names) {
    const doc = documents[name]!;
    for (const [path, item] of Object.entries((doc.paths ?? {}) as Record<string, PathItem>)) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op || op['x-internal']) continue;
        const at = `${method.toUpperCase()} ${path}`;
        const taken = paths[path]?.[method]?.['x-service'] as string | undefined;
        if (taken) throw new Error(`${at} is in both ${taken} and ${name}`);
        if (op.operationId) {
          const owner = operationIds.get(op.operationId);
          if (owner) {
            throw new Error(`operationId ${op.operationId} is in both ${owner} and ${name}`);
          }
          operationIds.set(op.operationId, name);
        }
        for (const tag of op.tags ?? []) usedTags.add(tag);
        for (const requirement of op.security ?? []) {
          for (const scheme of Object.keys(requirement)) usedSchemes.add(scheme);
        }
        paths[path] = { ...paths[path], [method]: { ...op, 'x-service': name } };
      }
    }
    for (const [section, entries] of Object.entries((doc.components ?? {}) as Components)) {
      for (const [key, value] of Object.entries(entries)) {
        const id = `${section}/${key}`;
        const existing = components[section]?.[key];
        if (existing !== undefined && !isDeepStrictEqual(existing, value)) {
          throw new Error(`component ${id} differs between ${componentOwner.get(id)} and ${name}`);
        }
        (components[section] ??= {})[key] = value;
        if (!componentOwner.has(id)) componentOwner.set(id, name);
      }
    }
    for (const tag of (doc.tags ?? []) as Array<{ name: string }>) {
      const seen = tags.get(tag.name);
      if (seen && !isDeepStrictEqual(seen.tag, tag)) {
        throw new Error(`tag ${tag.name} differs between ${seen.owner} and ${name}`);
      }
      if (!seen) tags.set(tag.name, { tag, owner: name });
    }
  }

  // Only what the merged operations use: the probes' schemas and tags stay out with them.
  const used = new Set<string>();
  refsUnder(paths, used);
  for (let grew = true; grew;) {
    grew = false;
    for (const id of [...used]) {
      const [section, key] = id.split('/');
      const before = used.size;
      refsUnder(components[section ?? '']?.[key ?? ''], used);
      grew ||= used.size > before;
    }
  }
  const kept: Components = {};
  for (const [section, entries] of Object.entries(components)) {
    for (const [key, value] of Object.entries(entries)) {
      const keep =
        section === 'securitySchemes' ? usedSchemes.has(key) : used.has(`${section}/${key}`);
      if (keep) (kept[section] ??= {})[key] = value;
    }
  }

  const info = first.info as Record<string, unknown>;
  return {
    openapi: first.openapi,
    info: {
      title: options.title,
      version: names
        .map((n) => `${n}@${String((documents[n]!.info as { version?: unknown }).version)}`)
        .join(' '),
      ...(options.description === undefined ? {} : { description: options.description }),
      ...(info.license === undefined ? {} : { license: info.license }),
      contact: { name: `${options.title} maintainers` },
    },
    servers: [
      {
        url: '/',
        description: "The gateway, or the service named by an operation's 'x-service'",
      },
    ],
    tags: [...tags.values()].map(({ tag }) => tag).filter((tag) => usedTags.has(tag.name)),
    paths,
    components: kept,
  };
}

function pointer(path: string[]): string {
  return path
    .map((p) => (/^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`))
    .join('');
}

/** Where two JSON values differ, as `+ added`, `- removed` and `~ changed` lines. */
export function diffJson(expected: unknown, actual: unknown, path: string[] = []): string[] {
  if (isDeepStrictEqual(expected, actual)) return [];
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(expected) && isObject(actual)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
    return keys.flatMap((key) => {
      if (!(key in actual)) return [`+ ${pointer([...path, key])} (missing from the file)`];
      if (!(key in expected)) return [`- ${pointer([...path, key])} (no longer generated)`];
      return diffJson(expected[key], actual[key], [...path, key]);
    });
  }
  return [`~ ${pointer(path) || '(document)'} changed`];
}

export interface LintResult {
  name: string;
  errors: number;
  warnings: number;
  /** One line per problem: severity, rule, where, what. */
  problems: string[];
}

interface RedoclyReport {
  totals?: { errors?: number; warnings?: number };
  problems?: Array<{
    ruleId?: string;
    severity?: string;
    message?: string;
    location?: Array<{ pointer?: string }>;
  }>;
}

function run(command: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out: out || err }));
  });
}

/**
 * Redocly's lint of each document (`redocly lint --extends recommended`, run from `root` so that
 * its redocly.yaml applies), with the workspace's own CLI.
 */
export async function lintOpenApi(
  root: string,
  documents: Record<string, OpenApiDocument>,
): Promise<LintResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'openapi-lint-'));
  try {
    const results: LintResult[] = [];
    for (const [name, doc] of Object.entries(documents)) {
      const file = join(dir, `${name}.json`);
      await writeFile(file, JSON.stringify(doc, null, 2));
      const { code, out } = await run(
        join(root, 'node_modules', '.bin', 'redocly'),
        ['lint', '--extends', 'recommended', '--format', 'json', file],
        root,
      );
      const start = out.indexOf('{');
      const end = out.lastIndexOf('}');
      let report: RedoclyReport;
      try {
        report = JSON.parse(out.slice(start, end + 1)) as RedoclyReport;
      } catch {
        throw new Error(`redocly lint of ${name} gave no report (exit ${code}):\n${out}`);
      }
      results.push({
        name,
        errors: report.totals?.errors ?? 0,
        warnings: report.totals?.warnings ?? 0,
        problems: (report.problems ?? []).map(
          (p) =>
            `${p.severity ?? '?'} ${p.ruleId ?? '?'} at ${p.location?.[0]?.pointer ?? '?'}: ${p.message ?? ''}`,
        ),
      });
    }
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface OpenApiCheck {
  merged: OpenApiDocument;
  /** How the checked-in file differs from the merged document (empty: up to date). */
  stale: string[];
  lint: LintResult[];
  /** True when the file is up to date and no document has a lint problem. */
  ok: boolean;
  /** What a person reads: the diff summary and every lint problem. */
  report: string;
}

/** The merged document against the checked-in one (`current`, undefined: no file), and the lint. */
export async function checkOpenApi(options: {
  root: string;
  documents: Record<string, OpenApiDocument>;
  /** Documents linted but not merged (GATEWAY_DOCUMENT.alone's). */
  alone?: Record<string, OpenApiDocument>;
  current: unknown;
  merge?: MergeOptions;
  /** The name the merged document is linted and reported under. */
  mergedName?: string;
}): Promise<OpenApiCheck> {
  const mergedName = options.mergedName ?? 'api.json';
  const merged = mergeOpenApi(options.documents, options.merge ?? GATEWAY_DOCUMENT.merge);
  const stale =
    options.current === undefined
      ? ['+ (document) the file does not exist']
      : diffJson(merged, options.current);
  const lint = await lintOpenApi(options.root, {
    ...options.documents,
    ...options.alone,
    [mergedName]: merged,
  });
  const lines: string[] = [];
  if (stale.length > 0) {
    lines.push(`${mergedName} is stale (${stale.length} difference(s)):`);
    lines.push(...stale.slice(0, 40).map((l) => `  ${l}`));
    if (stale.length > 40) lines.push(`  ... and ${stale.length - 40} more`);
  }
  for (const result of lint) {
    lines.push(`redocly ${result.name}: ${result.errors} error(s), ${result.warnings} warning(s)`);
    lines.push(...result.problems.map((p) => `  ${p}`));
  }
  const ok = stale.length === 0 && lint.every((r) => r.errors === 0 && r.warnings === 0);
  return { merged, stale, lint, ok, report: lines.join('\n') };
}
