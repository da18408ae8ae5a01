// CVD pane: Sierra-style cumulative delta candles (GET /api/v1/orderflow/cvd, session
// reset) in their own chart pane below the price, refreshed at most once a second live.

import { orderflowApi, throttle, paneKey } from './data.js';

class CvdPane {
  constructor(pane) {
    this.pane = pane;
    const LWC = window.LightweightCharts;
    const p = pane.ctx.palette;
    const chart = pane.chart;
    this.series = chart.addSeries(LWC.CandlestickSeries, {
      upColor: p.up,
      downColor: p.down,
      borderVisible: false,
      wickUpColor: p.up,
      wickDownColor: p.down,
      priceFormat: { type: 'volume' },
      priceLineVisible: false,
      title: 'CVD',
    }, chart.panes().length);
    this.series.getPane().setStretchFactor(0.3);
    this.generation = 0;
    this.key = null;
    this.refresh = throttle(() => this.load(), 1000);
  }

  async load() {
    const pane = this.pane;
    const generation = ++this.generation;
    try {
      const limit = Math.max(50, Math.min(20000, pane.bars.length || 500));
      const body = await orderflowApi.cvd(pane.state.symbol, pane.state.timeframe, { limit });
      if (generation !== this.generation || pane.destroyed || !this.series) return;
      this.series.setData(body.bars.map((b) => ({ time: b.time, open: b.open, high: b.high, low: b.low, close: b.close })));
      pane.cell.dataset.cvdBars = String(body.bars.length);
    } catch (err) {
      console.warn('cvd', err);
    }
  }

  update({ full }) {
    if (full || this.key !== paneKey(this.pane)) {
      this.key = paneKey(this.pane);
      this.load();
    } else this.refresh();
  }

  detach() {
    this.generation++;
    this.refresh.cancel();
    if (this.series && this.pane.chart) this.pane.chart.removeSeries(this.series);
    this.series = null;
    delete this.pane.cell.dataset.cvdBars;
  }
}

export function registerCvd({ registerOverlay }) {
  registerOverlay({
    id: 'cvd',
    label: 'CVD pane',
    attach: (pane) => {
      const cvd = new CvdPane(pane);
      cvd.update({ full: true });
      return cvd;
    },
  });
}
