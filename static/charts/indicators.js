// Indicators on a pane, from the indicators API (SPEC section 4):
//   GET catalog  -> [{name, title, group, kind, overlay, params: [{name, type, default, min, max}], outputs}]
//   GET history?symbol&timeframe&indicator=RSI_14&lookback=N
//        -> {indicator, overlay, kind, outputs, series: [{time, value, <output>: v}], markers}
// Overlays draw on the price pane; oscillators get their own pane below the volume pane
// (removing the indicator removes its pane). After the history, values arrive live from
// /ws/indicators/ (indicator-stream.js); while that socket is down, the tail is re-read
// through REST at most every LIVE_MS. The add/edit dialog is indicator-dialog.js.

import { getJSON, ApiError } from './api.js';
import { formatPrice } from './legend.js';
import { baseCode } from './live.js';
import { indicatorStream } from './indicator-stream.js';

const LIVE_MS = 1500;
const MAX_LOOKBACK = 5000;
const COLORS = ['#2962ff', '#ff9800', '#e91e63', '#00bcd4', '#ab47bc', '#66bb6a', '#fdd835', '#8d6e63'];
const HISTOGRAM_OUTPUTS = /hist/i;

let catalogPromise = null;
export function loadCatalog(url) {
  if (!catalogPromise) {
    catalogPromise = getJSON(url)
      .then((body) => (Array.isArray(body) ? body : body.indicators || body.results || []))
      .catch((err) => {
        catalogPromise = null;
        throw err;
      });
  }
  return catalogPromise;
}

export function specName(spec) {
  return spec.split('_')[0].toUpperCase();
}

let counter = 0;
const newId = () => `i${Date.now().toString(36)}${(counter++).toString(36)}`;

export class IndicatorSet {
  constructor(pane) {
    this.pane = pane;
    this.items = new Map(); // id -> {conf, series: Map(output -> series), markers, row, data, error}
    this.stream = indicatorStream(pane.env.urls.indicator_stream || '/ws/indicators/');
    this.lastLive = 0;
    this.liveTimer = null;
    this.legend = pane.cell.querySelector('.lg-indicators');
    this.paneLegends = pane.cell.querySelector('.pane-legends');
    this.placing = false;
    this.resize = new ResizeObserver(() => this.placePaneLegends());
    this.resize.observe(pane.cell);
  }

  get confs() {
    return this.pane.state.indicators;
  }

  /** (Re)load every indicator's history (after new bars, a symbol or timeframe change). */
  reload() {
    const wanted = new Set(this.confs.map((c) => c.id));
    for (const id of [...this.items.keys()]) if (!wanted.has(id)) this.drop(id);
    for (const conf of this.confs) this.fetch(conf, this.lookback());
  }

  lookback() {
    return Math.max(50, Math.min(MAX_LOOKBACK, this.pane.bars.length || 500));
  }

  add(spec) {
    const conf = { id: newId(), spec, visible: true, color: COLORS[this.confs.length % COLORS.length] };
    this.confs.push(conf);
    this.fetch(conf, this.lookback());
    this.pane.env.changed(this.pane);
    return conf;
  }

  replace(id, spec) {
    const conf = this.confs.find((c) => c.id === id);
    if (!conf) return;
    this.drop(id);
    conf.spec = spec;
    this.fetch(conf, this.lookback());
    this.pane.env.changed(this.pane);
  }

  remove(id) {
    const index = this.confs.findIndex((c) => c.id === id);
    if (index < 0) return;
    this.confs.splice(index, 1);
    this.drop(id);
    this.pane.env.changed(this.pane);
  }

  toggle(id) {
    const conf = this.confs.find((c) => c.id === id);
    if (!conf) return;
    conf.visible = !conf.visible;
    const item = this.items.get(id);
    if (item) for (const s of item.series.values()) s.applyOptions({ visible: conf.visible });
    item?.row?.classList.toggle('hidden-ind', !conf.visible);
    this.pane.env.changed(this.pane);
  }

  drop(id) {
    const item = this.items.get(id);
    if (!item) return;
    item.abort?.abort();
    item.unsubscribe?.();
    for (const s of item.series.values()) this.pane.chart.removeSeries(s);
    item.markers?.detach?.();
    item.row?.remove();
    this.items.delete(id);
    this.placePaneLegends();
  }

  async fetch(conf, lookback) {
    const pane = this.pane;
    let item = this.items.get(conf.id);
    if (!item) {
      item = { conf, series: new Map(), row: null, data: null, error: null, busy: false };
      this.items.set(conf.id, item);
    }
    item.abort?.abort();
    const abort = new AbortController();
    item.abort = abort;
    const url = `${pane.env.urls.indicator_history}?symbol=${encodeURIComponent(pane.state.symbol)}` +
      `&timeframe=${pane.state.timeframe}&indicator=${encodeURIComponent(conf.spec)}&lookback=${lookback}`;
    item.busy = true;
    try {
      const body = await getJSON(url, { signal: abort.signal });
      if (this.items.get(conf.id) !== item) return;
      item.error = null;
      this.render(item, body, lookback < this.lookback());
    } catch (err) {
      if (err.name === 'AbortError') return;
      item.error = err instanceof ApiError ? err.message : 'indicator unavailable';
      this.renderRow(item);
    } finally {
      item.busy = false;
    }
  }

  render(item, body, partial) {
    const chart = this.pane.chart;
    const LWC = window.LightweightCharts;
    const outputs = body.outputs && body.outputs.length ? body.outputs : ['value'];
    item.outputs = outputs;
    item.overlay = !!body.overlay;
    item.kind = body.kind || 'line';
    item.name = body.indicator || item.conf.spec;
    if (item.kind === 'pattern') {
      let markers = (body.markers || (body.series || []).filter((r) => r.value))
        .map((m) => marker(m, this.pane.ctx.palette))
        .filter(Boolean);
      if (partial && item.markerList) {
        // a tail refresh: keep the older markers, replace those in the refreshed window
        const from = (body.series || [])[0]?.time ?? Infinity;
        markers = item.markerList.filter((m) => m.time < from).concat(markers);
      }
      item.markerList = markers;
      if (!item.markers) item.markers = LWC.createSeriesMarkers(this.pane.series, markers);
      else item.markers.setMarkers(markers);
      item.data = body.series || [];
      this.renderRow(item);
      return;
    }
    if (!item.series.size) {
      const paneIndex = item.overlay ? 0 : chart.panes().length;
      outputs.forEach((out, k) => {
        const color = k === 0 && item.conf.color ? item.conf.color : COLORS[(k + 1) % COLORS.length];
        const common = {
          priceLineVisible: false,
          lastValueVisible: !item.overlay,
          visible: item.conf.visible !== false,
          priceFormat: item.overlay
            ? { type: 'price', precision: this.pane.meta.precision ?? 2, minMove: this.pane.meta.tick_size || 0.01 }
            : { type: 'price', precision: 2, minMove: 0.01 },
        };
        const series = !item.overlay && HISTOGRAM_OUTPUTS.test(out) && outputs.length > 1
          ? chart.addSeries(LWC.HistogramSeries, { ...common, color: withAlphaHex(color) }, paneIndex)
          : chart.addSeries(LWC.LineSeries, { ...common, color, lineWidth: item.overlay ? 1.5 : 1.5 }, paneIndex);
        item.series.set(out, series);
      });
      if (!item.overlay) series0(item).getPane().setStretchFactor(0.3);
    }
    const rows = body.series || [];
    outputs.forEach((out) => {
      const series = item.series.get(out);
      const key = outputs.length === 1 ? 'value' : out;
      const histogram = series.seriesType() === 'Histogram';
      const p = this.pane.ctx.palette;
      const points = rows.map((r) => {
        const v = r[key] ?? (outputs.length === 1 ? r[out] : undefined);
        if (!Number.isFinite(v)) return { time: r.time };
        return histogram ? { time: r.time, value: v, color: v >= 0 ? p.upAlpha : p.downAlpha } : { time: r.time, value: v };
      });
      if (partial && item.data && points.length) {
        const last = series.data();
        const lastTime = last.length ? last[last.length - 1].time : -Infinity;
        for (const pt of points) if (pt.time >= lastTime) series.update(pt);
      } else {
        series.setData(points);
      }
    });
    item.data = partial && item.data ? mergeRows(item.data, rows) : rows;
    if (!item.overlay && !partial) this.autoPrecision(item, rows, outputs);
    this.renderRow(item);
    this.placePaneLegends();
    this.follow(item, body.indicator_id || body.indicator);
  }

  /** Oscillator decimals from the values' size (RSI: 2, a MACD of EUR/USD: 6). */
  autoPrecision(item, rows, outputs) {
    const sample = [];
    for (let i = Math.max(0, rows.length - 200); i < rows.length; i++) {
      for (const out of outputs) {
        const v = rows[i][outputs.length === 1 ? 'value' : out];
        if (Number.isFinite(v) && v !== 0) sample.push(Math.abs(v));
      }
    }
    sample.sort((a, b) => a - b);
    const typical = sample.length ? sample[sample.length >> 1] : 1;
    const precision = typical >= 100 ? 1 : typical >= 1 ? 2 : Math.min(8, Math.ceil(-Math.log10(typical)) + 2);
    item.precision = precision;
    for (const series of item.series.values()) {
      series.applyOptions({ priceFormat: { type: 'price', precision, minMove: 10 ** -precision } });
    }
  }

  /** Live values of ``item`` from the indicator stream (re-subscribed on symbol/tf change). */
  follow(item, canonical) {
    const symbol = baseCode(this.pane.state.symbol);
    const key = `${symbol}|${this.pane.state.timeframe}|${canonical}`;
    if (!canonical || item.followKey === key) return;
    item.unsubscribe?.();
    item.followKey = key;
    item.unsubscribe = this.stream.subscribe(symbol, this.pane.state.timeframe, canonical, (msg) =>
      this.live(item, msg),
    );
  }

  live(item, msg) {
    if (this.items.get(item.conf.id) !== item) return;
    if (item.kind === 'pattern') {
      if (!msg.closed || !msg.value) return;
      const m = marker({ time: msg.time, value: msg.value }, this.pane.ctx.palette);
      if (!m || (item.markerList || []).some((x) => x.time === m.time)) return;
      item.markerList = [...(item.markerList || []), m];
      item.markers?.setMarkers(item.markerList);
      return;
    }
    const p = this.pane.ctx.palette;
    const outputs = item.outputs || ['value'];
    for (const out of outputs) {
      const series = item.series.get(out);
      if (!series) continue;
      const v = outputs.length > 1 && msg.values ? msg.values[out] : msg.value;
      const data = series.data();
      const lastTime = data.length ? data[data.length - 1].time : -Infinity;
      const point = !Number.isFinite(v)
        ? { time: msg.time }
        : series.seriesType() === 'Histogram'
          ? { time: msg.time, value: v, color: v >= 0 ? p.upAlpha : p.downAlpha }
          : { time: msg.time, value: v };
      try {
        series.update(point, msg.time < lastTime);
      } catch {
        // a value for a bar this pane has not drawn yet: the next history read has it
      }
    }
    this.showValues(null, item);
  }

  renderRow(item) {
    const host = item.overlay === false ? this.paneLegends : this.legend;
    if (!item.row) {
      item.row = document.createElement('div');
      item.row.className = 'lg-ind';
      item.row.dataset.id = item.conf.id;
      item.row.innerHTML = `<span class="ind-name"></span><span class="ind-values"></span>
        <span class="ind-tools">
          <button type="button" data-act="toggle" title="Show/hide">◉</button>
          <button type="button" data-act="edit" title="Settings">⚙</button>
          <button type="button" data-act="remove" title="Remove">✕</button>
        </span><span class="ind-error"></span>`;
      item.row.addEventListener('click', (e) => {
        const act = e.target.closest('button')?.dataset.act;
        if (!act || this.pane.env.readonly) return;
        if (act === 'remove') this.remove(item.conf.id);
        if (act === 'toggle') this.toggle(item.conf.id);
        if (act === 'edit') this.pane.env.editIndicator(this.pane, item.conf);
      });
    }
    if (item.row.parentElement !== host) host.appendChild(item.row);
    item.row.querySelector('.ind-name').textContent = item.conf.spec.replaceAll('_', ' ');
    item.row.querySelector('.ind-name').style.color = item.conf.color || '';
    item.row.querySelector('.ind-error').textContent = item.error ? `⚠ ${item.error}` : '';
    item.row.classList.toggle('hidden-ind', item.conf.visible === false);
    this.showValues(null, item);
  }

  /** Values at the crosshair (or the last bar) in the legend rows. */
  showValues(param, only) {
    for (const item of only ? [only] : this.items.values()) {
      if (!item.row || !item.series.size) continue;
      const parts = [];
      for (const [out, series] of item.series) {
        let point = param && param.time !== undefined ? param.seriesData.get(series) : null;
        if (!point) {
          const data = series.data();
          point = data.length ? data[data.length - 1] : null;
        }
        const precision = item.overlay ? this.pane.meta.precision ?? 2 : item.precision ?? 2;
        parts.push(point && Number.isFinite(point.value) ? formatPrice(point.value, precision) : '—');
      }
      item.row.querySelector('.ind-values').textContent = parts.join('  ');
    }
  }

  /** Put each oscillator's legend row at the top of its pane. Pane elements appear on the
   *  chart's next render and move when panes are added, removed or dragged: watch them. */
  placePaneLegends() {
    let missing = false;
    for (const item of this.items.values()) {
      if (item.overlay !== false || !item.row || !item.series.size) continue;
      const el = series0(item).getPane().getHTMLElement();
      if (!el || !el.getBoundingClientRect().height) {
        missing = true;
        continue;
      }
      this.resize.observe(el);
      const top = el.getBoundingClientRect().top - this.pane.cell.getBoundingClientRect().top;
      item.row.style.top = `${Math.round(top) + 4}px`;
    }
    if (missing && !this.placing) {
      this.placing = true;
      requestAnimationFrame(() => {
        this.placing = false;
        this.placePaneLegends();
      });
    }
  }

  onBarClose() {
    if (this.stream.open) return; // the stream sends the closed bar's final values
    for (const conf of this.confs) this.fetch(conf, 3);
  }

  onLive() {
    if (!this.items.size || this.stream.open) return;
    const now = Date.now();
    const wait = LIVE_MS - (now - this.lastLive);
    if (wait > 0) {
      if (!this.liveTimer) this.liveTimer = setTimeout(() => { this.liveTimer = null; this.onLive(); }, wait);
      return;
    }
    this.lastLive = now;
    for (const item of this.items.values()) if (!item.busy) this.fetch(item.conf, 3);
  }

  /** The main series was replaced (chart type change): move pattern markers onto it. */
  reattachMarkers() {
    for (const item of this.items.values()) {
      if (!item.markers) continue;
      item.markers.detach?.();
      item.markers = window.LightweightCharts.createSeriesMarkers(this.pane.series, item.markerList || []);
    }
  }

  applyTheme() {
    for (const item of this.items.values()) {
      if (item.markers) {
        item.markers.detach?.();
        item.markers = null;
      }
    }
    this.reload();
  }

  destroy() {
    clearTimeout(this.liveTimer);
    this.resize.disconnect();
    for (const item of this.items.values()) {
      item.abort?.abort();
      item.unsubscribe?.();
    }
    this.items.clear();
  }
}

function series0(item) {
  return item.series.values().next().value;
}

function withAlphaHex(color) {
  return /^#[0-9a-f]{6}$/i.test(color) ? color + '99' : color;
}

function mergeRows(old, fresh) {
  if (!fresh.length) return old;
  const first = fresh[0].time;
  let i = old.length;
  while (i > 0 && old[i - 1].time >= first) i--;
  return old.slice(0, i).concat(fresh);
}

function marker(m, p) {
  if (!m || m.time === undefined) return null;
  const v = m.value ?? m.signal ?? 0;
  const bull = m.direction ? m.direction === 'bullish' || m.direction === 'up' : v > 0;
  if (!m.shape && !v) return null;
  return {
    time: m.time,
    position: m.position || (bull ? 'belowBar' : 'aboveBar'),
    shape: m.shape || (bull ? 'arrowUp' : 'arrowDown'),
    color: m.color || (bull ? p.up : p.down),
    text: m.text || '',
  };
}
