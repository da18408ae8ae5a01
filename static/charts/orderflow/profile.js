// Volume profile overlay: a horizontal histogram (split by bid/ask, value area brighter)
// with POC, VAH and VAL lines, as a series primitive of the pane's main series. Ranges:
//   session  the latest session, histogram on the right of the pane, lines across it
//   visible  the visible range of the chart, drawn like the session profile
//   fixed    a time range the user picks on the chart (drag, or two clicks); drawn inside
//            that range and kept in the pane's options as ``vp_range`` [start, end) epoch s
// Refreshed on reload and at most every 2 s while trades arrive (fixed: only while its
// range reaches the live bar).

import { orderflowApi, throttle, fmtVol, paneKey } from './data.js';
import { POC, font, drawLevels } from './draw.js';
import { withAlpha } from '../theme.js';
import { indexAtOrBefore } from '../transforms.js';

const WIDTH_SHARE = 0.24; // of the pane width
const FIXED_WIDTH_SHARE = 0.4; // of a fixed range's width
const LABEL_ROOM = 84; // css px right of a fixed range for its line labels
const TITLE_ROOM = 130;
const DRAG_THRESHOLD = 5;

class ProfileRenderer {
  constructor(owner) {
    this.owner = owner;
  }
  draw(target) {
    const o = this.owner;
    const prof = o.profile;
    const series = o.series;
    o.stats = { rows: 0, poc_y: null, vah_y: null, val_y: null, range: null };
    if (!series) return;
    target.useBitmapCoordinateSpace(({ context: c, horizontalPixelRatio: hr, verticalPixelRatio: vr, bitmapSize }) => {
      const p = o.pane.ctx.palette;
      const W = bitmapSize.width;
      const g = o.geometry(W, hr);
      if (g?.band) this.drawBand(c, g, bitmapSize.height, p, hr);
      if (o.picker) this.drawHint(c, W, p, vr);
      if (!g || !prof || !prof.profile?.length) return;
      const rows = prof.profile;
      const tick = o.pane.meta.tick_size;
      const rs = prof.row_size || (rows.length > 1 ? Math.abs(rows[1].price - rows[0].price) : tick || 0.01);
      let max = 0;
      for (const r of rows) max = Math.max(max, r.volume);
      const y = (price) => series.priceToCoordinate(price);
      const rowPx = Math.abs((y(rows[0].price + rs) ?? 0) - (y(rows[0].price) ?? 0)) * vr;
      const h = Math.max(1, Math.round(rowPx) - (rowPx > 4 ? 1 : 0));
      for (const r of rows) {
        const yc = y(r.price + rs / 2 - (tick || rs) / 2);
        if (yc === null) continue;
        const inVa = r.price >= prof.val && r.price <= prof.vah;
        const isPoc = r.price === prof.poc;
        const w = Math.max(1, Math.round((max ? r.volume / max : 0) * g.maxW));
        const top = Math.round(yc * vr - h / 2);
        const askW = r.volume ? Math.round((w * (r.ask_volume ?? 0)) / r.volume) : 0;
        const a = isPoc ? 0.95 : inVa ? 0.55 : 0.25;
        // bid part then ask part, against the anchored edge
        const x = g.anchor === 'right' ? g.right - w : g.left;
        c.fillStyle = isPoc ? POC : withAlpha(p.down, a);
        c.fillRect(x, top, w - askW, h);
        c.fillStyle = isPoc ? POC : withAlpha(p.up, a);
        c.fillRect(x + w - askW, top, askW, h);
        o.stats.rows++;
      }
      Object.assign(o.stats, drawLevels(c, prof, {
        y, x0: g.lineFrom, x1: g.lineTo, poc: POC, precision: o.pane.meta.precision ?? 2,
        labelX: g.labelX, align: g.align, hr, vr,
      }));
      const total = rows.reduce((s, r) => s + r.volume, 0);
      // the title: top right, or top left of a fixed range (top right of it near the edge)
      const right = g.anchor === 'right' || g.left + TITLE_ROOM * hr > W;
      c.font = font(10, vr);
      c.textAlign = right ? 'right' : 'left';
      c.textBaseline = 'top';
      c.fillStyle = p.muted || p.text;
      c.fillText(`VP ${o.rangeLabel()} · ${fmtVol(total)}`, g.anchor === 'right' ? g.right : right ? Math.min(g.lineTo, W) - 4 * hr : g.left + 4 * hr, Math.round(6 * vr));
    });
  }

  drawBand(c, g, H, p, hr) {
    const [x0, x1] = g.band;
    c.fillStyle = withAlpha(p.accent, 0.06);
    c.fillRect(x0, 0, x1 - x0, H);
    c.fillStyle = withAlpha(p.accent, 0.45);
    const lw = Math.max(1, Math.round(hr));
    c.fillRect(x0, 0, lw, H);
    c.fillRect(x1 - lw, 0, lw, H);
    this.owner.stats.range = { x0: x0 / hr, x1: x1 / hr };
  }

  drawHint(c, W, p, vr) {
    c.font = font(12, vr, undefined, '600');
    c.textAlign = 'center';
    c.textBaseline = 'top';
    c.fillStyle = p.accent;
    c.fillText('Drag across the chart (or click its start and end) to set the profile range · Esc cancels', W / 2, Math.round(8 * vr));
  }
}

/** The chart's x (css px) of the left edge of the first bar at/after ``start`` and of the
 *  right edge of the last bar before ``end``; null when no bar is inside. */
function rangeCoordinates(pane, start, end) {
  const bars = pane.display;
  if (!bars.length || !pane.chart) return null;
  const first = indexAtOrBefore(bars, start - 1) + 1;
  const last = indexAtOrBefore(bars, end - 1);
  if (first >= bars.length || last < first) return null;
  const ts = pane.chart.timeScale();
  const a = ts.logicalToCoordinate(first);
  const b = ts.logicalToCoordinate(last);
  if (a === null || b === null) return null;
  const half = (ts.logicalToCoordinate(first + 1) - a) / 2; // whole logical indices only
  return { x0: a - half, x1: b + half };
}

/** Picks a time range on the pane: press-drag-release, or a click at each end. */
class RangePicker {
  constructor(vp, { done, cancelled }) {
    this.vp = vp;
    this.host = vp.pane.host;
    this.done = done;
    this.cancelled = cancelled;
    this.anchor = null; // bar time of the first press
    this.downX = null;
    this.clicked = false; // the first press was a click: the next release ends the range
    this.handlers = {
      mousedown: (e) => this.down(e),
      mousemove: (e) => this.move(e),
      mouseup: (e) => this.up(e),
    };
    for (const [name, fn] of Object.entries(this.handlers)) this.host.addEventListener(name, fn, true);
    this.onKey = (e) => e.key === 'Escape' && this.cancel();
    document.addEventListener('keydown', this.onKey);
    vp.pane.cell.dataset.vpPicking = '1';
  }

  local(e) {
    const rect = this.host.getBoundingClientRect();
    const chart = this.vp.pane.chart;
    const x = e.clientX - rect.left;
    const y = e.clientY - rect.top;
    return { x, inside: x >= 0 && x <= chart.timeScale().width() && y >= 0 && y <= chart.panes()[0].getHeight() };
  }

  timeAt(x) {
    const bars = this.vp.pane.display;
    const logical = this.vp.pane.chart.timeScale().coordinateToLogical(x);
    if (!bars.length || logical === null) return null;
    return bars[Math.max(0, Math.min(bars.length - 1, Math.round(logical)))].time;
  }

  down(e) {
    const { x, inside } = this.local(e);
    if (e.button !== 0 || !inside) return;
    e.stopPropagation();
    e.preventDefault(); // no chart pan while picking
    if (this.anchor !== null) return;
    this.anchor = this.timeAt(x);
    this.downX = x;
    this.vp.preview = this.anchor === null ? null : [this.anchor, this.anchor];
  }

  move(e) {
    if (this.anchor === null) return;
    const t = this.timeAt(this.local(e).x);
    if (t !== null) this.vp.preview = [this.anchor, t];
    this.vp.requestUpdate?.();
  }

  up(e) {
    if (this.anchor === null) return;
    e.stopPropagation();
    const { x } = this.local(e);
    if (!this.clicked && Math.abs(x - this.downX) < DRAG_THRESHOLD) {
      this.clicked = true;
      return;
    }
    const t = this.timeAt(x);
    if (t === null) return;
    const tf = this.vp.pane.tfSeconds();
    this.finish();
    this.done([Math.min(this.anchor, t), Math.max(this.anchor, t) + tf]);
  }

  cancel() {
    this.finish();
    this.cancelled?.();
  }

  finish() {
    for (const [name, fn] of Object.entries(this.handlers)) this.host.removeEventListener(name, fn, true);
    document.removeEventListener('keydown', this.onKey);
    delete this.vp.pane.cell.dataset.vpPicking;
    this.vp.preview = null;
    this.vp.picker = null;
    this.vp.requestUpdate?.();
  }
}

class VolumeProfile {
  constructor(pane, mode) {
    this.pane = pane;
    this.mode = mode; // 'session' | 'visible' | 'fixed'
    this.profile = null;
    this.series = null;
    this.stats = null;
    this.requestUpdate = null;
    this.generation = 0;
    this.picker = null;
    this.preview = null; // [time, time] while picking
    this.views = [{ renderer: () => this.renderer, zOrder: () => 'bottom' }];
    this.renderer = new ProfileRenderer(this);
    this.refresh = throttle(() => this.load(), 2000);
    this.onRange = throttle(() => this.mode === 'visible' && this.load(), 400);
    this.pane.chart.timeScale().subscribeVisibleLogicalRangeChange(this.onRange);
    this.key = null;
    this.datasetKey = mode === 'fixed' ? 'volumeProfileFixed' : 'volumeProfile';
    this.reattach();
  }

  // ISeriesPrimitive
  attached({ requestUpdate }) {
    this.requestUpdate = requestUpdate;
  }
  detached() {
    this.requestUpdate = null;
  }
  paneViews() {
    return this.views;
  }
  updateAllViews() {}

  reattach() {
    if (this.series === this.pane.series) return;
    try {
      this.series?.detachPrimitive(this);
    } catch {
      // the old main series is gone already
    }
    this.series = this.pane.series;
    this.series.attachPrimitive(this);
  }

  /** Where to draw, in bitmap px: anchored right across the pane, or inside the fixed range. */
  geometry(W, hr) {
    if (this.mode !== 'fixed') {
      const right = W - Math.round(4 * hr);
      const maxW = W * WIDTH_SHARE;
      return { anchor: 'right', right, maxW, lineFrom: 0, lineTo: W, labelX: right - maxW - 6 * hr, align: 'right' };
    }
    const range = this.preview ? [Math.min(...this.preview), Math.max(...this.preview) + 1] : this.range();
    const span = range && rangeCoordinates(this.pane, range[0], range[1]);
    if (!span) return null;
    const x0 = Math.round(span.x0 * hr);
    const x1 = Math.round(span.x1 * hr);
    const outside = x1 + LABEL_ROOM * hr <= W;
    return {
      anchor: 'left',
      left: x0,
      maxW: Math.max(30 * hr, Math.min((x1 - x0) * FIXED_WIDTH_SHARE, W * WIDTH_SHARE)),
      lineFrom: x0,
      lineTo: x1,
      labelX: outside ? x1 + 4 * hr : x1 - 4 * hr,
      align: outside ? 'left' : 'right',
      band: [x0, x1],
    };
  }

  range() {
    return this.pane.state.options.vp_range || null;
  }

  rangeLabel() {
    if (this.mode === 'fixed') return 'fixed range';
    return this.mode === 'visible' ? 'visible range' : `session ${this.profile?.session?.date || this.profile?.session || ''}`.trim();
  }

  /** Query of the profile; null: nothing to ask for (a fixed profile with no range yet). */
  params() {
    if (this.mode === 'fixed') {
      const range = this.range();
      return range ? { start: range[0], end: range[1] } : null;
    }
    if (this.mode !== 'visible') return {};
    const pane = this.pane;
    const range = pane.chart.timeScale().getVisibleLogicalRange();
    const bars = pane.display;
    if (!range || !bars.length) return {};
    const first = bars[Math.max(0, Math.min(bars.length - 1, Math.floor(range.from)))];
    const last = bars[Math.max(0, Math.min(bars.length - 1, Math.ceil(range.to)))];
    return { start: first.time, end: last.time + pane.tfSeconds() };
  }

  async load() {
    const generation = ++this.generation;
    const params = this.params();
    if (params === null) {
      this.profile = null;
      this.requestUpdate?.();
      return;
    }
    try {
      const body = await orderflowApi.volumeProfile(this.pane.state.symbol, params);
      if (generation !== this.generation || this.pane.destroyed) return;
      this.profile = body;
      this.pane.cell.dataset[this.datasetKey] = String(body.profile?.length || 0);
      this.requestUpdate?.();
    } catch (err) {
      console.warn('volume profile', err);
    }
  }

  /** Live trades change a fixed profile only while its range reaches the last bar. */
  live() {
    if (this.mode !== 'fixed') return true;
    const range = this.range();
    const bars = this.pane.bars;
    return !!range && bars.length > 0 && range[1] > bars[bars.length - 1].time;
  }

  update({ full }) {
    this.reattach();
    if (full || this.key !== paneKey(this.pane)) {
      this.key = paneKey(this.pane);
      this.load();
    } else if (this.live()) this.refresh();
  }

  /** Switched on from the menu: a fixed profile without a range asks for one. */
  start({ cancelled } = {}) {
    if (this.mode === 'fixed' && !this.range()) this.pick({ cancelled });
  }

  /** Let the user pick the fixed range on the chart; saved in the pane's options. */
  pick({ cancelled } = {}) {
    if (this.mode !== 'fixed' || this.picker) return;
    this.picker = new RangePicker(this, {
      done: (range) => {
        this.pane.state.options.vp_range = range;
        this.pane.env.changed(this.pane);
        this.load();
      },
      cancelled: () => {
        if (!this.range()) cancelled?.();
      },
    });
    this.requestUpdate?.();
  }

  detach() {
    this.generation++;
    this.picker?.finish();
    this.refresh.cancel();
    this.onRange.cancel();
    this.pane.chart?.timeScale().unsubscribeVisibleLogicalRangeChange(this.onRange);
    try {
      this.series?.detachPrimitive(this);
    } catch {
      // chart removed
    }
    delete this.pane.cell.dataset[this.datasetKey];
  }
}

export const PROFILE_OVERLAYS = [
  ['volume_profile', 'session', 'Volume profile · session'],
  ['volume_profile_visible', 'visible', 'Volume profile · visible range'],
  ['volume_profile_fixed', 'fixed', 'Volume profile · fixed range'],
];

export function registerProfiles({ registerOverlay }) {
  for (const [id, mode, label] of PROFILE_OVERLAYS) {
    registerOverlay({
      id,
      label,
      attach: (pane) => {
        const vp = new VolumeProfile(pane, mode);
        vp.update({ full: true });
        return vp;
      },
    });
  }
}
