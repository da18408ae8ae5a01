// The drawings of one pane as a lightweight-charts series primitive (ISeriesPrimitive):
// it is attached to the pane's main series and paints every drawing (plus the one being
// placed) on the price pane with the geometry of model.js. The interaction layer (tool.js)
// only changes the drawings and calls ``requestUpdate``.

import { FONT } from '../theme.js';
import { geometry } from './model.js';

class Renderer {
  constructor(source) {
    this.source = source;
  }

  draw(target) {
    const src = this.source;
    const view = src.view();
    if (!view) return;
    target.useMediaCoordinateSpace(({ context: c, mediaSize }) => {
      view.width = mediaSize.width;
      view.height = mediaSize.height;
      const items = src.drawings();
      for (const d of items) {
        const geo = geometry(d, view);
        paint(c, geo, d === src.selected || d === src.hovered, d === src.selected);
      }
    });
  }
}

function paint(c, geo, emphasis, selected) {
  c.save();
  c.lineWidth = geo.width + (emphasis ? 0.5 : 0);
  c.font = `12px ${FONT}`;
  for (const s of geo.shapes) {
    c.globalAlpha = s.alpha ?? 1;
    const color = s.color || geo.color;
    if (s.type === 'line') {
      c.strokeStyle = color;
      const dash = s.dash ?? geo.dash;
      c.setLineDash(dash === 1 ? [2, 3] : dash === 2 ? [6, 4] : dash === 3 ? [10, 4, 2, 4] : []);
      c.beginPath();
      c.moveTo(s.x1, s.y1);
      c.lineTo(s.x2, s.y2);
      c.stroke();
      if (s.arrow) arrowHead(c, s.x1, s.y1, s.x2, s.y2, color);
    } else if (s.type === 'rect') {
      c.fillStyle = s.fill;
      c.fillRect(s.x, s.y, s.w, s.h);
      if (s.stroke) {
        c.setLineDash([]);
        c.strokeStyle = color;
        c.strokeRect(s.x, s.y, s.w, s.h);
      }
    } else if (s.type === 'poly') {
      c.fillStyle = s.fill;
      c.beginPath();
      s.pts.forEach(([x, y], i) => (i ? c.lineTo(x, y) : c.moveTo(x, y)));
      c.closePath();
      c.fill();
    } else if (s.type === 'label') {
      label(c, s, color);
    }
  }
  c.globalAlpha = 1;
  if (selected) {
    c.setLineDash([]);
    for (const [x, y] of geo.handles) {
      c.beginPath();
      c.arc(x, y, 4.5, 0, Math.PI * 2);
      c.fillStyle = '#ffffff';
      c.fill();
      c.lineWidth = 1.5;
      c.strokeStyle = geo.color;
      c.stroke();
    }
  }
  c.restore();
}

function label(c, s, color) {
  const size = s.size || 11;
  c.font = `${s.size ? 500 : 600} ${size}px ${FONT}`;
  c.textBaseline = 'middle';
  const w = c.measureText(s.text).width;
  let x = s.x;
  if (s.align === 'right') x -= w;
  if (s.align === 'center') x -= w / 2;
  if (s.box) {
    c.fillStyle = s.bg || color;
    const h = size + 6;
    roundRect(c, x - 4, s.y - h / 2, w + 8, h, 2);
    c.fill();
    c.fillStyle = s.bg ? s.color || '#fff' : '#ffffff';
  } else {
    c.fillStyle = s.color || color;
  }
  c.fillText(s.text, x, s.y + 0.5);
}

function roundRect(c, x, y, w, h, r) {
  c.beginPath();
  c.moveTo(x + r, y);
  c.arcTo(x + w, y, x + w, y + h, r);
  c.arcTo(x + w, y + h, x, y + h, r);
  c.arcTo(x, y + h, x, y, r);
  c.arcTo(x, y, x + w, y, r);
  c.closePath();
}

function arrowHead(c, x1, y1, x2, y2, color) {
  const angle = Math.atan2(y2 - y1, x2 - x1);
  c.fillStyle = color;
  c.beginPath();
  c.moveTo(x2, y2);
  c.lineTo(x2 - 8 * Math.cos(angle - 0.4), y2 - 8 * Math.sin(angle - 0.4));
  c.lineTo(x2 - 8 * Math.cos(angle + 0.4), y2 - 8 * Math.sin(angle + 0.4));
  c.closePath();
  c.fill();
}

export class DrawingsPrimitive {
  /** ``source`` = {view(), drawings(), selected, hovered, hit(x, y)} (the DrawingLayer). */
  constructor(source) {
    this.source = source;
    this.paneView = { renderer: () => new Renderer(source), zOrder: () => 'top' };
    this.views = [this.paneView];
    this.requestUpdate = null;
  }

  attached({ requestUpdate }) {
    this.requestUpdate = requestUpdate;
  }

  detached() {
    this.requestUpdate = null;
  }

  updateAllViews() {}

  paneViews() {
    return this.views;
  }

  hitTest(x, y) {
    const hit = this.source.hit(x, y);
    if (!hit) return null;
    return {
      cursorStyle: hit.part.startsWith('handle') ? 'grab' : 'pointer',
      externalId: String(hit.drawing.id),
      zOrder: 'top',
    };
  }

  redraw() {
    this.requestUpdate?.();
  }
}
