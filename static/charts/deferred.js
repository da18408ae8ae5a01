// The chart page's modules that the first candle does not need: loaded by terminal.js
// right after the first frame with data (keeps them off the critical path).

export { setupToolbar } from './toolbar.js';
export { IndicatorSet } from './indicators.js';
export { DrawingLayer } from './drawings/layer.js';
