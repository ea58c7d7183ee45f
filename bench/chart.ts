/**
 * A hand-written SVG bar chart (no dependency): one panel per metric, one group
 * of horizontal bars per tool, one bar per concurrency. Log scale, because the
 * peers differ by orders of magnitude and a linear axis would hide the small ones.
 */

/** One panel: `values[tool][series]`, e.g. median latency per tool at concurrency 1 and 8. */
export interface Panel {
  title: string;
  /** Unit printed after each value. */
  unit: string;
  /** Rows (tools), each with one value per series (NaN = no bar). */
  rows: Array<{ label: string; values: number[] }>;
}

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];
const WIDTH = 760;
const LABEL = 130; // left column with the tool names
const BAR = 14;
const GAP = 10;

/** Renders `panels` stacked vertically, with a legend naming `series` (e.g. `['concurrency 1', 'concurrency 8']`). */
export function barChart(title: string, series: string[], panels: Panel[]): string {
  const out: string[] = [];
  let y = 28;
  out.push(`<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  series.forEach((name, i) => {
    const x = LABEL + i * 150;
    out.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${x + 18}" y="${y + 10}" font-size="12">${esc(name)}</text>`);
  });
  y += 26;
  for (const panel of panels) y = renderPanel(out, panel, y) + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" fill="#222">`,
    `<rect width="${WIDTH}" height="${y}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

function renderPanel(out: string[], panel: Panel, top: number): number {
  const values = panel.rows.flatMap((r) => r.values).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)) + 0.35); // room for the value labels
  const plot = WIDTH - LABEL - 40; // room for the last tick label
  const x = (v: number) => LABEL + ((Math.log10(v) - lo) / (hi - lo)) * plot;
  out.push(`<text x="${LABEL}" y="${top + 12}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
  let y = top + 22;
  const height = panel.rows.length * (panel.rows[0]!.values.length * BAR + GAP);
  // Grid lines and tick labels at every power of ten.
  for (let p = lo; p <= hi; p++) {
    const gx = x(10 ** p).toFixed(1);
    out.push(`<line x1="${gx}" y1="${y}" x2="${gx}" y2="${y + height}" stroke="#ddd"/>`);
    out.push(`<text x="${gx}" y="${y + height + 13}" font-size="10" text-anchor="middle" fill="#666">${tick(10 ** p)}</text>`);
  }
  for (const row of panel.rows) {
    const groupHeight = row.values.length * BAR;
    out.push(`<text x="${LABEL - 8}" y="${y + groupHeight / 2 + 4}" font-size="12" text-anchor="end">${esc(row.label)}</text>`);
    row.values.forEach((v, i) => {
      const by = y + i * BAR;
      if (!Number.isFinite(v) || v <= 0) return;
      const w = Math.max(1, x(v) - LABEL);
      out.push(`<rect x="${LABEL}" y="${by + 1}" width="${w.toFixed(1)}" height="${BAR - 2}" fill="${COLORS[i % COLORS.length]}"/>`);
      out.push(`<text x="${(LABEL + w + 4).toFixed(1)}" y="${by + BAR - 3}" font-size="10">${esc(format(v))} ${esc(panel.unit)}</text>`);
    });
    y += groupHeight + GAP;
  }
  return y + 14;
}

/** 3 significant digits, no exponent. */
export function format(v: number): string {
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(3)).toString();
}

function tick(v: number): string {
  return v >= 1 ? v.toLocaleString('en-US') : String(v);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
