// Order-flow plugin of the chart terminal (listed in settings.CHART_PLUGINS, loaded by
// terminal.js ``loadPlugins``): the footprint chart type, the volume profile overlays and
// the CVD pane, plus their entries in the chart-type menu.
//
// Overlay choices and the footprint mode live in the pane's options (``of_overlays``,
// ``fp_mode``) for the session of the page.

import { registerFootprint, MODES } from './footprint.js';
import { registerProfiles } from './profile.js';
import { registerCvd } from './cvd.js';

const OVERLAYS = [
  ['volume_profile', 'Volume profile · session'],
  ['volume_profile_visible', 'Volume profile · visible range'],
  ['cvd', 'CVD pane'],
];
const TYPES = ['footprint'];

export function install({ registerChartType, registerOverlay, terminal }) {
  const footprint = registerFootprint({ registerChartType, terminal });
  registerProfiles({ registerOverlay });
  registerCvd({ registerOverlay });

  const api = {
    /** Render stats of the footprint of pane ``i`` (mode, cells, imbalance rects in bitmap px). */
    footprintStats: (i = 0) => footprint.stateOf(terminal.panes[i])?.view?.stats || null,
    footprintData: (i = 0) => footprint.stateOf(terminal.panes[i]) || null,
    overlayStats: (i = 0, id = 'volume_profile') => terminal.panes[i]?.overlays.get(id)?.stats || null,
    toggleOverlay: (pane, id, on) => toggleOverlay(terminal, pane, id, on),
    setFootprintMode: (pane, mode) => setMode(terminal, pane, mode),
  };
  window.tradeflow = { ...(window.tradeflow || {}), orderflow: api };

  // panes already built as candles for a type that did not exist yet
  for (const pane of terminal.panes) {
    if (TYPES.includes(pane.state.chart_type) && pane.chart) {
      pane.createMainSeries();
      pane.renderAll();
    }
    pane.updateTitle?.();
    restoreOverlays(pane);
  }
  const loaded = terminal.env.loaded;
  terminal.env.loaded = (pane) => {
    loaded(pane);
    restoreOverlays(pane);
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
  return true;
}

function setMode(terminal, pane, mode) {
  if (!MODES[mode]) return;
  pane.state.options.fp_mode = mode;
  if (pane.state.chart_type === 'footprint') pane.series?.applyOptions({ mode });
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
  const typeButtons = [item('Footprint', () => terminal.active.setChartType('footprint'), { type: 'footprint' })];
  const modeButtons = Object.entries(MODES).map(([mode, label]) =>
    item(`  Footprint mode: ${label}`, () => setMode(terminal, terminal.active, mode), { fpMode: mode }),
  );
  const overlayButtons = OVERLAYS.map(([id, label]) =>
    item(label, () => toggleOverlay(terminal, terminal.active, id), { overlay: id }),
  );
  menu.appendChild(section);
  const sync = () => {
    const pane = terminal.active;
    if (!pane) return;
    for (const b of typeButtons) b.classList.toggle('on', b.dataset.type === pane.state.chart_type);
    const mode = pane.state.options.fp_mode || 'bidask';
    for (const b of modeButtons) {
      b.classList.toggle('on', b.dataset.fpMode === mode);
      b.hidden = pane.state.chart_type !== 'footprint';
    }
    for (const b of overlayButtons) b.classList.toggle('on', pane.overlays.has(b.dataset.overlay));
  };
  document.getElementById('type-button')?.addEventListener('click', sync);
  sync();
}
