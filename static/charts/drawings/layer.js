// The drawings of one pane: what is shown (the pane's saved chart and symbol), the mapping
// between chart coordinates and (time, price), server sync and undo.
//
// Server: /api/v1/charts/<chart>/drawings/ (versioned; a stale write answers 409 with the
// stored drawing, which then replaces ours and the user is told). Writes of one drawing
// are serialised; a drag sends one update when the mouse is released.

import { getJSON, sendJSON, ApiError } from '../api.js';
import { indexAtOrBefore } from '../transforms.js';
import { DrawingsPrimitive } from './primitive.js';
import { DrawingInteraction } from './tool.js';
import { geometry, hitTest } from './model.js';

const UNDO_DEPTH = 100;
let measureCtx = null;
function measure(text, size) {
  measureCtx = measureCtx || document.createElement('canvas').getContext('2d');
  measureCtx.font = `${size}px sans-serif`;
  return measureCtx.measureText(text).width;
}

let localIds = 0;

export class DrawingLayer {
  constructor(pane) {
    this.pane = pane;
    this.items = [];
    this.selected = null;
    this.hovered = null;
    this.preview = null;
    this.undoStack = [];
    this.queue = new Map(); // drawing -> promise chain of its writes
    this.generation = 0;
    this.primitive = new DrawingsPrimitive(this);
    this.interaction = new DrawingInteraction(this);
    this.attach();
    this.reload();
  }

  get readonly() {
    return this.pane.env.readonly;
  }

  attach() {
    if (this.pane.series) this.pane.series.attachPrimitive(this.primitive);
  }

  detach() {
    if (this.pane.series) this.pane.series.detachPrimitive(this.primitive);
  }

  refresh() {
    this.primitive.redraw();
  }

  drawings() {
    return this.preview ? [...this.items, this.preview] : this.items;
  }

  url(id) {
    const base = `${this.pane.env.urls.charts}${this.pane.state.chart}/drawings/`;
    return id === undefined ? base : `${base}${id}/`;
  }

  async reload() {
    const generation = ++this.generation;
    this.items = [];
    this.selected = null;
    this.undoStack = [];
    this.refresh();
    if (!this.pane.state.chart) return;
    try {
      const rows = await getJSON(`${this.url()}?symbol=${encodeURIComponent(this.pane.state.symbol)}`);
      if (generation !== this.generation) return;
      this.items = rows;
      this.pane.cell.dataset.drawings = String(rows.length);
      this.refresh();
    } catch (err) {
      console.warn('drawings', err);
    }
  }

  // --- coordinates -------------------------------------------------------------------------

  step() {
    return this.pane.tfSeconds();
  }

  logicalOf(t) {
    const d = this.pane.display;
    const n = d.length;
    if (!n) return 0;
    const step = this.step();
    if (t <= d[0].time) return (t - d[0].time) / step;
    if (t >= d[n - 1].time) return n - 1 + (t - d[n - 1].time) / step;
    const i = indexAtOrBefore(d, t);
    const t0 = d[i].time;
    return t0 === t ? i : i + (t - t0) / (d[i + 1].time - t0);
  }

  timeOfLogical(logical) {
    const d = this.pane.display;
    const n = d.length;
    const k = Math.round(logical);
    if (!n) return 0;
    if (k < 0) return d[0].time + k * this.step();
    if (k > n - 1) return d[n - 1].time + (k - (n - 1)) * this.step();
    return d[k].time;
  }

  view() {
    const pane = this.pane;
    if (!pane.series) return null;
    const ts = pane.chart.timeScale();
    const series = pane.series;
    const precision = pane.meta.precision ?? 2;
    return {
      x: (t) => ts.logicalToCoordinate(this.logicalOf(t)) ?? -1e5,
      y: (p) => series.priceToCoordinate(p) ?? -1e5,
      price: (y) => series.coordinateToPrice(y),
      format: (p) => (Number.isFinite(p) ? p.toFixed(precision) : '—'),
      bars: (t0, t1) => Math.round(this.logicalOf(t1) - this.logicalOf(t0)),
      width: ts.width(),
      height: pane.chart.panes()[0].getHeight(),
    };
  }

  /** The point under pixel (x, y), its time snapped to a bar. */
  pointAt(x, y) {
    const ts = this.pane.chart.timeScale();
    const logical = ts.coordinateToLogical(x);
    const price = this.pane.series.coordinateToPrice(y);
    if (logical === null || price === null) return null;
    return { time: this.timeOfLogical(logical), price: this.roundPrice(price) };
  }

  roundPrice(price) {
    const tick = this.pane.meta.tick_size || 0;
    const precision = this.pane.meta.precision ?? 2;
    const snapped = tick ? Math.round(price / tick) * tick : price;
    return Number(snapped.toFixed(Math.min(10, precision + 2)));
  }

  hit(x, y) {
    const view = this.view();
    if (!view) return null;
    for (let i = this.items.length - 1; i >= 0; i--) {
      const d = this.items[i];
      const part = hitTest(geometry(d, view), x, y, measure);
      if (part) return { drawing: d, part };
    }
    return null;
  }

  // --- changes (each one undoable) ------------------------------------------------------

  remember(entry) {
    this.undoStack.push(entry);
    if (this.undoStack.length > UNDO_DEPTH) this.undoStack.shift();
  }

  create(data, { undoable = true } = {}) {
    const drawing = {
      id: `local-${++localIds}`,
      symbol: this.pane.state.symbol,
      version: 0,
      style: {},
      text: '',
      ...data,
    };
    this.items.push(drawing);
    this.selected = drawing;
    if (undoable) this.remember({ op: 'create', drawing });
    this.refresh();
    this.write(drawing, async () => {
      await this.pane.env.ensureChart(this.pane);
      const saved = await sendJSON('POST', this.url(), {
        symbol: drawing.symbol,
        kind: drawing.kind,
        points: drawing.points,
        style: drawing.style,
        text: drawing.text,
      });
      drawing.id = saved.id;
      drawing.version = saved.version;
      this.pane.cell.dataset.drawings = String(this.items.length);
    });
    return drawing;
  }

  update(drawing, changes, { undoable = true, before = null } = {}) {
    const previous = before || snapshot(drawing);
    Object.assign(drawing, structuredClone(changes));
    if (undoable) this.remember({ op: 'update', drawing, before: previous });
    this.refresh();
    this.write(drawing, async () => {
      const body = { version: drawing.version, points: drawing.points, style: drawing.style, text: drawing.text };
      const saved = await sendJSON('PATCH', this.url(drawing.id), body);
      drawing.version = saved.version;
    });
  }

  remove(drawing, { undoable = true } = {}) {
    const index = this.items.indexOf(drawing);
    if (index < 0) return;
    this.items.splice(index, 1);
    if (this.selected === drawing) this.selected = null;
    if (undoable) this.remember({ op: 'delete', drawing });
    this.refresh();
    this.write(drawing, async () => {
      if (!drawing.version) return; // never reached the server
      await sendJSON('DELETE', `${this.url(drawing.id)}?version=${drawing.version}`);
      this.pane.cell.dataset.drawings = String(this.items.length);
    });
  }

  undo() {
    const entry = this.undoStack.pop();
    if (!entry) return false;
    if (entry.op === 'create') this.remove(entry.drawing, { undoable: false });
    if (entry.op === 'update') this.update(entry.drawing, entry.before, { undoable: false });
    if (entry.op === 'delete') {
      const { kind, points, style, text, symbol } = entry.drawing;
      const again = this.create({ kind, points, style, text, symbol }, { undoable: false });
      // later entries that name the deleted drawing now mean its re-creation
      for (const e of this.undoStack) if (e.drawing === entry.drawing) e.drawing = again;
    }
    return true;
  }

  /** Run the writes of one drawing in order; a 409 takes the stored version. */
  write(drawing, job) {
    const previous = this.queue.get(drawing) || Promise.resolve();
    const next = previous.then(job).catch((err) => this.failed(drawing, err));
    this.queue.set(drawing, next);
    next.finally(() => {
      if (this.queue.get(drawing) === next) this.queue.delete(drawing);
    });
  }

  failed(drawing, err) {
    if (err instanceof ApiError && err.status === 409) {
      const current = err.body?.error?.current;
      const index = this.items.indexOf(drawing);
      if (current && index >= 0) Object.assign(drawing, current);
      else if (!current && index >= 0) this.items.splice(index, 1);
      this.pane.env.notify('This drawing was changed on another device; its latest version is shown.');
    } else {
      console.error('drawing not saved', err);
      this.pane.env.notify(err instanceof ApiError ? `Drawing not saved: ${err.message}` : 'Drawing not saved (offline?)');
    }
    this.refresh();
  }

  destroy() {
    this.interaction.destroy();
    this.detach();
  }
}

export function snapshot(d) {
  return structuredClone({ points: d.points, style: d.style, text: d.text });
}
