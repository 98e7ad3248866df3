// A short memory of the numbers the overview shows, sampled in this process: enough to say what a
// counter did over the last hour (emails sent, retried, dead-lettered) and to draw a small trend
// of a gauge (a backlog growing or draining). It is per console instance and starts empty at
// start-up; the page says since when it counts. Prometheus remains the long-term record.

export interface Point {
  at: number;
  value: number;
}

export class History {
  private readonly series = new Map<string, Point[]>();

  constructor(
    /** How far back samples are kept. */
    private readonly keepMs = 3_600_000,
  ) {}

  record(values: Record<string, number | undefined>, at = Date.now()): void {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined || !Number.isFinite(value)) continue;
      let points = this.series.get(key);
      if (!points) this.series.set(key, (points = []));
      points.push({ at, value });
      // One sample beyond the window is kept, so a window's delta always has a starting point.
      while (points.length > 2 && points[1]!.at < at - this.keepMs) points.shift();
    }
  }

  points(key: string): Point[] {
    return this.series.get(key) ?? [];
  }

  /**
   * How much a counter grew over the last `windowMs` (from the first sample inside it, or just
   * before it), and since when that is: the window's start, or a later first sample. Without a
   * sample in the window, from the last one before it, and `since` says how long ago that was.
   * A drop is a restart of the process that counts: the growth after it is counted, never a
   * negative number.
   */
  increase(
    key: string,
    current: number,
    windowMs: number,
    now = Date.now(),
  ): { value: number; since: number } | undefined {
    const points = this.points(key);
    if (points.length === 0) return undefined;
    const boundary = now - windowMs;
    // A sample a little before the window still starts it (the sampler runs at intervals).
    let start = points.findIndex((p) => p.at >= boundary - SLACK_MS);
    if (start < 0) start = points.length - 1;
    let total = 0;
    let previous = points[start]!.value;
    for (const p of [...points.slice(start + 1), { at: now, value: current }]) {
      total += p.value >= previous ? p.value - previous : p.value;
      previous = p.value;
    }
    const first = points[start]!.at;
    const startsWindow = first < boundary && first >= boundary - SLACK_MS;
    return { value: total, since: startsWindow ? boundary : first };
  }
}

/** How far before a window's start a sample may be and still start it. */
const SLACK_MS = 60_000;

const BARS = '▁▂▃▄▅▆▇█';

/** A text sparkline of the last `width` values (empty for fewer than two). */
export function sparkline(values: number[], width = 24): string {
  const tail = values.slice(-width);
  if (tail.length < 2) return '';
  const min = Math.min(...tail);
  const max = Math.max(...tail);
  return tail
    .map((v) => (max === min ? BARS[0] : BARS[Math.round(((v - min) / (max - min)) * 7)]))
    .join('');
}

/** Words for a trend, for screen readers: the sparkline itself says nothing to them. */
export function trendWords(values: number[], width = 24): string {
  const tail = values.slice(-width);
  if (tail.length < 2) return 'no trend yet';
  const first = tail[0]!;
  const last = tail.at(-1)!;
  const direction = last > first ? 'rising' : last < first ? 'falling' : 'flat';
  return `${direction}: from ${first} to ${last} over the last ${tail.length} samples`;
}
