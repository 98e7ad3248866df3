// A reader of the Prometheus text exposition format, enough for the console to take the numbers it
// shows from the services' own /metrics (the same figures Prometheus scrapes): samples with their
// labels, summed by name and label match. Comments, histograms' buckets and timestamps are read
// like any other sample; what the console does not ask for is simply never looked at.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  return Number(text);
}

/** Parses `name{a="x",b="y"} value [timestamp]` lines; malformed lines are skipped. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const name = NAME.exec(line)?.[0];
    if (!name) continue;
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      let i = 1;
      let ok = false;
      while (i < rest.length) {
        while (rest[i] === ' ' || rest[i] === ',') i++;
        if (rest[i] === '}') {
          ok = true;
          i++;
          break;
        }
        const key = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(rest.slice(i))?.[0];
        if (!key || rest[i + key.length] !== '=' || rest[i + key.length + 1] !== '"') break;
        i += key.length + 2;
        let value = '';
        while (i < rest.length && rest[i] !== '"') {
          if (rest[i] === '\\') {
            const next = rest[i + 1];
            value += next === 'n' ? '\n' : (next ?? '');
            i += 2;
          } else {
            value += rest[i];
            i++;
          }
        }
        i++; // closing quote
        labels[key] = value;
      }
      if (!ok) continue;
      rest = rest.slice(i);
    }
    const valueText = rest.trim().split(/\s+/)[0];
    if (valueText === undefined || valueText === '') continue;
    const value = parseValue(valueText);
    if (Number.isNaN(value) && valueText !== 'NaN') continue;
    out.push({ name, labels, value });
  }
  return out;
}

/** The sum of every sample named `name` whose labels include `match`; undefined when none. */
export function sumOf(
  samples: Sample[],
  name: string,
  match: Record<string, string> = {},
): number | undefined {
  let found = false;
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    found = true;
    total += s.value;
  }
  return found ? total : undefined;
}

/** The distinct values label `label` takes across the samples named `name`. */
export function labelValues(samples: Sample[], name: string, label: string): string[] {
  const values = new Set<string>();
  for (const s of samples) {
    const v = s.labels[label];
    if (s.name === name && v !== undefined) values.add(v);
  }
  return [...values].sort();
}
