// The footprint chart type: a lightweight-charts custom series drawing, per bar, one cell
// per price row (bid x ask, delta or volume), imbalance cells, the bar POC and stacked
// imbalance zones. Zoomed out (cells too small) it draws a candle plus the bar delta.
// Data: the pane's bars give the time axis and OHLC; the footprint API gives the cells
// (fetched per symbol/timeframe, older pages on scroll, the last bar at most 1/s live).

import { orderflowApi, throttle, fmtVol, paneKey, paneStates, withTime, minRowsInView } from './data.js';
import { OhlcView } from '../chart-types.js';
import { POC, SANS, font } from './draw.js';
import { withAlpha } from '../theme.js';

const PAGE = 300;
const MIN_ROW_PX = 11; // css px: below this a row has no room for text
const MIN_BAR_PX = 46;
export const MODES = { bidask: 'Bid × Ask', delta: 'Delta', volume: 'Volume' };

/** Per-pane footprint state (see ``paneStates``). */
class FootprintData {
  constructor(pane) {
    this.pane = pane;
    this.key = null;
    this.bars = new Map(); // time -> footprint bar
    this.zones = [];
    this.rowSize = null;
    this.earliest = null;
    this.exhausted = false;
    this.series = null;
    this.version = 0;
    this.inflight = 0;
    this.refreshLast = throttle(() => this.fetchLast(), 1000);
    this.onRange = null;
  }

  reset() {
    this.key = paneKey(this.pane);
    this.bars.clear();
    this.zones = [];
    this.earliest = null;
    this.exhausted = false;
    this.generation = (this.generation || 0) + 1;
  }

  ensure() {
    if (this.key !== paneKey(this.pane)) {
      this.reset();
      this.fetch({ limit: PAGE });
    }
  }

  async fetch(params, { last = false } = {}) {
    const pane = this.pane;
    const generation = this.generation;
    this.inflight++;
    try {
      const body = await orderflowApi.footprint(pane.state.symbol, pane.state.timeframe, params);
      if (generation !== this.generation || pane.destroyed) return;
      this.rowSize = body.row_size;
      for (const bar of body.bars) this.bars.set(bar.time, bar);
      if (!last) {
        const first = body.bars[0]?.time;
        if (first !== undefined && (this.earliest === null || first < this.earliest)) this.earliest = first;
        if (body.bars.length < (params.limit || PAGE)) this.exhausted = true;
      }
      this.mergeZones(body.stacked_zones || [], body.bars[0]?.time ?? Infinity);
      this.invalidateZones();
      this.redraw();
    } catch (err) {
      console.warn('footprint', err);
    } finally {
      this.inflight--;
      if (this.pane.cell) this.pane.cell.dataset.footprintBars = String(this.bars.size);
    }
  }

  /** Zones from a later window replace the ones that start inside it. */
  mergeZones(zones, from) {
    const keep = this.zones.filter((z) => z.bar_time < from);
    const seen = new Set(keep.map((z) => `${z.bar_time}|${z.direction}|${z.price_low}`));
    for (const z of zones) if (!seen.has(`${z.bar_time}|${z.direction}|${z.price_low}`)) keep.push({ ...z });
    this.zones = keep;
  }

  /** Price trading back through an active zone ends it (buy zone: below its low; sell: above its high). */
  invalidateZones() {
    const bars = this.pane.bars;
    for (const z of this.zones) {
      if (!z.active) continue;
      for (let i = bars.length - 1; i >= 0 && bars[i].time > z.bar_time; i--) {
        const b = bars[i];
        if ((z.direction === 'buy' && b.low < z.price_low) || (z.direction === 'sell' && b.high > z.price_high)) {
          z.active = false;
          z.invalidated_time = b.time;
        }
      }
    }
  }

  fetchLast() {
    const bars = this.pane.bars;
    if (!bars.length) return;
    this.fetch({ start: bars[bars.length - 1].time, limit: 5 }, { last: true });
  }

  /** Older pages when the visible range reaches bars without footprint data. */
  visible(range) {
    if (!range || this.exhausted || this.inflight || this.earliest === null) return;
    if (this.pane.state.chart_type !== 'footprint') return;
    const bars = this.pane.display;
    const i = Math.max(0, Math.floor(range.from));
    if (bars[i] && bars[i].time < this.earliest) this.fetch({ end: this.earliest, limit: PAGE });
  }

  redraw() {
    this.series?.applyOptions({ version: ++this.version });
  }
}

class FootprintView extends OhlcView {
  constructor(state, palette) {
    super(palette, { mode: 'bidask', version: 0 }); // version: bumped to redraw after a fetch
    this.state = state;
    this.stats = { mode: null, cells: 0, imbalances: [], pocs: 0, zones: 0 };
  }

  draw(target, toY) {
    const d = this.data;
    const stats = { mode: null, cells: 0, imbalances: [], pocs: 0, zones: 0 };
    this.stats = stats;
    if (!d || !d.visibleRange || !d.bars.length) return;
    const st = this.state;
    const p = this.palette;
    const tick = st.pane.meta.tick_size || 0.01;
    const rs = st.rowSize || tick;
    const rowH = Math.abs(toY(1000 * rs) - toY(1001 * rs)) || Math.abs(toY(rs) - toY(2 * rs));
    const spacing = d.barSpacing;
    const cells = rowH >= MIN_ROW_PX && spacing >= MIN_BAR_PX;
    stats.mode = cells ? 'cells' : 'candles';
    const { from, to } = d.visibleRange;
    const xAt = (i) => d.bars[from].x + (i - from) * spacing;
    target.useBitmapCoordinateSpace((scope) => {
      const { context: c, horizontalPixelRatio: hr, verticalPixelRatio: vr, bitmapSize } = scope;
      this.drawZones(c, d, toY, { hr, vr, width: bitmapSize.width, from, to, xAt, stats, p });
      for (let i = from; i < to; i++) {
        const item = d.bars[i];
        const b = item.originalData;
        const fp = st.bars.get(b.t);
        if (cells && fp && fp.levels?.length) this.drawCells(c, item.x, b, fp, toY, { hr, vr, spacing, rowH, rs, tick, stats, p });
        else this.drawCandle(c, item.x, b, fp, toY, { hr, vr, spacing, p });
      }
    });
  }

  drawZones(c, d, toY, { hr, vr, width, from, xAt, stats, p }) {
    const st = this.state;
    if (!st.zones.length) return;
    const times = d.bars.map((bar) => bar.originalData.t);
    const index = (t) => {
      let lo = 0;
      let hi = times.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (times[mid] <= t) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    };
    const half = ((st.rowSize || st.pane.meta.tick_size || 0.01) / 2);
    for (const z of st.zones) {
      const x0 = xAt(index(z.bar_time)) - d.barSpacing * 0.45;
      const x1 = z.active || z.invalidated_time == null ? width / hr : xAt(index(z.invalidated_time));
      if (x1 < 0 || x0 > width / hr) continue;
      const top = Math.round(toY(z.price_high + half) * vr);
      const bottom = Math.round(toY(z.price_low - half) * vr);
      const color = z.direction === 'buy' ? p.up : p.down;
      c.fillStyle = withAlpha(color, z.active ? 0.16 : 0.07);
      const left = Math.round(Math.max(0, x0) * hr);
      c.fillRect(left, top, Math.round(x1 * hr) - left, Math.max(1, bottom - top));
      c.fillStyle = withAlpha(color, z.active ? 0.7 : 0.3);
      c.fillRect(left, top, Math.round(x1 * hr) - left, Math.max(1, Math.round(vr)));
      c.fillRect(left, bottom - Math.max(1, Math.round(vr)), Math.round(x1 * hr) - left, Math.max(1, Math.round(vr)));
      stats.zones++;
    }
    void from;
  }

  drawCandle(c, x, b, fp, toY, { hr, vr, spacing, p }) {
    const color = b.close >= b.open ? p.up : p.down;
    c.fillStyle = color;
    const cx = Math.round(x * hr);
    const hi = Math.round(toY(b.high) * vr);
    const lo = Math.round(toY(b.low) * vr);
    const wick = Math.max(1, Math.floor(hr));
    c.fillRect(cx - Math.floor(wick / 2), hi, wick, Math.max(1, lo - hi));
    const w = Math.max(1, Math.round(spacing * 0.7 * hr));
    const top = Math.round(toY(Math.max(b.open, b.close)) * vr);
    const bottom = Math.round(toY(Math.min(b.open, b.close)) * vr);
    c.fillRect(cx - Math.floor(w / 2), top, w, Math.max(1, bottom - top));
    if (fp && spacing >= 24) {
      const delta = fp.delta ?? 0;
      c.font = font(10, vr);
      c.textAlign = 'center';
      c.textBaseline = 'top';
      c.fillStyle = delta >= 0 ? p.up : p.down;
      c.fillText(`${delta > 0 ? '+' : ''}${fmtVol(delta)}`, cx, lo + Math.round(4 * vr));
    }
  }

  drawCells(c, x, b, fp, toY, { hr, vr, spacing, rowH, rs, tick, stats, p }) {
    const mode = this.options.mode || 'bidask';
    const W = spacing * 0.92;
    const left = x - W / 2;
    const strip = Math.max(3, Math.min(6, W * 0.07));
    const cx0 = left + strip + 2;
    const cw = W - strip - 2;
    const mid = cx0 + cw / 2;
    const offset = (rs - tick) / 2; // rows are [price, price + row): centre them on the axis
    const buy = new Set();
    const sell = new Set();
    for (const im of fp.imbalances || []) (im.side === 'buy' ? buy : sell).add(im.price);
    let maxVol = 0;
    let maxDelta = 0;
    for (const l of fp.levels) {
      maxVol = Math.max(maxVol, l.bid_volume, l.ask_volume, mode === 'volume' ? l.bid_volume + l.ask_volume : 0);
      maxDelta = Math.max(maxDelta, Math.abs(l.delta));
    }
    const fontPx = Math.max(8, Math.min(12, rowH * 0.72, cw / 6.2));
    c.font = `${Math.round(fontPx * vr)}px "SF Mono", Menlo, Consolas, "Roboto Mono", monospace`;
    c.textBaseline = 'middle';
    const gap = Math.max(1, Math.round(vr));
    const X = (v) => Math.round(v * hr);
    for (const l of fp.levels) {
      const yc = toY(l.price + offset);
      const top = Math.round((yc - rowH / 2) * vr);
      const h = Math.max(1, Math.round(rowH * vr) - gap);
      const ym = Math.round(yc * vr);
      const isBuy = buy.has(l.price);
      const isSell = sell.has(l.price);
      stats.cells++;
      if (mode === 'bidask') {
        c.fillStyle = isSell ? p.down : withAlpha(p.down, 0.06 + 0.42 * (maxVol ? l.bid_volume / maxVol : 0));
        c.fillRect(X(cx0), top, X(mid) - X(cx0) - 1, h);
        c.fillStyle = isBuy ? p.up : withAlpha(p.up, 0.06 + 0.42 * (maxVol ? l.ask_volume / maxVol : 0));
        c.fillRect(X(mid), top, X(cx0 + cw) - X(mid), h);
        c.fillStyle = isSell ? '#ffffff' : p.fg;
        c.textAlign = 'right';
        c.font = `${isSell ? '700 ' : ''}${Math.round(fontPx * vr)}px "SF Mono", Menlo, Consolas, monospace`;
        c.fillText(fmtVol(l.bid_volume), X(mid - 4), ym);
        c.fillStyle = isBuy ? '#ffffff' : p.fg;
        c.textAlign = 'left';
        c.font = `${isBuy ? '700 ' : ''}${Math.round(fontPx * vr)}px "SF Mono", Menlo, Consolas, monospace`;
        c.fillText(fmtVol(l.ask_volume), X(mid + 4), ym);
        c.fillStyle = withAlpha(p.muted || '#787b86', 0.6);
        c.fillRect(X(mid) - 1, top, 1, h);
      } else {
        const value = mode === 'delta' ? l.delta : l.bid_volume + l.ask_volume;
        const share = mode === 'delta' ? (maxDelta ? Math.abs(l.delta) / maxDelta : 0) : maxVol ? value / maxVol : 0;
        const base = mode === 'delta' ? (l.delta >= 0 ? p.up : p.down) : '#5b7bd5';
        c.fillStyle = withAlpha(base, 0.08 + 0.55 * share);
        c.fillRect(X(cx0), top, X(cx0 + cw) - X(cx0), h);
        if (isBuy || isSell) {
          // imbalance: a solid side marker (buy right, sell left)
          c.fillStyle = isBuy ? p.up : p.down;
          const mw = Math.max(3, Math.round(cw * 0.12 * hr));
          c.fillRect(isBuy ? X(cx0 + cw) - mw : X(cx0), top, mw, h);
        }
        c.fillStyle = p.fg;
        c.textAlign = 'center';
        c.fillText(mode === 'delta' && value > 0 ? `+${fmtVol(value)}` : fmtVol(value), X(mid), ym);
      }
      if (isBuy || isSell) {
        const rx = mode === 'bidask' ? (isBuy ? X(mid) : X(cx0)) : X(cx0);
        const rw = mode === 'bidask' ? (isBuy ? X(cx0 + cw) - X(mid) : X(mid) - X(cx0) - 1) : X(cx0 + cw) - X(cx0);
        stats.imbalances.push({ side: isBuy ? 'buy' : 'sell', x: rx, y: top, w: rw, h });
      }
      if (l.price === fp.poc) {
        stats.pocs++;
        c.strokeStyle = POC;
        c.lineWidth = Math.max(1, Math.round(1.5 * hr));
        const inset = c.lineWidth / 2;
        c.strokeRect(X(cx0) + inset, top + inset, X(cx0 + cw) - X(cx0) - 2 * inset, h - 2 * inset);
      }
    }
    // the OHLC strip on the left of the cells
    const candle = fp.candle || b;
    const color = candle.close >= candle.open ? p.up : p.down;
    c.fillStyle = color;
    const sx = X(left + strip / 2);
    const hi = Math.round((toY(candle.high + offset) - rowH / 2) * vr);
    const lo = Math.round((toY(candle.low + offset) + rowH / 2) * vr);
    c.fillRect(sx, hi, Math.max(1, Math.round(hr)), lo - hi);
    const top = Math.round((toY(Math.max(candle.open, candle.close) + offset) - rowH / 2) * vr);
    const bottom = Math.round((toY(Math.min(candle.open, candle.close) + offset) + rowH / 2) * vr);
    c.fillRect(X(left), top, Math.max(2, X(strip)), bottom - top);
    // delta and volume under the bar
    const delta = fp.delta ?? 0;
    const vol = fp.levels.reduce((s, l) => s + l.bid_volume + l.ask_volume, 0);
    c.textAlign = 'center';
    c.textBaseline = 'top';
    c.font = font(11, vr, SANS, '600');
    c.fillStyle = delta >= 0 ? p.up : p.down;
    c.fillText(`Δ ${delta > 0 ? '+' : ''}${fmtVol(delta)}`, X(mid), lo + Math.round(5 * vr));
    c.font = font(10, vr);
    c.fillStyle = p.muted || p.text;
    c.fillText(`V ${fmtVol(vol)}`, X(mid), lo + Math.round(19 * vr));
  }
}

export function registerFootprint({ registerChartType, terminal }) {
  const { stateOf, ofPane } = paneStates(terminal, (pane) => new FootprintData(pane));
  registerChartType({
    id: 'footprint',
    label: 'Footprint',
    group: 'orderflow',
    build(chart, ctx) {
      const st = stateOf(ctx);
      const view = new FootprintView(st, ctx.palette);
      const series = chart.addCustomSeries(view, {
        mode: ctx.options.fp_mode || 'bidask',
        priceFormat: { type: 'price', precision: ctx.meta.precision ?? 2, minMove: ctx.meta.tick_size || 0.01 },
        priceLineWidth: 1,
        // a handful of bars spanning a few ticks still get readable cells
        autoscaleInfoProvider: minRowsInView(() => st.rowSize || ctx.meta.tick_size || 0.01, 18),
      }, 0);
      st.series = series;
      st.view = view;
      // footprint bars need room: zoom in once when the type is chosen
      chart.timeScale().applyOptions({ barSpacing: 110, rightOffset: 3 });
      if (!st.onRange) {
        st.onRange = (range) => st.visible(range);
        chart.timeScale().subscribeVisibleLogicalRangeChange(st.onRange);
      }
      st.key = null; // fetch again for the new series
      return series;
    },
    full(bars, ctx) {
      const st = stateOf(ctx);
      if (st) {
        st.ensure();
        st.invalidateZones();
      }
      return bars.map(withTime);
    },
    point(bars, i, ctx) {
      const st = stateOf(ctx);
      if (st && i === bars.length - 1) st.refreshLast();
      return withTime(bars[i]);
    },
  });
  return { stateOf: ofPane };
}
