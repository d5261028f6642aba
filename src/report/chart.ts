/**
 * Charts for the run report and the benchmarks: a small SVG writer (grouped bars or lines) and its rasterization to PNG with
 * resvg (`@resvg/resvg-js`, a development dependency with a prebuilt native binary; no browser;
 * absent from the installed package, where the run report keeps its HTML only). The SVG is
 * plain and self-contained, so it can also be kept next to the PNG.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { badArgument } from '../checks.ts';

export interface ChartPoint {
  /** A category (bars) or a number (lines). */
  x: string | number;
  y: number;
}

export interface ChartSeries {
  name: string;
  points: readonly ChartPoint[];
}

export interface ChartSpec {
  title: string;
  /** `bar`: grouped bars over categories; `line`: lines over numeric x. */
  kind: 'bar' | 'line';
  series: readonly ChartSeries[];
  xLabel?: string;
  yLabel?: string;
  /** Line charts: a log2 x axis (window sizes 1, 2, 4 …). Default false. */
  logX?: boolean;
  /** Horizontal dashed reference lines (a ceiling, a target). */
  refLines?: ReadonlyArray<{ y: number; label: string }>;
  /** A line of small print under the title (the command, the machine). */
  note?: string;
  /** Line charts over many x values (a time series): label at most this many of them, and draw no dots. Default: every x, with dots. */
  maxXLabels?: number;
  /** Pixels. Default 800 × 480. */
  width?: number;
  height?: number;
}

const COLORS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5', '#e53e3e', '#319795', '#d69e2e', '#718096'];
const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';

/** Escapes text for SVG content and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** A "nice" axis maximum and tick step for values up to `max`. */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0) || !Number.isFinite(max)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  return { max: Math.ceil(max / step) * step, step };
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(3));
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-family="${FONT}" ${attrs}>${escapeXml(s)}</text>`;
}

function check(spec: ChartSpec): void {
  if (spec.kind !== 'bar' && spec.kind !== 'line')
    throw badArgument(`Expected \`kind\` to be "bar" or "line", got \`${String(spec.kind)}\``);
  if (spec.series.length === 0) throw badArgument('Expected at least one series, got none');
  for (const s of spec.series) {
    for (const p of s.points) {
      if (!Number.isFinite(p.y)) throw badArgument(`Expected finite y values, got \`${String(p.y)}\` in series \`${s.name}\``);
      if (spec.kind === 'line' && (typeof p.x !== 'number' || !Number.isFinite(p.x) || (spec.logX === true && p.x <= 0))) {
        throw badArgument(
          `Expected ${spec.logX === true ? 'positive ' : ''}numeric x values for a line chart, got \`${String(p.x)}\` in series \`${s.name}\``,
        );
      }
    }
  }
}

/** The plot's geometry: size, margins, plot area, the y scale and its pixel mapping. */
interface Frame {
  W: number;
  H: number;
  m: { l: number; r: number; t: number; b: number };
  pw: number;
  ph: number;
  scale: { max: number; step: number };
  yPix: (v: number) => number;
}

function frameOf(spec: ChartSpec): Frame {
  const W = spec.width ?? 800;
  const H = spec.height ?? 480;
  const m = { l: 78, r: 24, t: spec.note !== undefined ? 64 : 48, b: 70 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const ys = [...spec.series.flatMap((s) => s.points.map((p) => p.y)), ...(spec.refLines ?? []).map((r) => r.y)];
  const scale = niceScale(Math.max(0, ...ys) * 1.05);
  const yPix = (v: number): number => m.t + ph - (Math.max(0, v) / scale.max) * ph;
  return { W, H, m, pw, ph, scale, yPix };
}

/** The chart as an SVG document. */
export function renderSvg(spec: ChartSpec): string {
  check(spec);
  const f = frameOf(spec);
  const out: string[] = [...axes(spec, f), ...(spec.kind === 'bar' ? bars(spec, f) : lines(spec, f)), ...decorations(spec, f), '</svg>'];
  return out.join('\n');
}

/** The document's start, title, note, y grid with its labels and both axes. */
function axes(spec: ChartSpec, f: Frame): string[] {
  const { W, H, m, pw, ph, scale, yPix } = f;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    text(W / 2, 26, spec.title, 'font-size="17" font-weight="bold" text-anchor="middle" fill="#1a202c"'),
  ];
  if (spec.note !== undefined) out.push(text(W / 2, 46, spec.note, 'font-size="11" text-anchor="middle" fill="#4a5568"'));
  for (let v = 0; v <= scale.max + scale.step / 2; v += scale.step) {
    const y = yPix(v);
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e2e8f0"/>`);
    out.push(text(m.l - 8, y + 4, fmt(v), 'font-size="12" text-anchor="end" fill="#4a5568"'));
  }
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#4a5568"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#4a5568"/>`);
  return out;
}

/** A bar chart's bars, value labels and category labels. */
function bars(spec: ChartSpec, f: Frame): string[] {
  const { m, pw, ph, yPix } = f;
  const out: string[] = [];
  const cats: string[] = [];
  for (const s of spec.series) for (const p of s.points) if (!cats.includes(String(p.x))) cats.push(String(p.x));
  const slot = pw / Math.max(1, cats.length);
  const bw = (slot * 0.75) / spec.series.length;
  cats.forEach((c, ci) => {
    const x0 = m.l + ci * slot + slot * 0.125;
    spec.series.forEach((s, si) => {
      const p = s.points.find((q) => String(q.x) === c);
      if (p === undefined) return;
      const y = yPix(p.y);
      const x = x0 + si * bw;
      out.push(
        `<rect class="bar" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${(m.t + ph - y).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"/>`,
      );
      out.push(text(x + bw / 2 - 1, y - 4, fmt(p.y), 'font-size="11" text-anchor="middle" fill="#1a202c"'));
    });
    out.push(text(m.l + (ci + 0.5) * slot, m.t + ph + 18, c, 'font-size="12" text-anchor="middle" fill="#1a202c"'));
  });
  return out;
}

/** A line chart's x labels, lines and points. */
function lines(spec: ChartSpec, f: Frame): string[] {
  const { m, pw, ph, yPix } = f;
  const out: string[] = [];
  const xs = spec.series.flatMap((s) => s.points.map((p) => p.x as number));
  const tx = (x: number): number => (spec.logX === true ? Math.log2(x) : x);
  const lo = Math.min(...xs.map(tx));
  const hi = Math.max(...xs.map(tx));
  const xPix = (x: number): number => m.l + 12 + (hi === lo ? 0.5 : (tx(x) - lo) / (hi - lo)) * (pw - 24);
  const distinct = [...new Set(xs)].sort((a, b) => a - b);
  const every = spec.maxXLabels !== undefined ? Math.max(1, Math.ceil(distinct.length / spec.maxXLabels)) : 1;
  for (const x of distinct.filter((_, i) => i % every === 0)) {
    out.push(text(xPix(x), m.t + ph + 18, fmt(x), 'font-size="12" text-anchor="middle" fill="#1a202c"'));
  }
  spec.series.forEach((s, si) => {
    const color = COLORS[si % COLORS.length] as string;
    const pts = [...s.points].sort((a, b) => (a.x as number) - (b.x as number));
    if (pts.length > 1)
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${pts.map((p) => `${xPix(p.x as number).toFixed(1)},${yPix(p.y).toFixed(1)}`).join(' ')}"/>`,
      );
    if (spec.maxXLabels === undefined)
      for (const p of pts)
        out.push(`<circle class="point" cx="${xPix(p.x as number).toFixed(1)}" cy="${yPix(p.y).toFixed(1)}" r="4" fill="${color}"/>`);
  });
  return out;
}

/** Reference lines, axis labels and the legend (bottom left). */
function decorations(spec: ChartSpec, f: Frame): string[] {
  const { H, m, pw, ph, yPix } = f;
  const out: string[] = [];
  for (const r of spec.refLines ?? []) {
    const y = yPix(r.y);
    out.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e53e3e" stroke-dasharray="6 4" stroke-width="1.5"/>`,
    );
    out.push(text(m.l + pw - 4, y - 5, `${r.label} (${fmt(r.y)})`, 'font-size="11" text-anchor="end" fill="#c53030"'));
  }
  if (spec.xLabel !== undefined) out.push(text(m.l + pw / 2, H - 36, spec.xLabel, 'font-size="13" text-anchor="middle" fill="#2d3748"'));
  if (spec.yLabel !== undefined)
    out.push(
      text(
        18,
        m.t + ph / 2,
        spec.yLabel,
        `font-size="13" text-anchor="middle" fill="#2d3748" transform="rotate(-90 18 ${(m.t + ph / 2).toFixed(1)})"`,
      ),
    );
  let lx = m.l;
  spec.series.forEach((s, si) => {
    out.push(`<rect x="${lx}" y="${H - 18}" width="12" height="12" fill="${COLORS[si % COLORS.length]}"/>`);
    out.push(text(lx + 16, H - 8, s.name, 'font-size="12" fill="#1a202c"'));
    lx += 28 + s.name.length * 7;
  });
  return out;
}

/** Fonts resvg can use without a fontconfig setup; text is simply not drawn when none exists. */
const FONT_FILES = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'];

/** Rasterizes an SVG document to PNG bytes (resvg, loaded on first use). */
export async function svgToPng(svg: string): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  const fontFiles = FONT_FILES.filter((f) => existsSync(f));
  const r = new Resvg(svg, { font: { loadSystemFonts: true, fontFiles, defaultFontFamily: 'DejaVu Sans' }, background: '#ffffff' });
  return r.render().asPng();
}

/** Writes `<base>.png` (and `<base>.svg` when `keepSvg`) for a chart; returns the PNG path. */
export async function writeChart(base: string, spec: ChartSpec, keepSvg = false): Promise<string> {
  const svg = renderSvg(spec);
  if (keepSvg) writeFileSync(`${base}.svg`, svg);
  writeFileSync(`${base}.png`, await svgToPng(svg));
  return `${base}.png`;
}
