// A line chart as hand-written SVG (no plotting dependency): profile read throughput against
// concurrency, one line per series. The x axis is categorical (the concurrency levels measured),
// so that 1 and 128 connections are both readable.
import type { SeriesPoint } from './harness.js';

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Record<string, SeriesPoint[]>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const exponent = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (step * exponent >= value) return step * exponent;
  }
  return 10 * exponent;
}

export function lineChart(options: ChartOptions): string {
  const width = 820;
  const height = 420;
  const left = 80;
  const right = 250; // room for the longest legend label
  const top = 48;
  const bottom = 60;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const names = Object.keys(options.series);
  const xs = [...new Set(names.flatMap((n) => (options.series[n] ?? []).map((p) => p.x)))].sort(
    (a, b) => a - b,
  );
  const yMax = niceMax(
    Math.max(0, ...names.flatMap((n) => (options.series[n] ?? []).map((p) => p.y))) * 1.05,
  );
  const xPos = (x: number) =>
    left + (xs.length <= 1 ? plotW / 2 : (xs.indexOf(x) / (xs.length - 1)) * plotW);
  const yPos = (y: number) => top + plotH - (y / yMax) * plotH;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left + plotW / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
  );
  for (let i = 0; i <= 5; i++) {
    const value = (yMax / 5) * i;
    const y = yPos(value);
    out.push(
      `<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#e0e0e0"/>`,
      `<text x="${left - 8}" y="${y + 4}" text-anchor="end">${Math.round(value).toLocaleString('en-US')}</text>`,
    );
  }
  for (const x of xs) {
    out.push(
      `<line x1="${xPos(x)}" y1="${top + plotH}" x2="${xPos(x)}" y2="${top + plotH + 5}" stroke="#333"/>`,
      `<text x="${xPos(x)}" y="${top + plotH + 20}" text-anchor="middle">${x}</text>`,
    );
  }
  out.push(
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left + plotW / 2}" y="${height - 16}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text x="18" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 18 ${top + plotH / 2})">${escapeXml(options.yLabel)}</text>`,
  );
  names.forEach((name, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const points = [...(options.series[name] ?? [])].sort((a, b) => a.x - b.x);
    const path = points.map((p) => `${xPos(p.x).toFixed(1)},${yPos(p.y).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${path}"/>`);
    for (const p of points) {
      out.push(
        `<circle cx="${xPos(p.x).toFixed(1)}" cy="${yPos(p.y).toFixed(1)}" r="3.5" fill="${color}"><title>${escapeXml(name)}: ${Math.round(p.y)} at ${p.x}</title></circle>`,
      );
    }
    const ly = top + 10 + i * 22;
    out.push(
      `<line x1="${left + plotW + 20}" y1="${ly}" x2="${left + plotW + 44}" y2="${ly}" stroke="${color}" stroke-width="2.5"/>`,
      `<text x="${left + plotW + 50}" y="${ly + 4}">${escapeXml(name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
