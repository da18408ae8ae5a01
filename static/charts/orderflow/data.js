// Order-flow data access for the chart plugins: the REST endpoints of
// apps/marketdata/api/orderflow.py, a trailing throttle, and pane lookup helpers.

import { getJSON } from '../api.js';

const enc = encodeURIComponent;
const qs = (params) =>
  Object.entries(params)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${enc(v)}`)
    .join('&');

export const orderflowApi = {
  footprint: (symbol, timeframe, params = {}) =>
    getJSON(`/api/v1/orderflow/footprint?${qs({ symbol, timeframe, ...params })}`),
  cvd: (symbol, timeframe, params = {}) =>
    getJSON(`/api/v1/orderflow/cvd?${qs({ symbol, timeframe, reset: 'session', ...params })}`),
  volumeProfile: (symbol, params = {}) => getJSON(`/api/v1/volume-profile/${enc(symbol)}?${qs(params)}`),
  marketProfile: (symbol, params = {}) => getJSON(`/api/v1/market-profile/${enc(symbol)}?${qs({ period: '30m', ...params })}`),
};

/** ``fn`` at most once per ``ms``; a call inside the window runs once at its end. */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  const run = () => {
    timer = null;
    last = Date.now();
    fn();
  };
  const call = () => {
    if (timer) return;
    const wait = last + ms - Date.now();
    if (wait <= 0) run();
    else timer = setTimeout(run, wait);
  };
  call.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  return call;
}

/** Short volume labels: 1234 -> 1.2k, 12.5 -> 12.5. */
export function fmtVol(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(a >= 100 ? 0 : a >= 1 ? 1 : 3).replace(/\.?0+$/, '');
}

export const paneKey = (pane) => `${pane.state.symbol}|${pane.state.timeframe}`;

/**
 * Per-pane state of a custom chart type (footprint, TPO), keyed by the pane's ctx, which
 * lives as long as the pane (a theme change rebuilds the series, not the state).
 */
export function paneStates(terminal, make) {
  const states = new WeakMap();
  const paneOf = (ctx) => terminal.panes.find((p) => p.ctx === ctx) || terminal.panes.find((p) => p.ctx.meta === ctx.meta);
  return {
    stateOf(ctx) {
      let st = states.get(ctx);
      if (!st) {
        const pane = paneOf(ctx);
        if (!pane) return null;
        st = make(pane);
        states.set(ctx, st);
      }
      return st;
    },
    ofPane: (pane) => states.get(pane.ctx),
  };
}

/** The items of a custom series from the pane's bars: lightweight-charts keeps no time in
 *  a custom item's originalData, so it travels as ``t``. */
export const withTime = (bar) => ({ ...bar, t: bar.time });

/** An ``autoscaleInfoProvider`` keeping at least ``rows`` price rows of ``rowSize()`` in
 *  view, so a few bars spanning a few ticks still get readable rows. */
export const minRowsInView = (rowSize, rows) => (original) => {
  const res = original();
  if (!res || !res.priceRange) return res;
  const { minValue, maxValue } = res.priceRange;
  const want = rowSize() * rows;
  if (maxValue - minValue >= want) return res;
  const m = (minValue + maxValue) / 2;
  return { ...res, priceRange: { minValue: m - want / 2, maxValue: m + want / 2 } };
};
