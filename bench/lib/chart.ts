import { existsSync, writeFileSync } from 'node:fs';
import type { TimelinePoint } from '@doubletap/loadgen';

interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  values: Array<number | null>;
}

const W = 1000;
const PANEL_H = 220;
const LEFT = 70;
const RIGHT = 20;

function panel(title: string, unit: string, top: number, seconds: number, series: Series[]): string {
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const max = Math.max(1, ...all) * 1.1;
  const x = (t: number) => LEFT + ((W - LEFT - RIGHT) * t) / Math.max(1, seconds);
  const y = (v: number) => top + 30 + (PANEL_H - 60) * (1 - v / max);
  const parts = [`<text x="${LEFT}" y="${top + 18}" font-size="15" font-weight="bold">${title}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(
      `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${LEFT - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${Math.round(v).toLocaleString('en-US')}</text>`,
    );
  }
  for (let t = 0; t <= seconds; t += Math.max(1, Math.ceil(seconds / 10)))
    parts.push(`<text x="${x(t)}" y="${top + PANEL_H - 12}" font-size="11" text-anchor="middle">${t}s</text>`);
  parts.push(`<text x="14" y="${top + PANEL_H / 2}" font-size="11" transform="rotate(-90 14 ${top + PANEL_H / 2})" text-anchor="middle">${unit}</text>`);
  series.forEach((s, i) => {
    let d = '';
    s.values.forEach((v, t) => {
      if (v === null) return;
      d += `${d && s.values[t - 1] !== null ? 'L' : 'M'}${x(t + 0.5).toFixed(1)},${y(v).toFixed(1)}`;
    });
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    const lx = W - RIGHT - 260 + (i % 2) * 130;
    const ly = top + 18 + Math.floor(i / 2) * 14;
    parts.push(`<line x1="${lx}" x2="${lx + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`, `<text x="${lx + 24}" y="${ly}" font-size="11">${s.label}</text>`);
  });
  return parts.join('\n');
}

/** The viral run over time as SVG: offered vs accepted rate, latency p50/p99, freshness p50. */
export function viralChartSvg(title: string, timeline: TimelinePoint[], baseline?: { label: string; timeline: TimelinePoint[] }): string {
  const seconds = Math.max(timeline.length, baseline?.timeline.length ?? 0);
  const H = 50 + PANEL_H * 3;
  const body = [
    `<text x="${W / 2}" y="28" font-size="17" text-anchor="middle" font-weight="bold">${title}</text>`,
    panel('Rate', 'requests/s', 40, seconds, [
      { label: 'offered', color: '#888', dashed: true, values: timeline.map((p) => p.offered) },
      { label: 'accepted (202)', color: '#d62728', values: timeline.map((p) => p.accepted) },
      { label: 'errors', color: '#000', values: timeline.map((p) => p.errors) },
      ...(baseline ? [{ label: `${baseline.label} accepted`, color: '#1f77b4', values: baseline.timeline.map((p) => p.accepted) }] : []),
    ]),
    panel('Latency from the scheduled time', 'ms', 40 + PANEL_H, seconds, [
      { label: 'p50', color: '#2ca02c', values: timeline.map((p) => p.p50) },
      { label: 'p99', color: '#d62728', values: timeline.map((p) => p.p99) },
      ...(baseline ? [{ label: `${baseline.label} p99`, color: '#1f77b4', values: baseline.timeline.map((p) => p.p99) }] : []),
    ]),
    panel('Freshness (202 → visible in the read API), median per second', 'ms', 40 + 2 * PANEL_H, seconds, [
      { label: 'freshness p50', color: '#9467bd', values: timeline.map((p) => p.freshness) },
    ]),
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${body.join('\n')}</svg>`;
}

/**
 * Writes the SVG and renders it to PNG in headless Chromium (playwright-core with the system's
 * chromium, see scripts/ensure-chromium.sh). Returns the PNG path, or why there is none.
 */
export async function writeChart(svg: string, svgPath: string, pngPath: string): Promise<{ png?: string; note?: string }> {
  writeFileSync(svgPath, svg);
  const executablePath = ['/usr/bin/chromium', '/usr/bin/chromium-browser', process.env.CHROMIUM_PATH].find((p) => p && existsSync(p));
  if (!executablePath) return { note: 'no chromium found (scripts/ensure-chromium.sh installs it): SVG only' };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: W, height: 50 + PANEL_H * 3 } });
    await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
    await page.locator('svg').screenshot({ path: pngPath });
    return { png: pngPath };
  } finally {
    await browser.close();
  }
}
