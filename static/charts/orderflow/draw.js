// Canvas helpers shared by the order-flow views (profile.js, tpo.js, footprint.js): the
// level colours and labelled horizontal level lines (POC, VAH, VAL). All coordinates are
// bitmap pixels (inside ``useBitmapCoordinateSpace``).

import { FONT as SANS } from '../theme.js';

export const POC = '#f5c542';
const POC_ON_LIGHT = '#b8860b'; // the same gold, dark enough for text on a white chart

/** The POC colour for text and lines on the palette's background. */
export function pocColor(p) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(p.bg || '');
  const luma = m ? 0.299 * parseInt(m[1], 16) + 0.587 * parseInt(m[2], 16) + 0.114 * parseInt(m[3], 16) : 0;
  return luma > 160 ? POC_ON_LIGHT : POC;
}
export const VA_LINE = '#8f9bb3';
export { SANS };
export const MONO = '"SF Mono", Menlo, Consolas, "Roboto Mono", monospace';

/** ``size`` css px, scaled to the bitmap (``weight`` e.g. '600'). */
export const font = (size, vr, family = SANS, weight = '') => `${weight ? `${weight} ` : ''}${Math.round(size * vr)}px ${family}`;

/**
 * A horizontal level from ``x0`` to ``x1`` at css ``y`` (solid when ``dash`` is empty, crisp
 * whole pixels), with ``label`` at ``labelX`` just above it (``below``: under it, e.g. for a
 * VAL that shares its row with the POC). Returns the bitmap y drawn.
 */
export function levelLine(c, { y, x0, x1, color, dash = [], bold = false, label = '', labelX = x0, align = 'left', below = false, hr, vr }) {
  const py = Math.round(y * vr) + 0.5;
  if (!dash.length) {
    const lw = Math.max(1, Math.round(1.5 * vr));
    c.fillStyle = color;
    c.fillRect(x0, Math.round(y * vr) - Math.floor(lw / 2), x1 - x0, lw);
  } else {
    c.save();
    c.strokeStyle = color;
    c.lineWidth = Math.max(1, Math.round(hr * (bold ? 1.5 : 1)));
    c.setLineDash(dash.map((v) => v * hr));
    c.beginPath();
    c.moveTo(x0, py);
    c.lineTo(x1, py);
    c.stroke();
    c.restore();
  }
  if (label) {
    c.font = font(10, vr, SANS, '600');
    c.textAlign = align;
    c.textBaseline = below ? 'top' : 'bottom';
    c.fillStyle = color;
    c.fillText(label, labelX, below ? py + 3 * vr : py - 2 * vr);
  }
  return py;
}

/**
 * The POC line (solid, ``poc`` colour) and the VAH/VAL lines (dashed) of a profile from
 * ``x0`` to ``x1`` (bitmap px); ``y(price)`` gives the css y of a level (null: off scale).
 * A value-area edge on the POC row is named in the POC's label instead of its own; VAL's
 * label sits under its line. ``labelled`` false draws the lines alone. Returns the bitmap
 * y of each line drawn: {poc_y, vah_y, val_y}.
 */
export function drawLevels(c, prof, { y, x0, x1, poc, pocName = 'POC', precision, labelX, align, labelled = true, hr, vr }) {
  const out = { poc_y: null, vah_y: null, val_y: null };
  const line = (price, color, dash, name, key, below = false) => {
    const yy = y(price);
    if (yy === null) return;
    const label = labelled && name ? `${name} ${price.toFixed(precision)}` : '';
    out[key] = levelLine(c, { y: yy, x0, x1, color, dash, bold: key === 'poc_y', label, labelX, align, below, hr, vr });
  };
  const onPoc = (price) => price === prof.poc;
  line(prof.vah, VA_LINE, [4, 3], onPoc(prof.vah) ? '' : 'VAH', 'vah_y');
  line(prof.val, VA_LINE, [4, 3], onPoc(prof.val) ? '' : 'VAL', 'val_y', true);
  const also = [onPoc(prof.vah) && 'VAH', onPoc(prof.val) && 'VAL'].filter(Boolean);
  line(prof.poc, poc, [], [pocName, ...also].join(' · '), 'poc_y');
  return out;
}
