// The chart page as one file: the entry that scripts/setup.sh bundles with esbuild into
// static/build/chart-page.js (lightweight-charts included, minified; never committed).
// apps/charts/bundle.py decides whether the page loads that file or, without it, the
// modules below one by one (with lightweight-charts' standalone script).
//
// Imports run in order: lightweight-charts becomes the window global the modules and the
// plugins use (as the standalone script makes it) before terminal.js builds the panes.
import './lwc-global.js';
import './terminal.js';
