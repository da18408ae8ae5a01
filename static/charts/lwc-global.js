// Bundled only (see bundle.js): lightweight-charts as ``window.LightweightCharts``, the
// global its standalone script defines and every chart module reads.
import * as LightweightCharts from 'lightweight-charts';

window.LightweightCharts = LightweightCharts;
