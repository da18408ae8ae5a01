// Drawing kinds and their geometry. A drawing is {kind, points: [{time, price}], style,
// text}; ``geometry`` turns it into pixel shapes for a view ({x(time), y(price), width,
// height, format(price)}), used both to render (primitive.js) and to hit-test (tool.js).
// The kinds and point counts mirror apps/charts/layout.py DRAWING_POINTS.

export const FIB_RETRACEMENT = [0, 0.236, 0.382, 0.5, 0.618, 0.786, 1];
export const FIB_EXTENSION = [0, 0.382, 0.618, 1, 1.272, 1.618, 2, 2.618];

export const KINDS = {
  trend_line: { label: 'Trend line', points: 2 },
  ray: { label: 'Ray', points: 2 },
  horizontal_line: { label: 'Horizontal line', points: 1 },
  horizontal_ray: { label: 'Horizontal ray', points: 1 },
  vertical_line: { label: 'Vertical line', points: 1 },
  rectangle: { label: 'Rectangle', points: 2, fill: true },
  parallel_channel: { label: 'Parallel channel', points: 3, fill: true },
  fib_retracement: { label: 'Fib retracement', points: 2 },
  fib_extension: { label: 'Fib extension', points: 3 },
  text: { label: 'Text', points: 1 },
  price_range: { label: 'Price range', points: 2, fill: true },
  long_position: { label: 'Long position', points: 1, auto: 3 },
  short_position: { label: 'Short position', points: 1, auto: 3 },
};

export const COLORS = ['#2962ff', '#f7525f', '#22ab94', '#ff9800', '#ab47bc', '#d1d4dc', '#131722'];

export function defaultStyle(kind) {
  const style = { color: kind === 'text' ? '#d1d4dc' : '#2962ff', width: 1.5 };
  if (kind === 'text') style.font_size = 14;
  if (kind === 'horizontal_line' || kind === 'horizontal_ray') style.show_labels = true;
  return style;
}

/** Long/short tools are placed with one click: target and stop start at fixed distances. */
export function autoPoints(kind, p0, view, step) {
  if (kind !== 'long_position' && kind !== 'short_position') return null;
  const sign = kind === 'long_position' ? 1 : -1;
  const y0 = view.y(p0.price);
  const target = view.price(y0 - sign * 70);
  const stop = view.price(y0 + sign * 40);
  const end = p0.time + step * 24;
  return [p0, { time: end, price: target }, { time: end, price: stop }];
}

const line = (x1, y1, x2, y2, extra = {}) => ({ type: 'line', x1, y1, x2, y2, ...extra });

function extend(x1, y1, x2, y2, w, left, right) {
  const dx = x2 - x1;
  const dy = y2 - y1;
  if (Math.abs(dx) < 1e-9) return [x1, y1, x2, y2];
  const slope = dy / dx;
  let ax = x1;
  let ay = y1;
  let bx = x2;
  let by = y2;
  if (right) {
    bx = dx >= 0 ? w : 0;
    by = y1 + slope * (bx - x1);
  }
  if (left) {
    ax = dx >= 0 ? 0 : w;
    ay = y1 + slope * (ax - x1);
  }
  return [ax, ay, bx, by];
}

/** Pixel shapes of a drawing: {shapes: [...], handles: [[x, y], ...]}. */
export function geometry(d, v) {
  const s = d.style || {};
  const color = s.color || '#2962ff';
  const pts = d.points.map((p) => [v.x(p.time), v.y(p.price)]);
  const shapes = [];
  const handles = pts.slice();
  const [a, b, c] = pts;
  const fill = s.fill || color + '22';
  switch (d.kind) {
    case 'trend_line': {
      const [x1, y1, x2, y2] = extend(a[0], a[1], b[0], b[1], v.width, s.extend_left, s.extend_right);
      shapes.push(line(x1, y1, x2, y2));
      break;
    }
    case 'ray': {
      const [x1, y1, x2, y2] = extend(a[0], a[1], b[0], b[1], v.width, false, true);
      shapes.push(line(x1, y1, x2, y2));
      break;
    }
    case 'horizontal_line':
      shapes.push(line(0, a[1], v.width, a[1]));
      if (s.show_labels !== false) shapes.push({ type: 'label', x: v.width - 4, y: a[1], text: v.format(d.points[0].price), align: 'right', box: true });
      break;
    case 'horizontal_ray':
      shapes.push(line(a[0], a[1], v.width, a[1]));
      if (s.show_labels !== false) shapes.push({ type: 'label', x: v.width - 4, y: a[1], text: v.format(d.points[0].price), align: 'right', box: true });
      break;
    case 'vertical_line':
      shapes.push(line(a[0], 0, a[0], v.height));
      break;
    case 'rectangle':
      shapes.push({ type: 'rect', x: Math.min(a[0], b[0]), y: Math.min(a[1], b[1]), w: Math.abs(b[0] - a[0]), h: Math.abs(b[1] - a[1]), fill, stroke: true });
      break;
    case 'parallel_channel': {
      const slope = Math.abs(b[0] - a[0]) < 1e-9 ? 0 : (b[1] - a[1]) / (b[0] - a[0]);
      const off = c ? c[1] - (a[1] + slope * (c[0] - a[0])) : 0;
      shapes.push({ type: 'poly', pts: [a, b, [b[0], b[1] + off], [a[0], a[1] + off]], fill });
      shapes.push(line(a[0], a[1], b[0], b[1]));
      shapes.push(line(a[0], a[1] + off, b[0], b[1] + off));
      shapes.push(line(a[0], a[1] + off / 2, b[0], b[1] + off / 2, { dash: 2, alpha: 0.6 }));
      if (c) handles[2] = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + off];
      break;
    }
    case 'fib_retracement':
    case 'fib_extension': {
      const ext = d.kind === 'fib_extension';
      const levels = s.levels && s.levels.length ? s.levels : ext ? FIB_EXTENSION : FIB_RETRACEMENT;
      const p0 = d.points[0].price;
      const p1 = d.points[1].price;
      const x1 = ext && c ? c[0] : Math.min(a[0], b[0]);
      const x2 = s.extend_right ? v.width : Math.max(a[0], b[0], ext && c ? c[0] + (b[0] - a[0]) : 0);
      const base = ext && d.points[2] ? d.points[2].price : p1;
      levels.forEach((level, i) => {
        const price = ext ? base + (p1 - p0) * level : p1 + (p0 - p1) * level;
        const y = v.y(price);
        shapes.push(line(x1, y, x2, y, { color: fibColor(i, color), alpha: 0.9 }));
        shapes.push({ type: 'label', x: x1 + 4, y: y - 7, text: `${level} (${v.format(price)})`, align: 'left', color: fibColor(i, color) });
      });
      shapes.push(line(a[0], a[1], b[0], b[1], { dash: 2, alpha: 0.5 }));
      if (ext && c) shapes.push(line(b[0], b[1], c[0], c[1], { dash: 2, alpha: 0.5 }));
      break;
    }
    case 'text':
      shapes.push({ type: 'label', x: a[0], y: a[1], text: d.text || 'Text', align: 'left', size: s.font_size || 14, color, box: false, hit: true });
      break;
    case 'price_range': {
      const diff = d.points[1].price - d.points[0].price;
      const pct = d.points[0].price ? (diff / d.points[0].price) * 100 : 0;
      const up = diff >= 0;
      const tint = up ? '#2962ff' : '#f7525f';
      shapes.push({ type: 'rect', x: Math.min(a[0], b[0]), y: Math.min(a[1], b[1]), w: Math.abs(b[0] - a[0]), h: Math.abs(b[1] - a[1]), fill: tint + '26', stroke: false });
      const mx = (a[0] + b[0]) / 2;
      shapes.push(line(mx, a[1], mx, b[1], { color: tint, arrow: true }));
      const bars = v.bars(d.points[0].time, d.points[1].time);
      shapes.push({ type: 'label', x: mx, y: (up ? Math.min(a[1], b[1]) - 14 : Math.max(a[1], b[1]) + 14), text: `${up ? '+' : ''}${v.format(diff)} (${pct.toFixed(2)}%)  ${bars} bars`, align: 'center', box: true, color: '#ffffff', bg: tint });
      break;
    }
    case 'long_position':
    case 'short_position': {
      if (!c) break;
      const entry = d.points[0].price;
      const target = d.points[1].price;
      const stop = d.points[2].price;
      const x1 = Math.min(a[0], b[0]);
      const w = Math.max(6, Math.abs(b[0] - a[0]));
      shapes.push({ type: 'rect', x: x1, y: Math.min(a[1], b[1]), w, h: Math.abs(b[1] - a[1]), fill: '#22ab9433', stroke: false });
      shapes.push({ type: 'rect', x: x1, y: Math.min(a[1], c[1]), w, h: Math.abs(c[1] - a[1]), fill: '#f7525f33', stroke: false });
      shapes.push(line(x1, a[1], x1 + w, a[1], { color: '#787b86' }));
      const reward = Math.abs(target - entry);
      const risk = Math.abs(entry - stop);
      const pct = (p) => (entry ? ((p - entry) / entry) * 100 : 0).toFixed(2);
      shapes.push({ type: 'label', x: x1 + w / 2, y: b[1] + (b[1] < a[1] ? -12 : 12), text: `Target ${v.format(target)} (${pct(target)}%)`, align: 'center', box: true, color: '#ffffff', bg: '#22ab94' });
      shapes.push({ type: 'label', x: x1 + w / 2, y: c[1] + (c[1] > a[1] ? 12 : -12), text: `Stop ${v.format(stop)} (${pct(stop)}%)`, align: 'center', box: true, color: '#ffffff', bg: '#f7525f' });
      shapes.push({ type: 'label', x: x1 + w / 2, y: a[1], text: `${d.kind === 'long_position' ? 'Long' : 'Short'} ${v.format(entry)}  R:R ${risk ? (reward / risk).toFixed(2) : '∞'}`, align: 'center', box: true, color: '#ffffff', bg: '#787b86' });
      handles[1] = [x1 + w, b[1]];
      handles[2] = [x1 + w, c[1]];
      break;
    }
    default:
  }
  return { shapes, handles, color, width: s.width || 1.5, dash: s.dash || 0 };
}

function fibColor(i, color) {
  const palette = ['#787b86', '#f7525f', '#ff9800', '#4caf50', '#089981', '#00bcd4', '#787b86', '#2962ff'];
  return palette[i % palette.length] || color;
}

// --- hit testing --------------------------------------------------------------------------

function distToSegment(px, py, x1, y1, x2, y2) {
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len = dx * dx + dy * dy;
  let t = len ? ((px - x1) * dx + (py - y1) * dy) / len : 0;
  t = Math.max(0, Math.min(1, t));
  return Math.hypot(px - (x1 + t * dx), py - (y1 + t * dy));
}

function inPoly(x, y, pts) {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i];
    const [xj, yj] = pts[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** 'handle:N', 'body' or null for a pointer at (x, y). */
export function hitTest(geo, x, y, measure) {
  for (let i = 0; i < geo.handles.length; i++) {
    const [hx, hy] = geo.handles[i];
    if (Math.hypot(x - hx, y - hy) <= 7) return `handle:${i}`;
  }
  for (const s of geo.shapes) {
    if (s.type === 'line' && distToSegment(x, y, s.x1, s.y1, s.x2, s.y2) <= 5) return 'body';
    if (s.type === 'rect' && x >= s.x - 3 && x <= s.x + s.w + 3 && y >= s.y - 3 && y <= s.y + s.h + 3) return 'body';
    if (s.type === 'poly' && inPoly(x, y, s.pts)) return 'body';
    if (s.type === 'label' && s.hit) {
      const w = measure(s.text, s.size || 12);
      const half = (s.size || 12) / 2 + 3;
      if (x >= s.x - 3 && x <= s.x + w + 3 && y >= s.y - half && y <= s.y + half) return 'body';
    }
  }
  return null;
}
