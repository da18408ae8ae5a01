// The TPO (Market Profile) chart type: per session, the letters of the market-profile API
// (GET /api/v1/market-profile/{symbol}; SPEC 7: periods lettered A-Z then a-z from the
// session start) drawn by a lightweight-charts custom series as letters or blocks, with
// the TPO POC, the value area, the initial balance and single prints highlighted. Nothing
// is computed here: the server's profiles are drawn as they are.
//
// Layout: a session's profile starts at its first bar and spreads to the right, one column
// per TPO of a row (the collapsed profile of Sierra Chart / CBOT charts), never wider than
// the session is on the chart; a session that began left of the pane keeps its profile in
// view. POC and value-area lines run on to the end of the session.
// Data: the sessions the pane's bars cover, fetched once; the latest session again at most
// every 2 s while trades arrive, with the same row size so rows stay aligned. Options (in
// the pane's options, saved with the chart): ``tpo_mode`` letters|blocks, ``tpo_period``
// minutes (default 30).

import { orderflowApi, throttle, paneKey, paneStates, withTime, minRowsInView } from './data.js';
import { VA_LINE, MONO, SANS, font, drawLevels, pocColor } from './draw.js';
import { priceFormat, OhlcView } from '../chart-types.js';
import { withAlpha } from '../theme.js';

export const TPO_MODES = { letters: 'Letters', blocks: 'Blocks' };
export const DEFAULT_PERIOD = 30;
const MAX_SESSIONS = 30;
const TARGET_ROWS = 28; // rows across a session's range when the row size is chosen here
const SINGLE = '#ab47bc'; // single prints
const IB = '#ff9800'; // initial balance
const MIN_LETTER_ROW = 8; // css px: smaller rows (or narrower cells) draw blocks
const MIN_LETTER_W = 6;
const MAX_CELL_W = 13;
const GUTTER = 10; // css px left of a profile, for the IB bar
const MIN_ROWS_IN_VIEW = 26;
const LABEL_MIN = 90; // css px of line needed for its label
const RIGHT_OFFSET = 40; // bars of room right of the last bar for the live session's profile

/** The pane's TPO period in minutes (the API takes 1 to 1440). */
export function tpoPeriod(options) {
  const minutes = Math.round(Number(options.tpo_period));
  return Number.isFinite(minutes) && minutes >= 1 && minutes <= 1440 ? minutes : DEFAULT_PERIOD;
}

/** First index of ``times`` (ascending) at or after ``t``. */
function lowerBound(times, t) {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Per-pane TPO state: the fetched sessions by start time, and the row size they share. */
class TpoData {
  constructor(pane) {
    this.pane = pane;
    this.key = null;
    this.sessions = new Map(); // session_start -> profile (as the API answers it)
    this.rowSize = null;
    this.rowParam = null; // row_size asked for ('' = the server's automatic rows)
    this.covered = 0; // sessions asked for
    this.series = null;
    this.view = null;
    this.version = 0;
    this.generation = 0;
    this.refreshLatest = throttle(() => this.fetch(1), 2000);
  }

  period() {
    return tpoPeriod(this.pane.state.options);
  }

  /** Sessions the pane's bars span (a session is at most a day long). */
  wanted() {
    const bars = this.pane.bars;
    if (!bars.length) return 1;
    const days = Math.ceil((bars[bars.length - 1].time - bars[0].time) / 86400) + 1;
    return Math.max(1, Math.min(MAX_SESSIONS, days));
  }

  /** A row size giving about TARGET_ROWS rows over the last day's range (1-2-5 ticks). */
  chooseRows() {
    const { bars, meta } = this.pane;
    const tick = meta.tick_size;
    if (!bars.length || !tick || meta.pending) return '';
    const since = bars[bars.length - 1].time - 86400;
    let high = -Infinity;
    let low = Infinity;
    for (let i = bars.length - 1; i >= 0 && bars[i].time > since; i--) {
      high = Math.max(high, bars[i].high);
      low = Math.min(low, bars[i].low);
    }
    const want = (high - low) / TARGET_ROWS / tick;
    let multiple = 1;
    for (let step = 0; multiple < want && step < 40; step++) multiple *= String(multiple)[0] === '2' ? 2.5 : 2;
    return (tick * multiple).toFixed(meta.precision ?? 2);
  }

  ensure() {
    const key = `${paneKey(this.pane)}|${this.period()}`;
    if (key !== this.key) {
      this.key = key;
      this.sessions.clear();
      this.rowSize = null;
      this.rowParam = null;
      this.covered = 0;
      this.generation++;
      this.refreshLatest.cancel();
    }
    if (this.rowParam === null && this.pane.bars.length) this.rowParam = this.chooseRows();
    const wanted = this.wanted();
    if (wanted > this.covered) {
      this.covered = wanted;
      this.fetch(wanted);
    }
  }

  async fetch(sessions) {
    const pane = this.pane;
    const generation = this.generation;
    const params = { period: `${this.period()}m`, sessions, row_size: this.rowParam || this.rowSize || '' };
    try {
      const body = await orderflowApi.marketProfile(pane.state.symbol, params);
      if (generation !== this.generation || pane.destroyed) return;
      this.rowSize = body.row_size;
      for (const s of [...(body.previous || []), body]) if (s.rows?.length) this.sessions.set(s.session_start, s);
      this.redraw();
    } catch (err) {
      console.warn('tpo', err);
    } finally {
      if (pane.cell) pane.cell.dataset.tpoSessions = String(this.sessions.size);
    }
  }

  redraw() {
    this.series?.applyOptions({ version: ++this.version });
  }
}

const emptyStats = (mode, period) => ({
  mode, // asked for
  drawn: null, // letters | blocks (too little room for letters draws blocks)
  period,
  sessions: 0,
  tpos: 0,
  singles: 0,
  cell: null, // {w, h} css px of the last session drawn
  pocs: [], // {y, x0, x1} bitmap px of each session's POC line
  value_areas: [], // {top, bottom} bitmap px
  ib: [], // {x, top, bottom, complete} bitmap px
});

class TpoView extends OhlcView {
  constructor(state, palette) {
    super(palette, { mode: 'letters', version: 0 }); // version: bumped to redraw after a fetch
    this.state = state;
    this.stats = emptyStats('letters', DEFAULT_PERIOD);
  }

  draw(target, toY) {
    const d = this.data;
    const st = this.state;
    const stats = emptyStats(this.options?.mode || 'letters', st.period());
    this.stats = stats;
    if (!d || !d.visibleRange || !d.bars.length || !st.sessions.size) return;
    if (this.timesOf !== d.bars) {
      this.timesOf = d.bars;
      this.times = d.bars.map((bar) => bar.originalData.t);
    }
    const times = this.times;
    const { from } = d.visibleRange;
    const xAt = (i) => d.bars[from].x + (i - from) * d.barSpacing; // css px of bar i's centre
    const list = [...st.sessions.values()].sort((a, b) => a.session_start - b.session_start);
    target.useBitmapCoordinateSpace(({ context: c, horizontalPixelRatio: hr, verticalPixelRatio: vr, bitmapSize }) => {
      const W = bitmapSize.width / hr;
      const H = bitmapSize.height / vr;
      list.forEach((s, k) => {
        const first = lowerBound(times, s.session_start);
        const end = Math.min(s.session_end, list[k + 1]?.session_start ?? Infinity);
        if (first >= times.length || times[first] >= end) return;
        const after = lowerBound(times, end);
        const xStart = xAt(first) - d.barSpacing / 2;
        const xEnd = after < times.length ? xAt(after) - d.barSpacing / 2 : W;
        if (xEnd < 0 || xStart > W) return;
        c.save();
        c.beginPath();
        c.rect(Math.round(xStart * hr), 0, Math.round((xEnd - xStart) * hr), bitmapSize.height);
        c.clip();
        this.drawSession(c, s, { xStart, xEnd, H, toY, hr, vr, stats });
        c.restore();
        stats.sessions++;
      });
    });
  }

  drawSession(c, s, { xStart, xEnd, H, toY, hr, vr, stats }) {
    const p = this.palette;
    const meta = this.state.pane.meta;
    const tick = meta.tick_size || 0.01;
    const rs = this.state.rowSize || tick;
    const rows = s.rows;
    // rows are [price, price + row size): centred on the ticks they hold, like footprint cells
    const top = (price) => toY(price + rs - tick / 2);
    const bottom = (price) => toY(price - tick / 2);
    const rowH = Math.abs(bottom(rows[0].price) - top(rows[0].price));
    const maxCount = rows.reduce((m, r) => Math.max(m, r.count), 1);
    const room = xEnd - xStart - GUTTER - 4;
    const cellW = Math.max(1, Math.min(MAX_CELL_W, Math.max(MIN_LETTER_W, rowH * 0.9), room / maxCount));
    const width = cellW * maxCount;
    // a session that began left of the pane keeps its profile in view while it can
    const x0 = Math.max(xStart, Math.min(0, xEnd - width - GUTTER - 4)) + GUTTER;
    const letters = this.options.mode !== 'blocks' && rowH >= MIN_LETTER_ROW && cellW >= MIN_LETTER_W;
    stats.drawn = letters ? 'letters' : 'blocks';
    stats.cell = { w: cellW, h: rowH };
    const X = (v) => Math.round(v * hr);
    const Y = (v) => Math.round(v * vr);

    // value area behind the profile
    if (s.vah !== null && s.val !== null) {
      const vaTop = Y(top(s.vah));
      const vaBottom = Y(bottom(s.val));
      c.fillStyle = withAlpha(p.accent, 0.1);
      c.fillRect(X(x0 - 3), vaTop, X(x0 + width + 3) - X(x0 - 3), vaBottom - vaTop);
      stats.value_areas.push({ top: vaTop, bottom: vaBottom });
    }

    // POC and value-area edges run from the profile to the session's end
    const lineFrom = X(x0 + width + 4);
    const lineTo = X(xEnd - 2);
    const poc = pocColor(p);
    if (lineTo - lineFrom > 4 * hr) {
      const levels = drawLevels(c, s, {
        y: (price) => toY(price + rs / 2 - tick / 2), x0: lineFrom, x1: lineTo, poc, pocName: 'TPO POC',
        precision: meta.precision ?? 2, labelX: lineFrom + 2 * hr, align: 'left',
        labelled: lineTo - lineFrom >= LABEL_MIN * hr, hr, vr,
      });
      stats.pocs.push({ y: levels.poc_y, x0: lineFrom, x1: lineTo });
    }

    // the TPOs
    const gap = cellW >= 4 ? Math.max(1, Math.round(hr)) : 0;
    const fontPx = Math.max(7, Math.min(13, rowH * 0.78, cellW * 1.3));
    c.textAlign = 'center';
    c.textBaseline = 'middle';
    for (const r of rows) {
      if (!r.count) continue;
      const yTop = top(r.price);
      const yBottom = bottom(r.price);
      if (yBottom < 0 || yTop > H) continue;
      const isPoc = r.price === s.poc;
      const inVa = r.price >= s.val && r.price <= s.vah;
      const single = r.count === 1;
      const rt = Y(yTop);
      const rh = Math.max(1, Y(yBottom) - rt - (rowH > 3 ? gap : 0));
      if (single) stats.singles++;
      c.font = font(fontPx, vr, MONO, isPoc ? '700' : '500');
      for (let k = 0; k < r.letters.length; k++) {
        const left = X(x0 + k * cellW);
        const w = Math.max(1, X(x0 + (k + 1) * cellW) - left - gap);
        if (letters) {
          if (single) {
            c.fillStyle = withAlpha(SINGLE, 0.35);
            c.fillRect(left, rt, w, rh);
          }
          c.fillStyle = isPoc ? poc : single || inVa ? p.fg : p.muted || p.fg;
          c.fillText(r.letters[k], left + w / 2, rt + rh / 2);
        } else {
          c.fillStyle = isPoc ? poc : single ? SINGLE : inVa ? withAlpha(p.accent, 0.8) : withAlpha(p.muted || p.fg, 0.55);
          c.fillRect(left, rt, w, rh);
        }
        stats.tpos++;
      }
    }
    this.drawIb(c, s, { x0, top: (price) => toY(price + tick / 2), bottom, hr, vr, stats });
    this.drawCaption(c, s, { x0, cellW, top, bottom, hr, vr, p });
  }

  /** The initial balance: a bar left of the profile over the range of periods A and B. */
  drawIb(c, s, { x0, top, bottom, hr, vr, stats }) {
    const ib = s.initial_balance;
    if (!ib) return;
    const x = Math.round((x0 - GUTTER / 2 - 1.5) * hr);
    const yTop = Math.round(top(ib.high) * vr);
    const yBottom = Math.round(bottom(ib.low) * vr);
    const w = Math.max(2, Math.round(3 * hr));
    c.fillStyle = ib.complete ? IB : withAlpha(IB, 0.45);
    c.fillRect(x, yTop, w, Math.max(1, yBottom - yTop));
    c.fillRect(x, yTop, Math.round(GUTTER / 2 * hr), Math.max(1, Math.round(vr)));
    c.fillRect(x, yBottom - Math.max(1, Math.round(vr)), Math.round(GUTTER / 2 * hr), Math.max(1, Math.round(vr)));
    c.font = font(9, vr, SANS, '700');
    c.textAlign = 'left';
    c.textBaseline = 'bottom';
    c.fillText('IB', x, yTop - Math.round(2 * vr));
    stats.ib.push({ x, top: yTop, bottom: yBottom, complete: ib.complete });
  }

  /** Session, period and TPO count under the profile; poor extremes next to their row. */
  drawCaption(c, s, { x0, cellW, top, bottom, hr, vr, p }) {
    c.font = font(10, vr);
    c.textAlign = 'left';
    c.textBaseline = 'top';
    c.fillStyle = p.muted || p.fg;
    c.fillText(`${s.session} · ${this.state.period()}m · ${s.tpo_count} TPO`, Math.round(x0 * hr), Math.round((bottom(s.rows[0].price) + 4) * vr));
    c.textBaseline = 'middle';
    c.fillStyle = VA_LINE;
    const poor = (row, label) =>
      c.fillText(label, Math.round((x0 + row.count * cellW + 4) * hr), Math.round(((top(row.price) + bottom(row.price)) / 2) * vr));
    if (s.poor_high) poor(s.rows[s.rows.length - 1], 'poor high');
    if (s.poor_low) poor(s.rows[0], 'poor low');
  }
}

export function registerTpo({ registerChartType, terminal }) {
  const states = paneStates(terminal, (pane) => new TpoData(pane));
  registerChartType({
    id: 'tpo',
    label: 'TPO (Market Profile)',
    group: 'orderflow',
    settings: [
      {
        key: 'tpo_period',
        label: 'TPO period (minutes)',
        default: () => DEFAULT_PERIOD,
        step: 1,
        parse: (value) => (value > 0 ? Math.min(1440, Math.max(1, Math.round(value))) : null),
      },
    ],
    build(chart, ctx) {
      const st = states.stateOf(ctx);
      const view = new TpoView(st, ctx.palette);
      const series = chart.addCustomSeries(
        view,
        {
          mode: ctx.options.tpo_mode || 'letters',
          priceFormat: priceFormat(ctx.meta),
          priceLineWidth: 1,
          autoscaleInfoProvider: minRowsInView(() => st.rowSize || ctx.meta.tick_size || 0.01, MIN_ROWS_IN_VIEW),
        },
        0,
      );
      st.series = series;
      st.view = view;
      chart.timeScale().applyOptions({ rightOffset: RIGHT_OFFSET });
      return series;
    },
    full(bars, ctx) {
      states.stateOf(ctx)?.ensure();
      return bars.map(withTime);
    },
    point(bars, i, ctx) {
      if (i === bars.length - 1) states.stateOf(ctx)?.refreshLatest();
      return withTime(bars[i]);
    },
  });
  return { stateOf: states.ofPane };
}
