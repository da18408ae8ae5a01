// One chart of the terminal: a lightweight-charts chart with the price pane (0), the
// volume pane (1) and indicator panes (2+), its bars, live updates and lazy history.
//
// Data flow: REST bars -> ``this.bars`` (raw, oldest first, at most MAX_BARS) -> the chart
// type's transform -> the main series. Live trades mutate ``this.bars`` and record the
// first changed index; ``flush`` (once per animation frame, see live.js) pushes the change
// with ``update()`` (or ``setData`` after a re-sync or a long hidden spell).

import { chartType, overlay, priceFormat } from './chart-types.js';
import { chartOptions, palette, withAlpha } from './theme.js';
import { formatTime, tickMarkFormatter, zonedBehavior } from './timezone.js';
import { getJSON, takeEmbedded } from './api.js';
import { baseCode, requestFlush } from './live.js';
import { indexAtOrBefore } from './transforms.js';
import { Legend } from './legend.js';

export const MAX_BARS = 20_000;
const PAGE = 2000;
const INCREMENTAL_LIMIT = 50; // more changed bars than this: setData instead of update()
const TRIM_SLACK = 1000;
const TF_SECONDS = {
  '1s': 1, '5s': 5, '15s': 15, '30s': 30, '1m': 60, '3m': 180, '5m': 300, '15m': 900,
  '30m': 1800, '1h': 3600, '2h': 7200, '4h': 14400, '1d': 86400, '1w': 604800,
};

export function barsUrl(base, symbol, timeframe, limit, { end = null, start = null } = {}) {
  // must match apps.charts.views.bars_url, so the page's <link rel=preload> is reused
  let url = `${base}${encodeURIComponent(symbol)}?timeframe=${timeframe}&limit=${limit}`;
  if (start !== null) url += `&start=${start}`;
  if (end !== null) url += `&end=${end}`;
  return url;
}

export class ChartPane {
  constructor(cell, state, env) {
    this.cell = cell;
    this.env = env;
    this.state = structuredClone(state);
    this.state.options = this.state.options || {};
    this.state.indicators = this.state.indicators || [];
    this.bars = [];
    this.display = [];
    this.meta = env.symbolMeta(this.state.symbol);
    this.ctx = { palette: env.palette(), meta: this.meta, options: this.state.options, cache: {}, series: null };
    this.changedFrom = null;
    this.needsFull = false;
    this.loading = false;
    this.loadingOlder = false;
    this.exhausted = false;
    this.generation = 0;
    this.hovered = null;
    this.unsubscribe = null;
    this.resyncTimer = null;
    this.lastCorrection = 0;
    this.trimmed = 0;
    this.destroyed = false;
    this.overlays = new Map(); // id -> handle of registered overlays (chart-types.js)
    this.chart = null; // built when the first bars arrive: one first render, with data
    this.series = null;
    this.indicators = null;
    this.drawings = null;
    this.host = cell.querySelector('.pane-chart');
    this.legend = new Legend(cell);
    this.updateTitle();
  }

  get type() {
    return chartType(this.state.chart_type);
  }

  tfSeconds() {
    return TF_SECONDS[this.state.timeframe] || 60;
  }

  zone() {
    const mode = this.state.options.tz || this.env.defaultTzMode();
    if (mode === 'utc') return 'UTC';
    if (mode === 'user' && this.env.userZone()) return this.env.userZone();
    return this.meta.timezone || 'UTC';
  }

  // --- construction -----------------------------------------------------------------------

  build() {
    if (this.chart) return;
    const LWC = window.LightweightCharts;
    const p = this.ctx.palette;
    const options = chartOptions(p);
    options.localization = {
      dateFormat: "dd MMM 'yy",
      timeFormatter: (t) => formatTime(this.zone(), t, { seconds: this.tfSeconds() < 60 }),
    };
    options.timeScale.tickMarkFormatter = tickMarkFormatter(() => this.zone());
    options.timeScale.secondsVisible = this.tfSeconds() < 60;
    this.chart = LWC.createChartEx(this.host, zonedBehavior(() => this.zone()), options);
    this.volume = this.chart.addSeries(
      LWC.HistogramSeries,
      { priceFormat: { type: 'volume' }, priceLineVisible: false, lastValueVisible: true },
      1,
    );
    this.chart.panes()[1]?.setStretchFactor(0.22);
    this.applyVolumeVisibility();
    this.createMainSeries();
    // indicators and drawings come from modules loaded after the first candle is up
    this.env.whenReady((mods) => {
      if (this.destroyed || this.indicators) return;
      this.indicators = new mods.IndicatorSet(this);
      this.drawings = new mods.DrawingLayer(this);
      this.indicators.reload();
    });
    this.chart.subscribeCrosshairMove((param) => this.onCrosshair(param));
    this.chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
      if (range && range.from < 40) this.loadOlder();
    });
    if (this.state.options.log_scale) this.chart.priceScale('right').applyOptions({ mode: 1 });
  }

  createMainSeries() {
    // the new series goes in first: removing the last series of pane 0 would remove the
    // pane and move the volume pane up into its place
    const old = this.series;
    if (old) this.drawings?.detach();
    this.ctx.cache = {};
    this.ctx.series = null;
    this.series = this.type.build(this.chart, this.ctx);
    this.ctx.series = this.series;
    if (old) this.chart.removeSeries(old);
    this.drawings?.attach();
    this.indicators?.reattachMarkers();
  }

  applyVolumeVisibility() {
    if (!this.chart) return;
    const hidden = !!this.state.options.hide_volume;
    this.volume.applyOptions({ visible: !hidden });
    this.chart.panes()[1]?.setStretchFactor(hidden ? 0.0001 : 0.22);
  }

  applyTheme() {
    this.ctx.palette = this.env.palette();
    if (!this.chart) return;
    this.chart.applyOptions(chartOptions(this.ctx.palette));
    this.chart.applyOptions({ timeScale: { secondsVisible: this.tfSeconds() < 60 } });
    this.createMainSeries();
    this.renderAll();
    this.indicators?.applyTheme();
  }

  updateTitle() {
    this.legend.setTitle(this.meta, this.state.timeframe, this.type.label);
    this.cell.dataset.symbol = this.state.symbol;
    this.cell.dataset.timeframe = this.state.timeframe;
    this.cell.dataset.chartType = this.state.chart_type;
  }

  // --- state changes (from the toolbar, sync groups or the layout) -----------------------

  setSymbol(symbol) {
    symbol = symbol.toUpperCase();
    if (symbol === this.state.symbol) return;
    this.state.symbol = symbol;
    this.setMeta(this.env.symbolMeta(symbol));
    this.drawings?.reload();
    this.reload();
    this.env.changed(this);
  }

  setMeta(meta) {
    const zone = this.zone();
    this.meta = meta;
    this.ctx.meta = meta;
    this.series?.applyOptions({ priceFormat: priceFormat(meta) });
    this.updateTitle();
    if (this.zone() !== zone) this.refreshZone();
  }

  /** New formatter functions make lightweight-charts drop its cached axis labels. */
  refreshZone() {
    this.chart?.applyOptions({
      localization: { timeFormatter: (t) => formatTime(this.zone(), t, { seconds: this.tfSeconds() < 60 }) },
      timeScale: { tickMarkFormatter: tickMarkFormatter(() => this.zone()) },
    });
  }

  setTimeframe(tf) {
    if (tf === this.state.timeframe || !TF_SECONDS[tf]) return;
    this.state.timeframe = tf;
    this.chart?.applyOptions({ timeScale: { secondsVisible: this.tfSeconds() < 60 } });
    this.updateTitle();
    this.reload();
    this.env.changed(this);
  }

  setChartType(id) {
    if (id === this.state.chart_type) return;
    this.state.chart_type = id;
    if (this.chart) this.createMainSeries();
    this.updateTitle();
    this.renderAll();
    this.env.changed(this);
  }

  setOption(key, value) {
    if (value === null || value === undefined || value === '') delete this.state.options[key];
    else this.state.options[key] = value;
    if (key === 'hide_volume') this.applyVolumeVisibility();
    if (key === 'tz') this.refreshZone();
    if (key === 'log_scale') this.chart?.priceScale('right').applyOptions({ mode: value ? 1 : 0 });
    this.ctx.cache = {};
    this.renderAll();
    this.env.changed(this);
  }

  // --- data ------------------------------------------------------------------------------

  async reload() {
    const generation = ++this.generation;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.bars = [];
    this.display = [];
    this.exhausted = false;
    this.loading = true;
    this.loadingOlder = false;
    this.cell.classList.add('loading');
    this.cell.classList.remove('failed');
    try {
      const url = barsUrl(this.env.urls.bars, this.state.symbol, this.state.timeframe, this.env.initialBars);
      const payload = takeEmbedded(url) ?? (await getJSON(url));
      if (generation !== this.generation || this.destroyed) return;
      performance.mark('tf:bars');
      this.absorbMeta(payload);
      this.bars = payload.bars.map(toBar);
      this.exhausted = this.bars.length < this.env.initialBars;
      this.build();
      this.renderAll();
      performance.mark('tf:setData');
      this.chart.timeScale().scrollToRealTime();
      this.unsubscribe = this.env.socket.subscribe(this.state.symbol, this.state.timeframe, this);
      this.indicators?.reload();
      this.env.loaded(this);
    } catch (err) {
      if (generation !== this.generation) return;
      console.error(err);
      this.series?.setData([]); // not the previous symbol's bars under the new title
      this.volume?.setData([]);
      this.cell.classList.add('failed');
      this.cell.querySelector('.pane-message').textContent =
        err.status === 404 ? `Unknown symbol ${this.state.symbol}` : 'Could not load bars — retrying…';
      if (err.status !== 404) setTimeout(() => generation === this.generation && this.reload(), 3000);
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.cell.classList.remove('loading');
      }
    }
  }

  absorbMeta(payload) {
    if (payload.tick_size && (payload.tick_size !== this.meta.tick_size || payload.precision !== this.meta.precision)) {
      this.setMeta({ ...this.meta, tick_size: payload.tick_size, precision: payload.precision });
    }
  }

  async loadOlder() {
    if (this.loading || this.loadingOlder || this.exhausted || !this.bars.length || this.bars.length >= MAX_BARS) return;
    const generation = this.generation;
    this.loadingOlder = true;
    try {
      const limit = Math.min(PAGE, MAX_BARS - this.bars.length);
      const payload = await getJSON(
        barsUrl(this.env.urls.bars, this.state.symbol, this.state.timeframe, limit, { end: this.bars[0].time }),
      );
      if (generation !== this.generation || this.destroyed) return;
      const first = this.bars[0].time;
      const older = payload.bars.map(toBar).filter((b) => b.time < first);
      if (older.length < limit) this.exhausted = true;
      if (!older.length) return;
      const ts = this.chart.timeScale();
      const before = this.display.length;
      const range = ts.getVisibleLogicalRange();
      this.bars = older.concat(this.bars);
      this.renderAll();
      const added = this.display.length - before;
      if (range) ts.setVisibleLogicalRange({ from: range.from + added, to: range.to + added });
      this.indicators?.reload();
    } catch (err) {
      console.warn('older bars', err);
    } finally {
      if (generation === this.generation) this.loadingOlder = false;
    }
  }

  /** Re-read the tail through REST (after a seq gap, a reconnect or a capped message). */
  resync(reason) {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => this.doResync(reason), reason === 'gap' ? 0 : 50);
  }

  async doResync() {
    // nothing to re-sync before the first bar (and a reload here would loop: reload ->
    // subscribe -> 'subscribed' -> re-sync); an empty chart starts from live trades
    if (!this.bars.length || this.loading) return;
    const generation = this.generation;
    const last = this.bars[this.bars.length - 1].time;
    try {
      // everything from our last bar on (a quiet market answers with that one bar)
      const payload = await getJSON(
        barsUrl(this.env.urls.bars, this.state.symbol, this.state.timeframe, PAGE, { start: last }),
      );
      if (generation !== this.generation || this.destroyed) return;
      const fresh = payload.bars.map(toBar);
      // more than a page missed (a laptop that slept): a hole we cannot fill -> start over
      if (fresh.length >= PAGE && fresh[0].time > last) return this.reload();
      this.merge(fresh);
    } catch (err) {
      console.warn('resync', err);
    }
  }

  /** Replace or append bars by time (``fresh`` is oldest first). */
  merge(fresh) {
    fresh = fresh.filter((b) => b.time >= this.bars[0].time);
    if (!fresh.length) return;
    let i = indexAtOrBefore(this.bars, fresh[0].time);
    if (this.bars[i].time < fresh[0].time) i += 1;
    const changedFrom = i;
    for (const bar of fresh) {
      while (i < this.bars.length && this.bars[i].time < bar.time) i++;
      if (i < this.bars.length && this.bars[i].time === bar.time) this.bars[i] = bar;
      else if (i >= this.bars.length) this.bars.push(bar);
      else this.bars.splice(i, 0, bar);
      i++;
    }
    this.markChanged(changedFrom);
  }

  // --- live ------------------------------------------------------------------------------

  onTick(msg) {
    const data = msg.data || {};
    const trades = data.trades;
    if (trades && trades.t.length) {
      if (!this.bars.length) this.build(); // a symbol's very first trades
      const tf = this.tfSeconds();
      const session = tf >= 86400;
      for (let k = 0; k < trades.t.length; k++) {
        const t = trades.t[k] / 1000;
        const last = this.bars[this.bars.length - 1];
        if (session && (!last || t >= last.time + tf)) {
          this.resync('session'); // the session decides where a daily bar starts
          break;
        }
        this.addTrade(session ? last.time : Math.floor(t / tf) * tf, trades.p[k], trades.s[k], trades.side[k]);
      }
      if (data.summary && data.summary.count > trades.t.length) this.resync('capped');
    }
    if (data.bars && data.bars.length) this.resync('bars'); // Sierra bars: take the stored ones
  }

  addTrade(bucket, price, size, side) {
    const bars = this.bars;
    let i = bars.length - 1;
    if (i < 0 || bucket > bars[i].time) {
      bars.push({
        time: bucket, open: price, high: price, low: price, close: price, volume: size,
        bid_volume: side < 0 ? size : 0, ask_volume: side > 0 ? size : 0,
      });
      i = bars.length - 1;
      if (bars.length > MAX_BARS + TRIM_SLACK) {
        // drop the oldest bars in one go (a setData), not one per new bar
        const removed = bars.length - MAX_BARS;
        bars.splice(0, removed);
        this.trimmed += removed;
        this.needsFull = true;
        this.exhausted = false;
        i = bars.length - 1;
      }
    } else {
      while (i > 0 && bars[i].time > bucket) i--;
      if (bars[i].time !== bucket) return; // older than what we hold: the REST history has it
      const b = bars[i];
      if (price > b.high) b.high = price;
      if (price < b.low) b.low = price;
      if (i === bars.length - 1) b.close = price;
      b.volume += size;
      if (side > 0) b.ask_volume = (b.ask_volume || 0) + size;
      else if (side < 0) b.bid_volume = (b.bid_volume || 0) + size;
    }
    this.markChanged(i);
  }

  onBarClose(msg) {
    if (msg.timeframe !== this.state.timeframe || !this.chart) return;
    this.indicators?.onBarClose();
    // take the stored bar: exact volume even if a message raced the first REST read
    const now = Date.now();
    if (now - this.lastCorrection > 5000) {
      this.lastCorrection = now;
      this.resync('close');
    }
  }

  onResync(reason) {
    this.resync(reason);
  }

  markChanged(index) {
    this.changedFrom = this.changedFrom === null ? index : Math.min(this.changedFrom, index);
    requestFlush(this);
  }

  // --- rendering ---------------------------------------------------------------------------

  renderAll() {
    if (!this.chart) return;
    this.changedFrom = null;
    this.needsFull = false;
    this.ctx.cache = {};
    // after trimming old bars off the front, keep the view on the same bars (by logical
    // index it would jump forward by the number of bars removed)
    const ts = this.chart.timeScale();
    const range = this.trimmed ? ts.getVisibleLogicalRange() : null;
    const firstTime = range && this.display.length ? this.display[Math.max(0, Math.floor(range.from))]?.time : null;
    this.display = this.bars.length ? this.type.full(this.bars, this.ctx) : [];
    this.series.setData(this.display);
    if (range && firstTime !== null && firstTime !== undefined) {
      const shift = Math.floor(range.from) - Math.max(0, indexAtOrBefore(this.display, firstTime));
      ts.setVisibleLogicalRange({ from: range.from - shift, to: range.to - shift });
    }
    this.trimmed = 0;
    const source = this.volumeSource();
    this.volume.setData(source.map((d, i) => this.volumeItem(source, i)));
    this.cell.querySelector('.pane-message').textContent = this.bars.length ? '' : 'No data yet';
    this.drawings?.refresh();
    for (const handle of this.overlays.values()) handle.update?.({ full: true });
    this.showLegend();
  }

  /** Bars whose volume the volume pane shows: the raw bars, or the derived bricks/bars
   *  of types that rebuild the time axis (Renko, range bars). */
  volumeSource() {
    return this.type.point ? this.bars : this.display;
  }

  volumeItem(source, i) {
    const d = source[i];
    const up = i > 0 ? d.close >= source[i - 1].close : d.close >= d.open;
    const p = this.ctx.palette;
    return { time: d.time, value: d.volume || 0, color: up ? p.upAlpha : p.downAlpha };
  }

  flush() {
    if (this.destroyed || !this.chart || this.changedFrom === null) return;
    const from = this.changedFrom;
    this.changedFrom = null;
    const type = this.type;
    if (this.needsFull || this.bars.length - from > INCREMENTAL_LIMIT) return this.renderAll();
    if (type.point) {
      const known = this.display.length;
      for (let i = from; i < this.bars.length; i++) {
        const item = type.point(this.bars, i, this.ctx);
        this.display[i] = item;
        const historical = i < known - 1;
        this.series.update(item, historical);
        this.volume.update(this.volumeItem(this.bars, i), historical);
      }
    } else {
      // rebuilt types (Renko, range bars) only ever change their last item or append
      const next = type.full(this.bars, this.ctx);
      const prev = this.display;
      const start = Math.max(0, prev.length - 1);
      const sameHead =
        next.length >= prev.length &&
        (start === 0 || next[start - 1].time === prev[start - 1].time) &&
        (!prev.length || next[start].time === prev[start].time);
      if (!sameHead) return this.renderAll();
      this.display = next;
      for (let i = start; i < next.length; i++) {
        this.series.update(next[i]);
        this.volume.update(this.volumeItem(next, i));
      }
    }
    if (this.display.length === 1) this.cell.querySelector('.pane-message').textContent = '';
    this.indicators?.onLive();
    for (const handle of this.overlays.values()) handle.update?.({ full: false });
    if (!this.hovered) this.showLegend();
  }

  // --- crosshair, legend and sync -------------------------------------------------------

  onCrosshair(param) {
    const item = param.time !== undefined ? param.seriesData.get(this.series) : null;
    this.hovered = item || null;
    this.showLegend();
    this.indicators?.showValues(param);
    if (param.sourceEvent) this.env.crosshair(this, param.time ?? null, item);
  }

  showLegend() {
    // OHLCV of the bar under the crosshair: the raw bar for types drawn bar by bar (a line
    // chart still shows the bar's OHLC), the brick itself for Renko and range bars
    const source = this.type.legendFromDisplay ? this.display : this.volumeSource();
    const hovered = this.hovered;
    let i = source.length - 1;
    if (hovered) i = indexAtOrBefore(source, hovered.time);
    const item = i >= 0 ? source[i] : null;
    const prev = i > 0 ? source[i - 1] : null;
    this.legend.show(item, prev ? prev.close : undefined, this.meta.precision ?? 2);
  }

  /** Show a crosshair at ``time`` coming from another pane of the same sync group. */
  syncCrosshair(time, item) {
    if (!this.chart) return;
    if (time === null || !this.display.length) {
      this.chart.clearCrosshairPosition();
      return;
    }
    const i = indexAtOrBefore(this.display, time);
    if (i < 0) return this.chart.clearCrosshairPosition();
    const bar = this.display[i];
    this.chart.setCrosshairPosition(bar.close ?? bar.value, bar.time, this.series);
  }

  // --- overlays (volume profile etc., registered by other modules) ---------------------

  /** Attach a registered overlay: ``def.attach(pane)`` returns {update({full}), detach()}. */
  addOverlay(id) {
    const def = overlay(id);
    if (!def || !this.chart || this.overlays.has(id)) return false;
    this.overlays.set(id, def.attach(this));
    return true;
  }

  removeOverlay(id) {
    this.overlays.get(id)?.detach?.();
    this.overlays.delete(id);
  }

  // --- misc ------------------------------------------------------------------------------

  serialize() {
    return {
      symbol: this.state.symbol,
      timeframe: this.state.timeframe,
      chart_type: this.state.chart_type,
      options: this.state.options,
      indicators: this.state.indicators,
      chart: this.state.chart ?? null,
      sync: this.state.sync || { symbol: null, crosshair: null },
    };
  }

  destroy() {
    this.destroyed = true;
    this.generation++;
    this.unsubscribe?.();
    clearTimeout(this.resyncTimer);
    for (const id of [...this.overlays.keys()]) this.removeOverlay(id);
    this.indicators?.destroy();
    this.drawings?.destroy();
    this.chart?.remove();
  }
}

function toBar(b) {
  return {
    time: b.time,
    open: b.open,
    high: b.high,
    low: b.low,
    close: b.close,
    volume: b.volume,
    bid_volume: b.bid_volume,
    ask_volume: b.ask_volume,
  };
}

export { withAlpha, palette };
