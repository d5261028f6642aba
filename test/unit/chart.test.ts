/**
 * Benchmark charts: the SVG (bars, lines, escaping, option checks) and the PNG it rasterizes to,
 * decoded here to check its size and that the bars are really drawn.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { escapeXml, niceScale, renderSvg, svgToPng, writeChart, type ChartSpec } from '../../src/report/chart.ts';
import { tempDir } from '../helpers/tmp.ts';

/** A minimal decoder for 8-bit RGBA/RGB non-interlaced PNGs: width, height and pixel lookup. */
function decodePng(png: Buffer): { width: number; height: number; rgb(x: number, y: number): [number, number, number] } {
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 4;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : assert.fail(`color type ${data[9]}`);
      assert.equal(data[12], 0, 'not interlaced');
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)] as number;
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i] as number;
      const a = i >= channels ? (px[y * stride + i - channels] as number) : 0;
      const b = y > 0 ? (px[(y - 1) * stride + i] as number) : 0;
      const c = i >= channels && y > 0 ? (px[(y - 1) * stride + i - channels] as number) : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + i] = (x + pred) & 0xff;
    }
  }
  return {
    width,
    height,
    rgb: (x, y) => [
      px[y * stride + x * channels] as number,
      px[y * stride + x * channels + 1] as number,
      px[y * stride + x * channels + 2] as number,
    ],
  };
}

const bars: ChartSpec = {
  title: 'Engine <ceiling> & "e2e"',
  kind: 'bar',
  yLabel: 'tok/s',
  width: 400,
  height: 300,
  series: [
    {
      name: 'tok/s',
      points: [
        { x: 'engine', y: 100 },
        { x: 'sparkinfer', y: 50 },
      ],
    },
  ],
};

test('niceScale picks round maxima and steps', () => {
  assert.deepEqual(niceScale(93), { max: 100, step: 20 });
  const small = niceScale(0.7);
  assert.ok(Math.abs(small.max - 0.8) < 1e-9 && Math.abs(small.step - 0.2) < 1e-9, JSON.stringify(small));
  assert.deepEqual(niceScale(0), { max: 1, step: 0.2 });
  const s = niceScale(12_345);
  assert.ok(s.max >= 12_345 && s.max <= 15_000, JSON.stringify(s));
});

test('the SVG has one bar per point, the title escaped, and its reference lines', () => {
  const svg = renderSvg({ ...bars, refLines: [{ y: 90, label: 'target' }] });
  assert.equal((svg.match(/class="bar"/g) ?? []).length, 2);
  assert.ok(svg.includes('Engine &lt;ceiling&gt; &amp; &quot;e2e&quot;'));
  assert.ok(!svg.includes('<ceiling>'));
  assert.match(svg, /stroke-dasharray/);
  assert.match(svg, /target \(90\)/);
  assert.equal(escapeXml(`a<b>&"'`), 'a&lt;b&gt;&amp;&quot;&apos;');
});

test('a line chart on a log2 axis places 1..256 evenly', () => {
  const svg = renderSvg({
    title: 'sweep',
    kind: 'line',
    logX: true,
    width: 600,
    height: 300,
    series: [{ name: 'fixed', points: [1, 2, 4, 8, 16, 32, 64, 128, 256].map((x) => ({ x, y: x })) }],
  });
  const cx = [...svg.matchAll(/class="point" cx="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.equal(cx.length, 9);
  const gaps = cx.slice(1).map((x, i) => x - (cx[i] as number));
  for (const g of gaps) assert.ok(Math.abs(g - (gaps[0] as number)) < 0.2, `uneven gaps ${gaps.join(',')}`);
});

test('bad specs are refused with the bad value quoted', () => {
  assert.throws(() => renderSvg({ ...bars, series: [] }), /at least one series/);
  assert.throws(() => renderSvg({ ...bars, series: [{ name: 's', points: [{ x: 'a', y: Number.NaN }] }] }), /finite y values, got `NaN`/);
  assert.throws(
    () => renderSvg({ title: 't', kind: 'line', logX: true, series: [{ name: 's', points: [{ x: 0, y: 1 }] }] }),
    /positive numeric x values.*`0`/,
  );
});

test('the PNG has the chart size and the bars in their colour', async () => {
  const png = decodePng(await svgToPng(renderSvg(bars)));
  assert.equal(png.width, 400);
  assert.equal(png.height, 300);
  assert.deepEqual(png.rgb(2, 2), [255, 255, 255], 'white background');
  // The first bar (value 100 of a 0..120 axis) covers the plot area's lower left.
  const svg = renderSvg(bars);
  const m = /class="bar" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/.exec(svg);
  assert.ok(m !== null);
  const cx = Math.round(Number(m[1]) + Number(m[3]) / 2);
  const cy = Math.round(Number(m[2]) + Number(m[4]) / 2);
  assert.deepEqual(png.rgb(cx, cy), [0x2b, 0x6c, 0xb0]);
});

test('writeChart writes the PNG (and the SVG when asked)', async () => {
  const dir = tempDir('chart');
  const path = await writeChart(join(dir, 'c'), bars, true);
  assert.equal(path, join(dir, 'c.png'));
  assert.ok(readFileSync(path).length > 500);
  assert.ok(existsSync(join(dir, 'c.svg')));
});
