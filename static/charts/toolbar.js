// The terminal's controls: symbol search (an HTMX fragment of results), timeframes, chart
// type menu (from the chart-type registry), indicators, layout grid, sync groups, theme,
// drawing tools, status bar (connection dot, SIM badge, time zone, clock) and save state.
// They always act on the active pane and are refreshed from it (``refresh``).

import { chartTypes, chartType } from './chart-types.js';
import { openIndicatorDialog } from './indicator-dialog.js';
import { setTool, onToolChange } from './drawings/tool.js';
import { formatTime, zoneLabel } from './timezone.js';

const $ = (id) => document.getElementById(id);
const STATUS_TEXT = { live: 'Live', reconnecting: 'Reconnecting…', stale: 'Stale — no data', connecting: 'Connecting…' };

export function setupToolbar(t) {
  const cfg = t.config;

  // dropdowns: a [data-dropdown] button toggles the .menu next to it
  document.addEventListener('click', (e) => {
    const trigger = e.target.closest('[data-dropdown]');
    for (const menu of document.querySelectorAll('.menu.open')) {
      if (!trigger || menu !== trigger.nextElementSibling) {
        if (!menu.contains(e.target)) menu.classList.remove('open');
      }
    }
    if (trigger) trigger.nextElementSibling.classList.toggle('open');
  });

  // --- symbol search ---------------------------------------------------------------------
  const popover = $('symbol-popover');
  const search = $('symbol-search');
  const openSearch = (initial = '') => {
    popover.hidden = false;
    search.value = initial;
    search.focus();
    search.dispatchEvent(new Event('input', { bubbles: true }));
  };
  $('symbol-button').addEventListener('click', () => (popover.hidden ? openSearch() : (popover.hidden = true)));
  document.addEventListener('mousedown', (e) => {
    if (!popover.hidden && !popover.contains(e.target) && !e.target.closest('#symbol-button')) popover.hidden = true;
  });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') popover.hidden = true;
    if (e.key === 'Enter') {
      e.preventDefault();
      $('symbol-results').querySelector('.sym-result')?.click();
    }
  });
  $('symbol-results').addEventListener('click', (e) => {
    const button = e.target.closest('.sym-result');
    if (!button) return;
    const meta = JSON.parse(button.dataset.meta);
    t.rememberMeta(meta);
    popover.hidden = true;
    const code = button.dataset.symbol;
    if (cfg.mode === 'chart') {
      const tf = t.active.state.timeframe;
      location.href = `${cfg.urls.chart_page}${encodeURIComponent(code)}/?tf=${tf}`;
      return;
    }
    t.setSymbol(t.active, code);
  });
  document.addEventListener('keydown', (e) => {
    const tag = e.target.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || e.ctrlKey || e.metaKey || e.altKey) return;
    if (/^[a-zA-Z]$/.test(e.key) && popover.hidden && !document.querySelector('dialog[open]')) {
      e.preventDefault();
      openSearch(e.key.toUpperCase());
    }
  });

  // --- timeframes -------------------------------------------------------------------------
  $('tf-buttons').addEventListener('click', (e) => {
    const b = e.target.closest('[data-tf]');
    if (b) t.active.setTimeframe(b.dataset.tf);
  });

  // --- chart types ------------------------------------------------------------------------
  const typeMenu = $('type-menu');
  const typeItems = [];
  for (const def of chartTypes()) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'menu-item';
    b.dataset.type = def.id;
    b.textContent = def.label;
    b.addEventListener('click', () => {
      typeMenu.classList.remove('open');
      t.active.setChartType(def.id);
    });
    typeItems.push(b);
    typeMenu.appendChild(b);
  }
  const settings = $('type-settings');
  settings.addEventListener('change', (e) => {
    const input = e.target.closest('input');
    if (!input) return;
    const value = Number(input.value);
    const item = (chartType(t.active.state.chart_type).settings || []).find((s) => s.key === input.name);
    t.active.setOption(input.name, item?.parse ? item.parse(value) : value > 0 ? value : null);
  });

  for (const [id, key] of [['opt-log-scale', 'log_scale'], ['opt-hide-volume', 'hide_volume']]) {
    $(id).addEventListener('change', (e) => t.active.setOption(key, e.target.checked || null));
  }

  // --- indicators -------------------------------------------------------------------------
  const openIndicators = (pane, edit = null) =>
    openIndicatorDialog({ pane, edit, urls: cfg.urls, limit: cfg.limits.indicators_per_chart });
  $('indicators-button').addEventListener('click', () => openIndicators(t.active));
  $('indicator-dialog').addEventListener('click', (e) => {
    if (e.target.closest('[data-close]') || e.target === $('indicator-dialog')) $('indicator-dialog').close();
  });

  // --- layout & sync (workspaces) ---------------------------------------------------------
  $('layout-menu')?.addEventListener('click', (e) => {
    const b = e.target.closest('[data-grid]');
    if (!b) return;
    $('layout-menu').classList.remove('open');
    t.setGrid(Number(b.dataset.grid));
  });
  for (const kind of ['symbol', 'crosshair']) {
    $(`sync-${kind}`)?.addEventListener('change', (e) => t.setSync(t.active, kind, e.target.value || null));
  }

  // --- theme, time zone ------------------------------------------------------------------
  $('theme-toggle').addEventListener('click', () => {
    t.applyTheme(document.documentElement.dataset.theme === 'light' ? 'dark' : 'light');
  });
  const tz = $('tz-select');
  tz.addEventListener('change', () => {
    const pane = t.active;
    pane.state.options.tz = tz.value;
    t.rebuildPane(pane);
    t.paneChanged(t.active);
  });

  // --- drawing tools ---------------------------------------------------------------------
  const tools = $('draw-tools');
  tools?.addEventListener('click', (e) => {
    const b = e.target.closest('[data-tool]');
    if (!b) return;
    const tool = b.dataset.tool;
    if (tool === 'undo') return t.active?.drawings?.undo();
    if (tool === 'cursor') return setTool(null);
    setTool(b.classList.contains('on') ? null : tool);
  });
  onToolChange((tool) => {
    for (const b of tools?.querySelectorAll('[data-tool]') || []) {
      b.classList.toggle('on', b.dataset.tool === tool || (tool === null && b.dataset.tool === 'cursor'));
    }
    document.getElementById('grid').classList.toggle('drawing', !!tool);
  });

  // --- status bar ------------------------------------------------------------------------
  const clock = $('clock');
  const tick = () => {
    if (t.active) clock.textContent = `${formatTime(t.active.zone(), Date.now() / 1000, { seconds: true, date: false })} ${zoneLabel(t.active.zone(), Date.now() / 1000)}`;
  };
  setInterval(tick, 1000);
  queueMicrotask(tick);

  const api = {
    refresh() {
      const pane = t.active;
      if (!pane) return;
      const s = pane.state;
      const meta = pane.meta;
      $('symbol-label').textContent = s.symbol;
      for (const b of $('tf-buttons').querySelectorAll('[data-tf]')) b.classList.toggle('on', b.dataset.tf === s.timeframe);
      const type = chartType(s.chart_type);
      $('type-label').textContent = type.label;
      for (const b of typeItems) b.classList.toggle('on', b.dataset.type === type.id);
      settings.innerHTML = '';
      for (const item of type.settings || []) {
        const label = document.createElement('label');
        label.className = 'type-setting';
        label.innerHTML = '<span></span><input type="number" min="0" step="any">';
        label.querySelector('span').textContent = item.label;
        const input = label.querySelector('input');
        input.name = item.key;
        input.step = String(item.step || meta.tick_size || 'any');
        input.value = s.options[item.key] ?? Number(item.default(pane.bars, pane.ctx).toFixed(meta.precision ?? 2));
        settings.appendChild(label);
      }
      settings.hidden = !(type.settings || []).length;
      $('opt-log-scale').checked = !!s.options.log_scale;
      $('opt-hide-volume').checked = !!s.options.hide_volume;
      $('sim-badge').hidden = !meta.is_simulated;
      $('symbol-desc').textContent = [meta.name, meta.exchange].filter(Boolean).join(' · ');
      document.title = `${s.symbol} ${s.timeframe} · TradeFlow`;
      for (const kind of ['symbol', 'crosshair']) {
        const select = $(`sync-${kind}`);
        if (select) select.value = s.sync?.[kind] || '';
      }
      for (const b of document.querySelectorAll('#layout-menu [data-grid]')) b.classList.toggle('on', Number(b.dataset.grid) === t.panes.length);
      const layoutIcon = $('layout-label');
      if (layoutIcon) layoutIcon.textContent = String(t.panes.length);
      // time-zone choices for this symbol
      const mode = s.options.tz || (cfg.user.timezone ? 'user' : 'exchange');
      tz.innerHTML = '';
      const add = (value, text) => {
        const o = document.createElement('option');
        o.value = value;
        o.textContent = text;
        tz.appendChild(o);
      };
      add('exchange', `Exchange · ${meta.timezone || 'UTC'}`);
      if (cfg.user.timezone) add('user', `Mine · ${cfg.user.timezone}`);
      add('utc', 'UTC');
      tz.value = mode === 'user' && !cfg.user.timezone ? 'exchange' : mode;
    },
    status(state) {
      const dot = $('status-dot');
      dot.dataset.state = state;
      $('status-text').textContent = STATUS_TEXT[state] || state;
      document.documentElement.dataset.live = state;
    },
    saveState(state) {
      const el = $('save-state');
      if (!el) return;
      el.dataset.state = state;
      el.textContent = { pending: 'Unsaved', saving: 'Saving…', saved: 'Saved', error: 'Not saved' }[state] || '';
    },
    editIndicator(pane, conf) {
      openIndicators(pane, conf);
    },
  };
  return api;
}
