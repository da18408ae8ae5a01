// The crosshair legend of a pane: symbol, timeframe and the OHLCV of the bar under the
// crosshair (the last bar when the mouse is elsewhere). Text-only DOM updates, at most once
// per frame, into elements of fixed width classes so that nothing around them moves.

export function formatPrice(value, precision) {
  if (value === undefined || value === null || !Number.isFinite(value)) return '—';
  return value.toFixed(precision);
}

export function formatVolume(v) {
  if (!Number.isFinite(v)) return '—';
  const abs = Math.abs(v);
  if (abs >= 1e9) return (v / 1e9).toFixed(2) + 'B';
  if (abs >= 1e6) return (v / 1e6).toFixed(2) + 'M';
  if (abs >= 1e4) return (v / 1e3).toFixed(1) + 'K';
  return abs >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(2);
}

const TF_LABEL = (tf) => tf.replace('d', 'D').replace('w', 'W');

export class Legend {
  constructor(cell) {
    this.root = cell.querySelector('.legend');
    this.root.innerHTML = `
      <div class="lg-row lg-head">
        <span class="lg-symbol"></span><span class="lg-tf"></span><span class="lg-exch"></span>
        <span class="badge sim lg-sim" hidden title="Simulated demo feed">SIM</span>
        <span class="lg-type"></span>
      </div>
      <div class="lg-row lg-ohlc">
        <span>O<b class="lg-o"></b></span><span>H<b class="lg-h"></b></span>
        <span>L<b class="lg-l"></b></span><span>C<b class="lg-c"></b></span>
        <b class="lg-chg"></b><span class="lg-vol-wrap">Vol<b class="lg-v"></b></span>
      </div>
      <div class="lg-indicators"></div>`;
    const q = (s) => this.root.querySelector(s);
    this.el = {
      symbol: q('.lg-symbol'), tf: q('.lg-tf'), exch: q('.lg-exch'), sim: q('.lg-sim'),
      type: q('.lg-type'), o: q('.lg-o'), h: q('.lg-h'), l: q('.lg-l'), c: q('.lg-c'),
      chg: q('.lg-chg'), v: q('.lg-v'), ohlc: q('.lg-ohlc'),
    };
    this.indicators = q('.lg-indicators');
    this.last = '';
  }

  setTitle(meta, timeframe, typeLabel) {
    this.el.symbol.textContent = meta.symbol || '';
    this.el.symbol.title = meta.name || '';
    this.el.tf.textContent = TF_LABEL(timeframe);
    this.el.exch.textContent = meta.exchange || '';
    this.el.sim.hidden = !meta.is_simulated;
    this.el.type.textContent = typeLabel === 'Candles' ? '' : typeLabel;
  }

  show(item, prevClose, precision) {
    if (!item) {
      this.el.ohlc.classList.add('empty');
      return;
    }
    this.el.ohlc.classList.remove('empty');
    const open = item.open ?? item.value;
    const close = item.close ?? item.value;
    const key = `${item.time}|${open}|${item.high}|${item.low}|${close}|${item.volume}|${prevClose}`;
    if (key === this.last) return;
    this.last = key;
    const f = (v) => formatPrice(v, precision);
    setText(this.el.o, f(open));
    setText(this.el.h, f(item.high ?? close));
    setText(this.el.l, f(item.low ?? close));
    setText(this.el.c, f(close));
    const base = Number.isFinite(prevClose) ? prevClose : open;
    const change = close - base;
    const pct = base ? (change / base) * 100 : 0;
    setText(this.el.chg, `${change >= 0 ? '+' : ''}${f(change)} (${change >= 0 ? '+' : ''}${pct.toFixed(2)}%)`);
    const dir = close >= open ? 'up' : 'down';
    if (this.el.ohlc.dataset.dir !== dir) this.el.ohlc.dataset.dir = dir;
    const chgDir = change >= 0 ? 'up' : 'down';
    if (this.el.chg.dataset.dir !== chgDir) this.el.chg.dataset.dir = chgDir;
    setText(this.el.v, formatVolume(item.volume));
  }
}

/** A new text only where it differs: writing even the same text replaces the text node and
 *  makes the browser lay the legend out again, on every tick. */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
