// The documented HTTP port of each service, read from the "| service | HTTP port |" tables of the
// root README.md and deploy/README.md together: a service either lists is documented, and one both
// list must have the same port in each. The files under test must match them.
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

/**
 * The ports the repository documents, and the files they came from (a service in both READMEs
 * with two different ports is an error naming both).
 */
export function documentedPorts(): { file: string; ports: Map<string, number> } {
  const ports = new Map<string, number>();
  const from = new Map<string, string>();
  const files: string[] = [];
  for (const file of [join(REPO_ROOT, 'README.md'), join(DEPLOY_DIR, 'README.md')]) {
    if (!existsSync(file)) continue;
    const table = parsePortsTable(readFileSync(file, 'utf8'));
    if (table.size > 0) files.push(file);
    for (const [service, port] of table) {
      const known = ports.get(service);
      if (known !== undefined && known !== port) {
        throw new Error(`${service}: port ${known} in ${from.get(service)}, ${port} in ${file}`);
      }
      ports.set(service, port);
      from.set(service, from.get(service) ?? file);
    }
  }
  if (ports.size === 0) {
    throw new Error('no "| service | HTTP port |" table in README.md or deploy/README.md');
  }
  return { file: files.join(' and '), ports };
}
