// docker-compose.yml as data: YAML anchors and `<<` merge keys resolved the way Compose resolves
// them, and each service's environment as a name -> value map whatever form it was written in.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; args?: Record<string, string> };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: Array<string | { target: number; published?: number | string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: unknown[];
  user?: string;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export function loadCompose(path: string): ComposeFile {
  return parse(readFileSync(path, 'utf8'), { merge: true }) as ComposeFile;
}

/** The service's environment as a map (list form `KEY=value` or map form). */
export function environmentOf(service: ComposeService): Map<string, string> {
  const env = new Map<string, string>();
  const raw = service.environment ?? {};
  if (Array.isArray(raw)) {
    for (const item of raw) {
      const eq = item.indexOf('=');
      env.set(eq === -1 ? item : item.slice(0, eq), eq === -1 ? '' : item.slice(eq + 1));
    }
  } else {
    for (const [k, v] of Object.entries(raw)) env.set(k, v === null ? '' : String(v));
  }
  return env;
}

/** Variables a container's shell command exports before exec'ing the service (`export A=... B=...`). */
export function exportedByCommand(service: ComposeService): string[] {
  const command = Array.isArray(service.command)
    ? service.command.join(' ')
    : (service.command ?? '');
  const exported: string[] = [];
  for (const m of command.matchAll(/export\s+((?:[A-Z_][A-Z0-9_]*="[^"]*"\s*)+)/g)) {
    for (const v of m[1]!.matchAll(/([A-Z_][A-Z0-9_]*)=/g)) exported.push(v[1]!);
  }
  return exported;
}

/** Published host ports mapped to container ports: `'3001:3001'` -> [3001, 3001]. */
export function publishedPorts(
  service: ComposeService,
): Array<{ host: number; container: number }> {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object')
      return { host: Number(p.published ?? p.target), container: p.target };
    const parts = p.split(':');
    const container = Number(parts.at(-1)!.split('/')[0]);
    const host = parts.length >= 2 ? Number(parts.at(-2)) : container;
    return { host, container };
  });
}

/** The depends_on map with the condition of each dependency (short form: service_started). */
export function dependencies(service: ComposeService): Map<string, string> {
  const deps = new Map<string, string>();
  const raw = service.depends_on ?? {};
  if (Array.isArray(raw)) for (const name of raw) deps.set(name, 'service_started');
  else
    for (const [name, d] of Object.entries(raw)) deps.set(name, d.condition ?? 'service_started');
  return deps;
}

/** A service's bind mounts (`./host/path:/container/path[:ro]`), host paths as written. */
export function bindMounts(
  service: ComposeService,
): Array<{ source: string; target: string; readOnly: boolean }> {
  const mounts: Array<{ source: string; target: string; readOnly: boolean }> = [];
  for (const v of service.volumes ?? []) {
    if (typeof v === 'string') {
      const [source = '', target = '', mode = ''] = v.split(':');
      // Named volumes have no path: `data:/var/lib/x`.
      if (/^[./~]/.test(source)) mounts.push({ source, target, readOnly: mode.includes('ro') });
    } else if (typeof v === 'object' && v !== null) {
      const m = v as { type?: string; source?: string; target?: string; read_only?: boolean };
      if (m.type === 'bind' && m.source && m.target) {
        mounts.push({ source: m.source, target: m.target, readOnly: m.read_only === true });
      }
    }
  }
  return mounts;
}
