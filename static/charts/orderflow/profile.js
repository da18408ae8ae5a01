// Volume profile overlay: a horizontal histogram on the right of the price pane (split by
// bid/ask, value area brighter) with POC, VAH and VAL lines across the chart, as a series
// primitive of the pane's main series. Range: the latest session (default) or the visible
// range of the chart; refreshed on reload and at most every 2 s while trades arrive.

import { orderflowApi, throttle, fmtVol, paneKey } from './data.js';
import { withAlpha } from '../theme.js';

const POC = '#f5c542';
const VA_LINE = '#8f9bb3';
const WIDTH_SHARE = 0.24; // of the pane width

class ProfileRenderer {
  constructor(owner) {
    this.owner = owner;
  }
  draw(target) {
    const o = this.owner;
    const prof = o.profile;
    const series = o.series;
    o.stats = { rows: 0, poc_y: null, vah_y: null, val_y: null };
    if (!prof || !series || !prof.profile?.length) return;
    target.useBitmapCoordinateSpace(({ context: c, horizontalPixelRatio: hr, verticalPixelRatio: vr, bitmapSize }) => {
      const p = o.pane.ctx.palette;
      const rows = prof.profile;
      const rs = prof.row_size || (rows.length > 1 ? Math.abs(rows[1].price - rows[0].price) : o.pane.meta.tick_size || 0.01);
      let max = 0;
      for (const r of rows) max = Math.max(max, r.volume);
      const W = bitmapSize.width;
      const maxW = W * WIDTH_SHARE;
      const right = W - Math.round(4 * hr);
      const y = (price) => series.priceToCoordinate(price);
      const rowPx = Math.abs((y(rows[0].price + rs) ?? 0) - (y(rows[0].price) ?? 0)) * vr;
      const h = Math.max(1, Math.round(rowPx) - (rowPx > 4 ? 1 : 0));
      for (const r of rows) {
        const yc = y(r.price + rs / 2 - (o.pane.meta.tick_size || rs) / 2);
        if (yc === null) continue;
        const inVa = r.price >= prof.val && r.price <= prof.vah;
        const isPoc = r.price === prof.poc;
        const w = Math.max(1, Math.round((max ? r.volume / max : 0) * maxW));
        const top = Math.round(yc * vr - h / 2);
        const ask = r.ask_volume ?? 0;
        const askW = r.volume ? Math.round((w * ask) / r.volume) : 0;
        const a = isPoc ? 0.95 : inVa ? 0.55 : 0.25;
        // bid part (left) then ask part (right), anchored to the right edge
        c.fillStyle = isPoc ? POC : withAlpha(p.down, a);
        c.fillRect(right - w, top, w - askW, h);
        c.fillStyle = isPoc ? POC : withAlpha(p.up, a);
        c.fillRect(right - askW, top, askW, h);
        o.stats.rows++;
      }
      const line = (price, color, dash, label, key) => {
        const yy = y(price);
        if (yy === null) return;
        const py = Math.round(yy * vr) + 0.5;
        if (!dash.length) {
          // solid: crisp whole pixels
          const lw = Math.max(1, Math.round(1.5 * vr));
          c.fillStyle = color;
          c.fillRect(0, Math.round(yy * vr) - Math.floor(lw / 2), W, lw);
        } else {
        c.save();
        c.strokeStyle = color;
        c.lineWidth = Math.max(1, Math.round(hr * (key === 'poc_y' ? 1.5 : 1)));
        c.setLineDash(dash.map((v) => v * hr));
        c.beginPath();
        c.moveTo(0, py);
        c.lineTo(W, py);
        c.stroke();
        c.restore();
        }
        c.font = `600 ${Math.round(10 * vr)}px -apple-system, Roboto, sans-serif`;
        c.textAlign = 'right';
        c.textBaseline = 'bottom';
        c.fillStyle = color;
        c.fillText(`${label} ${price.toFixed(o.pane.meta.precision ?? 2)}`, right - maxW - 6 * hr, py - 2 * vr);
        o.stats[key] = py;
      };
      line(prof.vah, VA_LINE, [4, 3], 'VAH', 'vah_y');
      line(prof.val, VA_LINE, [4, 3], 'VAL', 'val_y');
      line(prof.poc, POC, [], 'POC', 'poc_y');
      const total = rows.reduce((s, r) => s + r.volume, 0);
      c.font = `${Math.round(10 * vr)}px -apple-system, Roboto, sans-serif`;
      c.textAlign = 'right';
      c.textBaseline = 'top';
      c.fillStyle = p.muted || p.text;
      c.fillText(`VP ${o.rangeLabel()} · ${fmtVol(total)}`, right, Math.round(6 * vr));
    });
  }
}

class VolumeProfile {
  constructor(pane, mode) {
    this.pane = pane;
    this.mode = mode; // 'session' | 'visible'
    this.profile = null;
    this.series = null;
    this.stats = null;
    this.requestUpdate = null;
    this.generation = 0;
    this.views = [{ renderer: () => this.renderer, zOrder: () => 'bottom' }];
    this.renderer = new ProfileRenderer(this);
    this.refresh = throttle(() => this.load(), 2000);
    this.onRange = throttle(() => this.mode === 'visible' && this.load(), 400);
    this.pane.chart.timeScale().subscribeVisibleLogicalRangeChange(this.onRange);
    this.key = null;
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

  rangeLabel() {
    return this.mode === 'visible' ? 'visible range' : `session ${this.profile?.session?.date || this.profile?.session || ''}`.trim();
  }

  params() {
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
    try {
      const body = await orderflowApi.volumeProfile(this.pane.state.symbol, this.params());
      if (generation !== this.generation || this.pane.destroyed) return;
      this.profile = body;
      this.pane.cell.dataset.volumeProfile = String(body.profile?.length || 0);
      this.requestUpdate?.();
    } catch (err) {
      console.warn('volume profile', err);
    }
  }

  update({ full }) {
    this.reattach();
    if (full || this.key !== paneKey(this.pane)) {
      this.key = paneKey(this.pane);
      this.load();
    } else this.refresh();
  }

  detach() {
    this.generation++;
    this.refresh.cancel();
    this.onRange.cancel();
    this.pane.chart?.timeScale().unsubscribeVisibleLogicalRangeChange(this.onRange);
    try {
      this.series?.detachPrimitive(this);
    } catch {
      // chart removed
    }
    delete this.pane.cell.dataset.volumeProfile;
  }
}

export function registerProfiles({ registerOverlay }) {
  registerOverlay({
    id: 'volume_profile',
    label: 'Volume profile (session)',
    attach: (pane) => {
      const vp = new VolumeProfile(pane, 'session');
      vp.update({ full: true });
      return vp;
    },
  });
  registerOverlay({
    id: 'volume_profile_visible',
    label: 'Volume profile (visible range)',
    attach: (pane) => {
      const vp = new VolumeProfile(pane, 'visible');
      vp.update({ full: true });
      return vp;
    },
  });
}
