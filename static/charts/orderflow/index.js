// Order-flow plugin of the chart terminal (listed in settings.CHART_PLUGINS, loaded by
// terminal.js ``loadPlugins``): the footprint and TPO chart types, the volume profile
// overlays (session, visible range, fixed range) and the CVD pane, plus their entries in
// the chart-type menu.
//
// Choices live in the pane's options and are saved with the chart or workspace (checked
// server-side by apps/charts/layout.py ``clean_orderflow_options``): ``fp_mode``,
// ``of_overlays``, ``tpo_mode``, ``tpo_period`` and the fixed profile's ``vp_range``.

import { registerFootprint, MODES } from './footprint.js';
import { registerTpo, TPO_MODES } from './tpo.js';
import { registerProfiles, PROFILE_OVERLAYS } from './profile.js';
import { registerCvd } from './cvd.js';

const OVERLAYS = [...PROFILE_OVERLAYS.map(([id, , label]) => [id, label]), ['cvd', 'CVD pane']];
const TYPES = ['footprint', 'tpo'];
const FIXED = 'volume_profile_fixed';
/** Display modes per chart type: the option that holds them and their labels. */
const TYPE_MODES = {
  footprint: { key: 'fp_mode', modes: MODES, label: 'Footprint mode' },
  tpo: { key: 'tpo_mode', modes: TPO_MODES, label: 'TPO display' },
};

export function install({ registerChartType, registerOverlay, terminal }) {
  const footprint = registerFootprint({ registerChartType, terminal });
  const tpo = registerTpo({ registerChartType, terminal });
  registerProfiles({ registerOverlay });
  registerCvd({ registerOverlay });

  const pane = (i) => terminal.panes[i];
  const api = {
    /** Render stats of the footprint of pane ``i`` (mode, cells, imbalance rects in bitmap px). */
    footprintStats: (i = 0) => footprint.stateOf(pane(i))?.view?.stats || null,
    footprintData: (i = 0) => footprint.stateOf(pane(i)) || null,
    /** Render stats of the TPO of pane ``i`` (letters/blocks drawn, POC, value area, IB). */
    tpoStats: (i = 0) => tpo.stateOf(pane(i))?.view?.stats || null,
    tpoData: (i = 0) => tpo.stateOf(pane(i)) || null,
    overlayStats: (i = 0, id = 'volume_profile') => pane(i)?.overlays.get(id)?.stats || null,
    toggleOverlay: (p, id, on) => toggleOverlay(terminal, p, id, on),
    setFootprintMode: (p, mode) => setMode(terminal, p, 'footprint', mode),
    setTpoMode: (p, mode) => setMode(terminal, p, 'tpo', mode),
    /** Start choosing the fixed profile's range on pane ``p`` (switches the overlay on). */
    pickRange: (p) => pickRange(terminal, p),
  };
  window.tradeflow = { ...(window.tradeflow || {}), orderflow: api };

  // panes already built as candles for a type that did not exist yet
  for (const p of terminal.panes) {
    if (TYPES.includes(p.state.chart_type) && p.chart) {
      p.createMainSeries();
      p.renderAll();
    }
    p.updateTitle?.();
    restoreOverlays(p);
  }
  const loaded = terminal.env.loaded;
  terminal.env.loaded = (p) => {
    loaded(p);
    restoreOverlays(p);
  };
  buildMenu(terminal);
  terminal.toolbar?.refresh();
}

function restoreOverlays(pane) {
  if (!pane.chart) return;
  for (const id of pane.state.options.of_overlays || []) pane.addOverlay(id);
}

function toggleOverlay(terminal, pane, id, on) {
  const list = new Set(pane.state.options.of_overlays || []);
  on = on ?? !list.has(id);
  if (on) {
    if (!pane.addOverlay(id) && !pane.overlays.has(id)) return false;
    list.add(id);
  } else {
    pane.removeOverlay(id);
    list.delete(id);
  }
  pane.state.options.of_overlays = [...list];
  if (!list.size) delete pane.state.options.of_overlays;
  terminal.paneChanged(pane);
  // switched on from the menu: the fixed profile asks for its range when it has none
  if (on) pane.overlays.get(id)?.start?.({ cancelled: () => toggleOverlay(terminal, pane, id, false) });
  return true;
}

function pickRange(terminal, pane) {
  if (!pane.overlays.has(FIXED)) return toggleOverlay(terminal, pane, FIXED, true);
  pane.overlays.get(FIXED).pick();
  return true;
}

function setMode(terminal, pane, type, mode) {
  const { key, modes } = TYPE_MODES[type];
  if (!modes[mode]) return;
  pane.state.options[key] = mode;
  if (pane.state.chart_type === type) pane.series?.applyOptions({ mode });
  terminal.paneChanged(pane);
}

function buildMenu(terminal) {
  const menu = document.getElementById('type-menu');
  if (!menu) return;
  const section = document.createElement('div');
  section.className = 'of-menu';
  const item = (text, onClick, data = {}) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'menu-item';
    b.textContent = text;
    Object.assign(b.dataset, data);
    b.addEventListener('click', () => {
      menu.classList.remove('open');
      onClick();
      sync();
    });
    section.appendChild(b);
    return b;
  };
  const note = (text) => {
    const p = document.createElement('p');
    p.className = 'menu-note menu-sep';
    p.style.color = 'var(--muted)';
    p.textContent = text;
    section.appendChild(p);
  };
  note('Order flow');
  const typeButtons = [];
  const modeButtons = [];
  for (const [type, label] of [['footprint', 'Footprint'], ['tpo', 'TPO (Market Profile)']]) {
    typeButtons.push(item(label, () => terminal.active.setChartType(type), { type }));
    const { key, modes, label: modeLabel } = TYPE_MODES[type];
    for (const [mode, text] of Object.entries(modes)) {
      const b = item(`  ${modeLabel}: ${text}`, () => setMode(terminal, terminal.active, type, mode), { modeOf: type, mode });
      b.dataset.optionKey = key;
      modeButtons.push(b);
    }
  }
  const overlayButtons = OVERLAYS.map(([id, label]) =>
    item(label, () => toggleOverlay(terminal, terminal.active, id), { overlay: id }),
  );
  const repick = item('  Fixed range: choose again…', () => pickRange(terminal, terminal.active), { pickRange: '1' });
  menu.appendChild(section);
  const sync = () => {
    const pane = terminal.active;
    if (!pane) return;
    for (const b of typeButtons) b.classList.toggle('on', b.dataset.type === pane.state.chart_type);
    for (const b of modeButtons) {
      const current = pane.state.options[b.dataset.optionKey] || Object.keys(TYPE_MODES[b.dataset.modeOf].modes)[0];
      b.classList.toggle('on', b.dataset.mode === current);
      b.hidden = pane.state.chart_type !== b.dataset.modeOf;
    }
    for (const b of overlayButtons) b.classList.toggle('on', pane.overlays.has(b.dataset.overlay));
    repick.hidden = !pane.overlays.has(FIXED);
  };
  document.getElementById('type-button')?.addEventListener('click', sync);
  sync();
}
