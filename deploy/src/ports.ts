// The documented HTTP port of each service, read from a README's "| service | HTTP port |" table:
// the root README.md when it has one, else deploy/README.md. The files under test must match it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEPLOY_DIR, REPO_ROOT } from './paths.js';

/** Parses every `| <service> ... | <port> |` row of the first table headed `service | ... port`. */
export function parsePortsTable(markdown: string): Map<string, number> {
  const lines = markdown.split('\n');
  const ports = new Map<string, number>();
  const header = lines.findIndex((l) => /^\|\s*service\s*\|[^|]*port[^|]*\|\s*$/i.test(l.trim()));
  if (header === -1) return ports;
  for (const line of lines.slice(header + 2)) {
    const row = /^\|\s*`?([a-z][a-z0-9-]*)`?[^|]*\|\s*(\d+)\s*\|\s*$/.exec(line.trim());
    if (!row) break;
    ports.set(row[1]!, Number(row[2]));
  }
  return ports;
}

/** The ports table the repository documents, and the file it came from. */
export function documentedPorts(): { file: string; ports: Map<string, number> } {
  for (const file of [join(REPO_ROOT, 'README.md'), join(DEPLOY_DIR, 'README.md')]) {
    if (!existsSync(file)) continue;
    const ports = parsePortsTable(readFileSync(file, 'utf8'));
    if (ports.size > 0) return { file, ports };
  }
  throw new Error('no "| service | HTTP port |" table in README.md or deploy/README.md');
}
