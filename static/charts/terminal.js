// The chart page (templates/charts/terminal.html): one or more ChartPanes in a grid, the
// toolbar, the live connection, sync groups and saving. Page config comes from the
// ``chart-config`` json_script (apps/charts/views.py ``_terminal``).
//
// Saving: the chart page (mode "chart") saves its single chart to /api/v1/charts/<id>/;
// a workspace (mode "workspace") saves its whole layout to /api/v1/workspaces/<id>/, whose
// answer carries the saved-chart id of every pane (drawings hang off those). Read-only
// views (someone else's public workspace) never save.

import { MarketSocket } from './live.js';
import { ChartPane } from './pane.js';
import { palette } from './theme.js';
import { setZoneTables } from './timezone.js';
import { getJSON, sendJSON, postForm, ApiError } from './api.js';
import { registerChartType, registerOverlay, chartTypes } from './chart-types.js';

performance.mark('tf:start');
const config = JSON.parse(document.getElementById('chart-config').textContent);
setZoneTables(config.zones);
const SAVE_DELAY = 500;

class Terminal {
  constructor() {
    this.config = config;
    this.readonly = config.readonly;
    this.urls = config.urls;
    this.symbols = new Map(Object.entries(config.symbols || {}));
    this.grid = document.getElementById('grid');
    this.layout = config.layout;
    this.panes = [];
    this.active = null;
    this.saveTimer = null;
    this.saving = null;
    this.dirty = false;
    this.crosshairBusy = false;
    this.socket = new MarketSocket(this.urls.ws, { held: true }); // released after the first candle
    this.pal = palette();
    this.toasts = document.getElementById('toasts');
    this.firstCandle = null;
    this.toolbar = null;
    this.ready = null; // the deferred modules (toolbar, indicators, drawings), once loaded
    this.readyWaiters = [];
    this.env = this.makeEnv();
    this.buildPanes();
    performance.mark('tf:panes');
    this.setActive(this.panes[this.layout.active || 0] || this.panes[0]);
    document.addEventListener('keydown', (e) => this.key(e));
    window.addEventListener('beforeunload', () => this.flushSave());
    // everything the first candle does not need loads after it (or after 1.5 s at most)
    this.readyTimer = setTimeout(() => this.loadDeferred(), 1500);
  }

  async loadDeferred() {
    if (this.loadingDeferred) return;
    this.loadingDeferred = true;
    clearTimeout(this.readyTimer);
    this.socket.release();
    const htmxLoaded = loadHtmx(this.urls.htmx);
    const mods = await import('./deferred.js');
    this.ready = mods;
    this.toolbar = mods.setupToolbar(this);
    this.socket.onStatus((s) => this.toolbar.status(s));
    this.toolbar.refresh();
    for (const fn of this.readyWaiters.splice(0)) fn(mods);
    this.loadPlugins();
    await htmxLoaded;
    document.documentElement.dataset.ready = '1';
  }

  whenReady(fn) {
    if (this.ready) fn(this.ready);
    else this.readyWaiters.push(fn);
  }

  makeEnv() {
    const t = this;
    return {
      get readonly() {
        return t.readonly;
      },
      urls: t.urls,
      socket: t.socket,
      initialBars: config.initial_bars,
      palette: () => t.pal,
      symbolMeta: (code) => t.meta(code),
      userZone: () => config.user.timezone,
      defaultTzMode: () => (config.user.timezone ? 'user' : 'exchange'),
      changed: (pane) => t.paneChanged(pane),
      loaded: (pane) => t.paneLoaded(pane),
      crosshair: (pane, time, item) => t.crosshair(pane, time, item),
      activate: (pane) => t.setActive(pane),
      ensureChart: (pane) => t.ensureChart(pane),
      notify: (text) => t.notify(text),
      editIndicator: (pane, conf) => t.toolbar?.editIndicator(pane, conf),
      whenReady: (fn) => t.whenReady(fn),
    };
  }

  meta(code) {
    code = code.toUpperCase();
    let meta = this.symbols.get(code);
    if (!meta) {
      meta = { symbol: code, name: '', exchange: '', tick_size: 0.01, precision: 2, timezone: 'UTC', is_simulated: false, pending: true };
      this.symbols.set(code, meta);
      this.fetchMeta(code);
    }
    return meta;
  }

  async fetchMeta(code) {
    try {
      const rows = await getJSON(`/api/v1/symbols/?search=${encodeURIComponent(code.split(':')[0])}`);
      const list = Array.isArray(rows) ? rows : rows.results || [];
      const found = list.find((s) => s.symbol.toUpperCase() === code.split(':')[0]);
      if (!found) return;
      this.rememberMeta(found);
      for (const pane of this.panes) if (pane.state.symbol === code) pane.setMeta(this.symbols.get(code));
      if (this.active?.state.symbol === code) this.toolbar?.refresh();
    } catch (err) {
      console.warn('symbol meta', err);
    }
  }

  rememberMeta(meta) {
    this.symbols.set(meta.symbol.toUpperCase(), { ...meta, tick_size: Number(meta.tick_size) });
  }

  // --- panes -----------------------------------------------------------------------------

  buildPanes() {
    const cells = [...this.grid.querySelectorAll('.pane')];
    this.layout.panes.forEach((state, i) => {
      const cell = cells[i] || this.newCell(i);
      this.panes.push(this.createPane(cell, state));
    });
    this.grid.dataset.grid = String(this.layout.grid);
    for (const pane of this.panes) pane.reload();
  }

  newCell(i) {
    const cell = document.createElement('div');
    cell.className = 'pane';
    cell.dataset.index = String(i);
    cell.innerHTML = '<div class="pane-chart"></div><div class="legend"></div><div class="pane-legends"></div><div class="pane-message"></div><div class="pane-sync"></div>';
    this.grid.appendChild(cell);
    return cell;
  }

  createPane(cell, state) {
    const pane = new ChartPane(cell, state, this.env);
    cell.addEventListener('mousedown', () => this.setActive(pane), true);
    this.renderSyncBadges(pane);
    return pane;
  }

  setActive(pane) {
    if (!pane || pane === this.active) return;
    this.active?.cell.classList.remove('active');
    this.active = pane;
    pane.cell.classList.add('active');
    this.toolbar?.refresh();
  }

  setGrid(n) {
    if (this.readonly || n === this.panes.length) return;
    if (n > config.limits.charts_per_layout) {
      this.notify(`Your plan (${config.user.tier}) allows ${config.limits.charts_per_layout} charts per layout. Upgrade your plan to use more.`);
      return;
    }
    while (this.panes.length > n) {
      const pane = this.panes.pop();
      pane.destroy();
      pane.cell.remove();
      if (pane === this.active) this.active = null;
    }
    const template = (this.active || this.panes[this.panes.length - 1]).serialize();
    while (this.panes.length < n) {
      const cell = this.newCell(this.panes.length);
      const state = { ...structuredClone(template), chart: null, indicators: [], sync: { symbol: null, crosshair: null } };
      const pane = this.createPane(cell, state);
      this.panes.push(pane);
      pane.reload();
    }
    this.grid.dataset.grid = String(n);
    this.layout.grid = n;
    if (!this.active) this.setActive(this.panes[0]);
    this.scheduleSave(0);
    this.toolbar?.refresh();
  }

  // --- symbol & crosshair sync -----------------------------------------------------------

  groupOf(pane, kind) {
    return pane.state.sync?.[kind] || null;
  }

  setSymbol(pane, code) {
    const group = this.groupOf(pane, 'symbol');
    const targets = group ? this.panes.filter((p) => this.groupOf(p, 'symbol') === group) : [pane];
    for (const p of targets) p.setSymbol(code);
    this.toolbar?.refresh();
  }

  setSync(pane, kind, group) {
    pane.state.sync = { symbol: null, crosshair: null, ...pane.state.sync, [kind]: group || null };
    this.renderSyncBadges(pane);
    if (kind === 'symbol' && group) {
      const leader = this.panes.find((p) => p !== pane && this.groupOf(p, 'symbol') === group);
      if (leader) pane.setSymbol(leader.state.symbol);
    }
    this.paneChanged(pane);
  }

  renderSyncBadges(pane) {
    const el = pane.cell.querySelector('.pane-sync');
    if (!el) return;
    const s = pane.state.sync || {};
    el.innerHTML = '';
    for (const [kind, label] of [['symbol', 'S'], ['crosshair', '+']]) {
      if (!s[kind]) continue;
      const b = document.createElement('span');
      b.className = `sync-badge sync-${s[kind]}`;
      b.title = `${kind} sync group ${s[kind].toUpperCase()}`;
      b.textContent = `${label}${s[kind].toUpperCase()}`;
      el.appendChild(b);
    }
  }

  crosshair(source, time, item) {
    const group = this.groupOf(source, 'crosshair');
    if (!group || this.crosshairBusy) return;
    this.crosshairBusy = true;
    try {
      for (const pane of this.panes) {
        if (pane !== source && this.groupOf(pane, 'crosshair') === group) pane.syncCrosshair(time, item);
      }
    } finally {
      this.crosshairBusy = false;
    }
  }

  // --- saving ----------------------------------------------------------------------------

  paneChanged(pane) {
    if (pane === this.active) this.toolbar?.refresh();
    if (this.config.mode === 'chart') {
      const url = new URL(location.href);
      if (url.searchParams.get('tf') !== pane.state.timeframe) {
        url.searchParams.set('tf', pane.state.timeframe);
        history.replaceState(null, '', url);
      }
    }
    this.scheduleSave();
  }

  scheduleSave(delay = SAVE_DELAY) {
    if (this.readonly) return;
    this.dirty = true;
    this.toolbar?.saveState('pending');
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.save(), delay);
  }

  serializeLayout() {
    return {
      grid: this.panes.length,
      active: Math.max(0, this.panes.indexOf(this.active)),
      panes: this.panes.map((p) => p.serialize()),
    };
  }

  async save() {
    clearTimeout(this.saveTimer);
    if (this.readonly || !this.dirty) return this.saving;
    if (this.saving) {
      await this.saving.catch(() => {});
      return this.save();
    }
    this.dirty = false;
    this.toolbar?.saveState('saving');
    this.saving = this.doSave()
      .then(() => this.toolbar?.saveState(this.dirty ? 'pending' : 'saved'))
      .catch((err) => {
        this.toolbar?.saveState('error');
        this.notify(err instanceof ApiError ? err.message : 'Could not save (offline?); retrying…');
        if (!(err instanceof ApiError) || err.status >= 500) this.scheduleSave(3000);
      })
      .finally(() => {
        this.saving = null;
      });
    return this.saving;
  }

  async doSave() {
    if (this.config.mode === 'chart') {
      const state = this.panes[0].serialize();
      await sendJSON('PATCH', `${this.urls.charts}${this.config.chart}/`, {
        timeframe: state.timeframe,
        chart_type: state.chart_type,
        options: state.options,
        indicators: state.indicators,
      });
      return;
    }
    const body = await sendJSON('PATCH', `${this.urls.workspaces}${this.config.workspace.id}/`, {
      layout_config: this.serializeLayout(),
    });
    const saved = body.layout_config.panes;
    this.panes.forEach((pane, i) => {
      const chart = saved[i]?.chart ?? null;
      if (chart !== pane.state.chart) {
        const hadNone = !pane.state.chart;
        pane.state.chart = chart;
        if (!hadNone || !pane.drawings?.items.length) pane.drawings?.reload();
      }
    });
    this.grid.dataset.saved = String(Date.now());
  }

  async ensureChart(pane) {
    if (pane.state.chart) return;
    this.dirty = true;
    await this.save();
    if (!pane.state.chart) throw new Error('the chart is not saved yet');
  }

  flushSave() {
    if (!this.dirty || this.readonly) return;
    // keepalive lets the request finish after the page is gone
    const url = this.config.mode === 'chart'
      ? `${this.urls.charts}${this.config.chart}/`
      : `${this.urls.workspaces}${this.config.workspace.id}/`;
    const state = this.panes[0].serialize();
    const body = this.config.mode === 'chart'
      ? { timeframe: state.timeframe, chart_type: state.chart_type, options: state.options, indicators: state.indicators }
      : { layout_config: this.serializeLayout() };
    const token = JSON.parse(document.body.getAttribute('hx-headers') || '{}')['X-CSRFToken'];
    fetch(url, {
      method: 'PATCH',
      keepalive: true,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': token },
      body: JSON.stringify(body),
    });
  }

  // --- misc ------------------------------------------------------------------------------

  paneLoaded() {
    if (this.firstCandle === null) {
      requestAnimationFrame(() => {
        if (this.firstCandle === null) {
          this.firstCandle = performance.now();
          document.documentElement.dataset.firstCandle = String(Math.round(this.firstCandle));
          setTimeout(() => this.loadDeferred(), 0); // after the frame that shows the candles
        }
      });
    }
  }

  key(e) {
    const target = e.target;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT' || target.isContentEditable)) return;
    const pane = this.active;
    if (!pane || !pane.drawings) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z') {
      if (pane.drawings.undo()) e.preventDefault();
      return;
    }
    if (pane.drawings.interaction.key(e)) e.preventDefault();
  }

  notify(text) {
    const el = document.createElement('div');
    el.className = 'toast';
    el.textContent = text;
    this.toasts.appendChild(el);
    setTimeout(() => el.classList.add('out'), 5000);
    setTimeout(() => el.remove(), 5600);
  }

  applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    this.pal = palette();
    for (const pane of this.panes) pane.applyTheme();
    if (!this.readonly || document.body.dataset.user) {
      postForm(this.urls.preferences, { theme }).catch(() => {});
    }
  }

  rebuildPane(pane) {
    const index = this.panes.indexOf(pane);
    const state = pane.serialize();
    pane.destroy();
    const cell = pane.cell;
    cell.querySelector('.pane-chart').innerHTML = '';
    cell.querySelector('.pane-legends').innerHTML = '';
    const fresh = this.createPane(cell, state);
    this.panes[index] = fresh;
    if (this.active === pane) {
      this.active = null;
      this.setActive(fresh);
    }
    fresh.reload();
    return fresh;
  }

  async loadPlugins() {
    for (const url of config.plugins || []) {
      try {
        const module = await import(url);
        module.install?.({ registerChartType, registerOverlay, terminal: this });
      } catch (err) {
        console.error('plugin', url, err);
      }
    }
  }
}

/** base.html's htmx, which the chart page leaves out of its head (the first candle does not
 *  need it): added once the document is complete, where htmx initialises at once (added
 *  between DOMContentLoaded and load it would wait for DOMContentLoaded forever). */
function loadHtmx(src) {
  if (!src || window.htmx) return Promise.resolve();
  return new Promise((resolve) => {
    const add = () => {
      const script = document.createElement('script');
      script.src = src;
      script.onload = script.onerror = () => resolve();
      document.head.appendChild(script);
    };
    if (document.readyState === 'complete') add();
    else window.addEventListener('load', add, { once: true });
  });
}

/** Start once lightweight-charts is there: its script loads ``async`` beside this module
 *  (templates/charts/terminal.html), so that it is usually evaluated while the page's
 *  bars are still arriving; this module runs when the page is parsed, after the bars. */
function start() {
  const terminal = new Terminal();
  // for other modules, tests and benchmarks (chart types, overlays, panes)
  window.tradeflow = { terminal, registerChartType, registerOverlay, chartTypes };
}

if (window.LightweightCharts) start();
else document.getElementById('lwc-script').addEventListener('load', start, { once: true });
