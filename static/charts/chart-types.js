// The registry of chart types (and overlays). Each type says how to create its series on
// a chart and how to turn the pane's raw bars into that series' data:
//
//   registerChartType({
//     id, label, group,
//     build(chart, ctx) -> ISeriesApi            // on pane 0 of ``chart``
//     full(bars, ctx) -> data[]                  // the whole series
//     point?(bars, i, ctx) -> item               // item i alone (incremental live updates)
//     settings?: [{key, label, default(bars, ctx), step?, parse?(number) -> value|null}]
//                                               // number inputs in the chart-type menu
//   })
//
// ``ctx`` = {palette, meta: {tick_size, precision}, options: pane options, cache: {}}.
// Types without ``point`` are rebuilt and diffed at the tail. Order-flow views (footprint,
// TPO, volume profile) register here from their own module (see ``config.plugins``).

import { heikinAshi, renko, rangeBars, defaultBox } from './transforms.js';
import { withAlpha } from './theme.js';

const LWC = () => window.LightweightCharts;
const types = new Map();
const overlays = new Map();

export function registerChartType(def) {
  types.set(def.id, def);
}
export function chartType(id) {
  return types.get(id) || types.get('candles');
}
export function chartTypes() {
  return [...types.values()];
}
/** Overlays: {id, label, attach(pane) -> {update(), detach()}} (e.g. volume profile). */
export function registerOverlay(def) {
  overlays.set(def.id, def);
}
export function overlay(id) {
  return overlays.get(id);
}
export function overlayList() {
  return [...overlays.values()];
}

export function priceFormat(meta) {
  return { type: 'price', precision: meta.precision ?? 2, minMove: meta.tick_size || 0.01 };
}

const candleColors = (p) => ({
  upColor: p.up,
  downColor: p.down,
  borderUpColor: p.up,
  borderDownColor: p.down,
  wickUpColor: p.up,
  wickDownColor: p.down,
  borderVisible: false,
});

const common = (ctx) => ({ priceFormat: priceFormat(ctx.meta), priceLineWidth: 1 });
const asIs = (bars, i) => bars[i];
const closeLine = (bars, i) => ({ time: bars[i].time, value: bars[i].close });

function candles(id, label, extra = {}, data = {}) {
  registerChartType({
    id,
    label,
    group: 'candles',
    build: (chart, ctx) =>
      chart.addSeries(LWC().CandlestickSeries, { ...candleColors(ctx.palette), ...extra(ctx.palette), ...common(ctx) }, 0),
    full: (bars, ctx) => (data.full ? data.full(bars, ctx) : bars),
    point: data.full ? data.point : asIs,
    settings: data.settings,
    legendFromDisplay: !!data.legendFromDisplay,
  });
}

candles('candles', 'Candles', () => ({}));
candles('hollow_candles', 'Hollow candles', (p) => ({
  upColor: 'rgba(0,0,0,0)',
  borderVisible: true,
}));
registerChartType({
  id: 'bars',
  label: 'Bars',
  group: 'candles',
  build: (chart, ctx) =>
    chart.addSeries(LWC().BarSeries, { upColor: ctx.palette.up, downColor: ctx.palette.down, thinBars: false, ...common(ctx) }, 0),
  full: (bars) => bars,
  point: asIs,
});
candles(
  'heikin_ashi',
  'Heikin-Ashi',
  () => ({}),
  {
    full: (bars, ctx) => heikinAshi(bars, (ctx.cache.ha = []), 0),
    point: (bars, i, ctx) => {
      const out = ctx.cache.ha || (ctx.cache.ha = []);
      heikinAshi(bars, out, Math.min(i, out.length));
      return out[i];
    },
    legendFromDisplay: true,
  },
);
candles('high_low', 'High-low', (p) => ({
  upColor: p.line,
  downColor: p.line,
  borderUpColor: p.line,
  borderDownColor: p.line,
  wickVisible: false,
}), {
  full: (bars) => bars.map((b) => ({ time: b.time, open: b.high, high: b.high, low: b.low, close: b.low, volume: b.volume })),
  point: (bars, i) => {
    const b = bars[i];
    return { time: b.time, open: b.high, high: b.high, low: b.low, close: b.low, volume: b.volume };
  },
});
candles('renko', 'Renko', () => ({}), {
  full: (bars, ctx) => renko(bars, ctx.options.renko_box || defaultBox(bars, ctx.meta.tick_size)),
  settings: [{ key: 'renko_box', label: 'Box size', default: (bars, ctx) => defaultBox(bars, ctx.meta.tick_size) }],
});
candles('range_bars', 'Range bars', () => ({}), {
  full: (bars, ctx) => rangeBars(bars, ctx.options.range_size || defaultBox(bars, ctx.meta.tick_size)),
  settings: [{ key: 'range_size', label: 'Range', default: (bars, ctx) => defaultBox(bars, ctx.meta.tick_size) }],
});

function line(id, label, extra) {
  registerChartType({
    id,
    label,
    group: 'line',
    build: (chart, ctx) =>
      chart.addSeries(LWC().LineSeries, { color: ctx.palette.line, lineWidth: 2, ...extra, ...common(ctx) }, 0),
    full: (bars) => bars.map((b) => ({ time: b.time, value: b.close })),
    point: closeLine,
  });
}
line('line', 'Line', {});
line('line_markers', 'Line with markers', { pointMarkersVisible: true, pointMarkersRadius: 2.5 });
line('step_line', 'Step line', { lineType: 1 });

registerChartType({
  id: 'area',
  label: 'Area',
  group: 'line',
  build: (chart, ctx) =>
    chart.addSeries(LWC().AreaSeries, {
      lineColor: ctx.palette.line,
      topColor: withAlpha(ctx.palette.line, 0.28),
      bottomColor: withAlpha(ctx.palette.line, 0.02),
      lineWidth: 2,
      ...common(ctx),
    }, 0),
  full: (bars) => bars.map((b) => ({ time: b.time, value: b.close })),
  point: closeLine,
});

function midpoint(bars) {
  let hi = -Infinity;
  let lo = Infinity;
  for (const b of bars) {
    if (b.high > hi) hi = b.high;
    if (b.low < lo) lo = b.low;
  }
  return bars.length ? (hi + lo) / 2 : 0;
}
registerChartType({
  id: 'baseline',
  label: 'Baseline',
  group: 'line',
  build: (chart, ctx) => {
    const p = ctx.palette;
    return chart.addSeries(LWC().BaselineSeries, {
      topLineColor: p.up,
      topFillColor1: withAlpha(p.up, 0.28),
      topFillColor2: withAlpha(p.up, 0.04),
      bottomLineColor: p.down,
      bottomFillColor1: withAlpha(p.down, 0.04),
      bottomFillColor2: withAlpha(p.down, 0.28),
      lineWidth: 2,
      ...common(ctx),
    }, 0);
  },
  full: (bars, ctx) => {
    ctx.series?.applyOptions({ baseValue: { type: 'price', price: midpoint(bars) } });
    return bars.map((b) => ({ time: b.time, value: b.close }));
  },
  point: closeLine,
});

function columnPoint(bars, i, ctx) {
  const b = bars[i];
  const prev = i > 0 ? bars[i - 1].close : b.open;
  return { time: b.time, value: b.close, color: b.close >= prev ? ctx.palette.up : ctx.palette.down };
}
registerChartType({
  id: 'columns',
  label: 'Columns',
  group: 'line',
  build: (chart, ctx) => chart.addSeries(LWC().HistogramSeries, { ...common(ctx) }, 0),
  full: (bars, ctx) => {
    let lo = Infinity;
    for (const b of bars) lo = Math.min(lo, b.low);
    // columns rise from just under the lowest low, not from 0 (which would flatten them)
    if (bars.length) ctx.series?.applyOptions({ base: lo - (midpoint(bars) - lo) * 0.05 });
    return bars.map((_, i) => columnPoint(bars, i, ctx));
  },
  point: columnPoint,
});

// --- volume candles: a custom series whose candle width follows the bar's volume --------

/**
 * Base of the custom series views drawn from OHLC bars (volume candles here, footprint
 * and TPO in the order-flow plugin): the price scale follows high/low/close, an item
 * without a close is whitespace, ``defaults`` are the series' own default options.
 */
export class OhlcView {
  constructor(palette, defaults = {}) {
    this.palette = palette;
    this.defaults = defaults;
    this.data = null;
    this.options = null;
  }
  renderer() {
    return this;
  }
  update(data, options) {
    this.data = data;
    this.options = options;
  }
  priceValueBuilder(d) {
    return [d.high, d.low, d.close];
  }
  isWhitespace(d) {
    return d.close === undefined;
  }
  defaultOptions() {
    return { ...LWC().customSeriesDefaultOptions, ...this.defaults };
  }
}

class VolumeCandlesView extends OhlcView {
  constructor(palette) {
    super(palette, { upColor: palette.up, downColor: palette.down });
  }
  draw(target, toY) {
    const d = this.data;
    if (!d || !d.visibleRange || !d.bars.length) return;
    target.useBitmapCoordinateSpace(({ context: c, horizontalPixelRatio: hr, verticalPixelRatio: vr }) => {
      const { from, to } = d.visibleRange;
      let max = 0;
      for (let i = from; i < to; i++) max = Math.max(max, d.bars[i].originalData.volume || 0);
      const full = Math.max(1, d.barSpacing * 0.92);
      for (let i = from; i < to; i++) {
        const bar = d.bars[i];
        const b = bar.originalData;
        const share = max > 0 ? (b.volume || 0) / max : 1;
        const w = Math.max(1, Math.round(full * (0.12 + 0.88 * share) * hr));
        const x = Math.round(bar.x * hr);
        const color = b.close >= b.open ? this.options.upColor : this.options.downColor;
        c.fillStyle = color;
        const hi = Math.round(toY(b.high) * vr);
        const lo = Math.round(toY(b.low) * vr);
        const wick = Math.max(1, Math.floor(hr));
        c.fillRect(x - Math.floor(wick / 2), hi, wick, Math.max(1, lo - hi));
        const top = Math.round(toY(Math.max(b.open, b.close)) * vr);
        const bottom = Math.round(toY(Math.min(b.open, b.close)) * vr);
        c.fillRect(x - Math.floor(w / 2), top, w, Math.max(1, bottom - top));
      }
    });
  }
}

registerChartType({
  id: 'volume_candles',
  label: 'Volume candles',
  group: 'candles',
  build: (chart, ctx) =>
    chart.addCustomSeries(new VolumeCandlesView(ctx.palette), {
      upColor: ctx.palette.up,
      downColor: ctx.palette.down,
      ...common(ctx),
    }, 0),
  full: (bars) => bars,
  point: asIs,
});
