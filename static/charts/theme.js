// Chart colours come from the page's CSS variables (static/css/app.css, charts.css), so the
// dark and light themes stay defined in one place. Called again after a theme switch.

// The page's own font stack (static/css/app.css) for everything drawn on the canvas too.
// system-ui first: the platform's UI font in one lookup. A list of named families that
// are missing (most of them, on Linux) costs the first draw one font lookup each.
export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

export function palette() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return {
    bg: v('--chart-bg'),
    grid: v('--chart-grid'),
    text: v('--chart-text'),
    border: v('--border'),
    crosshair: v('--chart-crosshair'),
    label: v('--chart-label'),
    up: v('--up'),
    down: v('--down'),
    upAlpha: v('--chart-up-alpha'),
    downAlpha: v('--chart-down-alpha'),
    line: v('--chart-line'),
    accent: v('--accent'),
    muted: v('--muted'),
    fg: v('--text'),
    panel: v('--panel'),
  };
}

export function chartOptions(p) {
  return {
    autoSize: true,
    layout: {
      background: { type: 'solid', color: p.bg },
      textColor: p.text,
      fontFamily: FONT,
      fontSize: 11,
      attributionLogo: false,
      panes: { separatorColor: p.border, separatorHoverColor: p.grid, enableResize: true },
    },
    grid: { vertLines: { color: p.grid }, horzLines: { color: p.grid } },
    crosshair: {
      mode: 0, // normal: the crosshair follows the mouse, not the closest bar's close
      vertLine: { color: p.crosshair, labelBackgroundColor: p.label, style: 3 },
      horzLine: { color: p.crosshair, labelBackgroundColor: p.label, style: 3 },
    },
    rightPriceScale: { borderColor: p.border, scaleMargins: { top: 0.08, bottom: 0.06 } },
    leftPriceScale: { visible: false },
    timeScale: {
      borderColor: p.border,
      rightOffset: 8,
      barSpacing: 7,
      minBarSpacing: 0.4,
      timeVisible: true,
      fixLeftEdge: false,
      shiftVisibleRangeOnNewBar: true,
    },
  };
}

export function withAlpha(hex, alpha) {
  // '#26a69a' -> 'rgba(38,166,154,alpha)'
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(hex || '');
  if (!m) return hex;
  return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},${alpha})`;
}
