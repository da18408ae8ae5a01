// Mouse interaction for drawings (handwritten: lightweight-charts has primitives for
// painting but no drawing tools). Listens in the capture phase on the chart element so
// that a press on a drawing or with a tool active never starts a chart pan.
//
//   tool active: click (or press-drag-release) places the points; 1-point tools finish at
//                once, text asks for its words, long/short place target and stop for you
//   no tool:     click a drawing to select it, drag it or its handles to move/edit,
//                Delete/Backspace removes it, Escape deselects; Ctrl/Cmd+Z undoes (terminal)

import { KINDS, COLORS, defaultStyle, autoPoints } from './model.js';
import { snapshot } from './layer.js';

let activeTool = null;
const toolListeners = new Set();
export function setTool(kind) {
  activeTool = kind && KINDS[kind] ? kind : null;
  for (const fn of toolListeners) fn(activeTool);
}
export function currentTool() {
  return activeTool;
}
export function onToolChange(fn) {
  toolListeners.add(fn);
}

const DRAG_THRESHOLD = 5;

export class DrawingInteraction {
  constructor(layer) {
    this.layer = layer;
    this.host = layer.pane.host;
    this.state = null; // {mode: 'placing'|'dragging', ...}
    this.handlers = {
      mousedown: (e) => this.down(e),
      mousemove: (e) => this.move(e),
      mouseup: (e) => this.up(e),
      dblclick: (e) => this.dblclick(e),
    };
    for (const [name, fn] of Object.entries(this.handlers)) this.host.addEventListener(name, fn, true);
    this.editor = null;
  }

  destroy() {
    for (const [name, fn] of Object.entries(this.handlers)) this.host.removeEventListener(name, fn, true);
    this.closeEditor();
  }

  local(e) {
    const rect = this.host.getBoundingClientRect();
    const x = e.clientX - rect.left;
    const y = e.clientY - rect.top;
    const pane = this.layer.pane;
    const inside = x >= 0 && x <= pane.chart.timeScale().width() && y >= 0 && y <= pane.chart.panes()[0].getHeight();
    return { x, y, inside };
  }

  swallow(e) {
    e.stopPropagation();
    e.preventDefault();
  }

  down(e) {
    if (e.button !== 0) return;
    const layer = this.layer;
    const { x, y, inside } = this.local(e);
    layer.pane.env.activate(layer.pane);
    if (this.state?.mode === 'placing') {
      this.swallow(e);
      this.state.downAt = { x, y };
      return;
    }
    if (!inside) return;
    if (activeTool && !layer.readonly) {
      const point = layer.pointAt(x, y);
      if (!point) return;
      this.swallow(e);
      this.startPlacing(activeTool, point, x, y);
      return;
    }
    const hit = layer.readonly ? null : layer.hit(x, y);
    if (!hit) {
      if (layer.selected) {
        layer.selected = null;
        this.closeEditor();
        layer.refresh();
      }
      return;
    }
    this.swallow(e);
    layer.selected = hit.drawing;
    this.openEditor(hit.drawing);
    this.state = {
      mode: 'dragging',
      drawing: hit.drawing,
      part: hit.part,
      start: { x, y },
      startPoint: layer.pointAt(x, y),
      before: snapshot(hit.drawing),
      moved: false,
    };
    layer.refresh();
  }

  startPlacing(kind, point, x, y) {
    const layer = this.layer;
    const meta = KINDS[kind];
    const style = defaultStyle(kind);
    if (meta.points === 1) {
      const auto = autoPoints(kind, point, layer.view(), layer.step());
      const points = auto ? auto.map((p) => ({ time: p.time, price: layer.roundPrice(p.price) })) : [point];
      const drawing = layer.create({ kind, points, style, text: kind === 'text' ? 'Note' : '' });
      setTool(null);
      this.openEditor(drawing, kind === 'text');
      return;
    }
    layer.preview = { id: 'preview', kind, points: [point, { ...point }], style, text: '' };
    this.state = { mode: 'placing', kind, count: 1, downAt: { x, y } };
    layer.refresh();
  }

  move(e) {
    const layer = this.layer;
    const { x, y } = this.local(e);
    const st = this.state;
    if (st?.mode === 'placing') {
      const point = layer.pointAt(x, y);
      if (point) {
        const pts = layer.preview.points;
        pts[Math.min(st.count, pts.length - 1)] = point;
        layer.refresh();
      }
      return;
    }
    if (st?.mode === 'dragging') {
      this.swallow(e);
      if (!st.moved && Math.hypot(x - st.start.x, y - st.start.y) < 3) return;
      st.moved = true;
      this.drag(st, x, y);
      return;
    }
    if (!layer.readonly) {
      const hit = layer.hit(x, y);
      const hovered = hit ? hit.drawing : null;
      if (hovered !== layer.hovered) {
        layer.hovered = hovered;
        layer.refresh();
      }
    }
  }

  drag(st, x, y) {
    const layer = this.layer;
    const d = st.drawing;
    const before = st.before.points;
    if (st.part.startsWith('handle:')) {
      const index = Number(st.part.split(':')[1]);
      const point = layer.pointAt(x, y);
      if (!point) return;
      const pts = structuredClone(before);
      if ((d.kind === 'long_position' || d.kind === 'short_position') && index > 0) {
        pts[index] = { time: point.time, price: point.price };
        pts[1].time = pts[2].time = point.time; // one right edge for target and stop
      } else if (d.kind === 'parallel_channel' && index === 2) {
        pts[2] = point;
      } else {
        pts[index] = point;
      }
      d.points = pts;
    } else {
      const now = layer.pointAt(x, y);
      if (!now || !st.startPoint) return;
      const view = layer.view();
      const dl = Math.round(layer.logicalOf(now.time) - layer.logicalOf(st.startPoint.time));
      const dp = now.price - st.startPoint.price;
      d.points = before.map((p) => ({
        time: layer.timeOfLogical(layer.logicalOf(p.time) + dl),
        price: layer.roundPrice(p.price + dp),
      }));
      if (d.kind === 'horizontal_line') d.points[0].time = before[0].time;
      if (!view) return;
    }
    layer.refresh();
  }

  up(e) {
    const layer = this.layer;
    const st = this.state;
    if (!st) return;
    const { x, y } = this.local(e);
    if (st.mode === 'dragging') {
      this.swallow(e);
      this.state = null;
      if (st.moved) layer.update(st.drawing, {}, { before: st.before });
      return;
    }
    if (st.mode === 'placing') {
      this.swallow(e);
      const dragged = st.downAt && Math.hypot(x - st.downAt.x, y - st.downAt.y) >= DRAG_THRESHOLD;
      // a click adds the point where it is; so does the release of a press-drag
      if (st.count === 1 && !dragged && st.downAt && st.justStarted !== false) {
        st.justStarted = false; // first click: wait for the second
        return;
      }
      const point = layer.pointAt(x, y);
      if (point) layer.preview.points[st.count] = point;
      st.count += 1;
      const need = KINDS[st.kind].points;
      if (st.count >= need) {
        const { kind, points, style } = layer.preview;
        layer.preview = null;
        this.state = null;
        layer.create({ kind, points: points.slice(0, need), style, text: '' });
        setTool(null);
        this.openEditor(layer.selected);
      } else {
        layer.preview.points.push({ ...layer.preview.points[st.count - 1] });
      }
      layer.refresh();
    }
  }

  dblclick(e) {
    const { x, y } = this.local(e);
    const hit = this.layer.readonly ? null : this.layer.hit(x, y);
    if (hit) {
      this.swallow(e);
      this.openEditor(hit.drawing, hit.drawing.kind === 'text');
    }
  }

  cancel() {
    if (this.state?.mode === 'placing') {
      this.layer.preview = null;
      this.state = null;
      this.layer.refresh();
      return true;
    }
    return false;
  }

  key(e) {
    const layer = this.layer;
    if (e.key === 'Escape') {
      if (this.cancel()) return true;
      setTool(null);
      if (layer.selected) {
        layer.selected = null;
        this.closeEditor();
        layer.refresh();
        return true;
      }
      return false;
    }
    if ((e.key === 'Delete' || e.key === 'Backspace') && layer.selected && !layer.readonly) {
      layer.remove(layer.selected);
      this.closeEditor();
      return true;
    }
    return false;
  }

  // --- the floating editor of the selected drawing --------------------------------------

  openEditor(drawing, focusText = false) {
    if (!drawing || this.layer.readonly) return;
    this.closeEditor();
    const layer = this.layer;
    const box = document.createElement('div');
    box.className = 'draw-editor';
    box.innerHTML = `<span class="de-kind"></span>
      <span class="de-colors"></span>
      <select class="de-width" title="Line width"><option value="1">1px</option><option value="1.5">1.5px</option><option value="2">2px</option><option value="3">3px</option><option value="4">4px</option></select>
      <input class="de-text" type="text" maxlength="500" placeholder="Text" hidden>
      <button type="button" class="de-delete" title="Delete (Del)"><svg viewBox="0 0 16 16" width="14" height="14"><path d="M3 4h10M6 4V2.5h4V4M4.5 4l.7 9.5h5.6l.7-9.5" fill="none" stroke="currentColor" stroke-width="1.3"/></svg></button>`;
    box.querySelector('.de-kind').textContent = KINDS[drawing.kind]?.label || drawing.kind;
    const colors = box.querySelector('.de-colors');
    for (const color of COLORS) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'de-color';
      b.style.background = color;
      b.title = color;
      b.addEventListener('click', () => layer.update(drawing, { style: { ...drawing.style, color } }));
      colors.appendChild(b);
    }
    const width = box.querySelector('.de-width');
    width.value = String(drawing.style?.width || 1.5);
    width.addEventListener('change', () => layer.update(drawing, { style: { ...drawing.style, width: Number(width.value) } }));
    const text = box.querySelector('.de-text');
    if (drawing.kind === 'text') {
      text.hidden = false;
      text.value = drawing.text || '';
      const before = snapshot(drawing);
      text.addEventListener('input', () => {
        drawing.text = text.value;
        layer.refresh();
      });
      text.addEventListener('change', () => layer.update(drawing, { text: text.value }, { before }));
      text.addEventListener('keydown', (e) => {
        e.stopPropagation();
        if (e.key === 'Enter') text.blur();
      });
    }
    box.querySelector('.de-delete').addEventListener('click', () => {
      layer.remove(drawing);
      this.closeEditor();
    });
    box.addEventListener('mousedown', (e) => e.stopPropagation());
    layer.pane.cell.appendChild(box);
    this.editor = box;
    if (focusText && !text.hidden) {
      text.focus();
      text.select();
    }
  }

  closeEditor() {
    this.editor?.remove();
    this.editor = null;
  }
}
