// Pure bar transforms for the derived chart types. Inputs are the pane's raw bars
// ({time, open, high, low, close, volume}, oldest first, at most 20k); outputs are what the
// series draws. Heikin-Ashi updates incrementally from a changed index; Renko and range bars
// are rebuilt (O(n), well under a millisecond at 20k bars) and the pane diffs the tail.

/** Heikin-Ashi into ``out`` from index ``from`` on (``out`` is reused between calls). */
export function heikinAshi(bars, out, from = 0) {
  out.length = Math.min(out.length, bars.length);
  for (let i = Math.max(0, from); i < bars.length; i++) {
    const b = bars[i];
    const close = (b.open + b.high + b.low + b.close) / 4;
    const open = i === 0 ? (b.open + b.close) / 2 : (out[i - 1].open + out[i - 1].close) / 2;
    out[i] = {
      time: b.time,
      open,
      high: Math.max(b.high, open, close),
      low: Math.min(b.low, open, close),
      close,
      volume: b.volume,
    };
  }
  return out;
}

/** The order prices were probably visited inside a bar (a down bar went high first). */
function path(b) {
  return b.close >= b.open ? [b.open, b.low, b.high, b.close] : [b.open, b.high, b.low, b.close];
}

function nextTime(t, last) {
  return last === null || t > last ? t : last + 1;
}

/** A sensible default box: about 1/40 of the price range, rounded to whole ticks. */
export function defaultBox(bars, tick) {
  if (!bars.length) return tick || 1;
  let hi = -Infinity;
  let lo = Infinity;
  for (let i = Math.max(0, bars.length - 2000); i < bars.length; i++) {
    hi = Math.max(hi, bars[i].high);
    lo = Math.min(lo, bars[i].low);
  }
  const raw = (hi - lo) / 40 || tick || 1;
  const t = tick || raw / 10;
  return Math.max(t, Math.round(raw / t) * t);
}

/** Classic Renko: a brick per ``box`` move, a reversal needs two boxes. Completed bricks only. */
export function renko(bars, box) {
  const out = [];
  if (!bars.length || !(box > 0)) return out;
  let top = Math.floor(bars[0].open / box) * box;
  let bottom = top;
  let lastTime = null;
  let volume = 0;
  for (const b of bars) {
    volume += b.volume || 0;
    let formed = 0;
    const start = out.length;
    for (const p of path(b)) {
      while (p >= top + box - 1e-9 * box) {
        lastTime = nextTime(b.time, lastTime);
        out.push({ time: lastTime, open: top, high: top + box, low: top, close: top + box, volume: 0 });
        bottom = top;
        top += box;
        formed++;
      }
      while (p <= bottom - box + 1e-9 * box) {
        lastTime = nextTime(b.time, lastTime);
        out.push({ time: lastTime, open: bottom, high: bottom, low: bottom - box, close: bottom - box, volume: 0 });
        top = bottom;
        bottom -= box;
        formed++;
      }
    }
    if (formed) {
      for (let i = start; i < out.length; i++) out[i].volume = volume / formed;
      volume = 0;
    }
  }
  return out;
}

/** Range bars: each closes once its high-low reaches ``range``; the last one is forming. */
export function rangeBars(bars, range) {
  const out = [];
  if (!bars.length || !(range > 0)) return out;
  let cur = null;
  let lastTime = null;
  const open = (t, p) => {
    lastTime = nextTime(t, lastTime);
    cur = { time: lastTime, open: p, high: p, low: p, close: p, volume: 0 };
    out.push(cur);
  };
  for (const b of bars) {
    const pts = path(b);
    if (cur === null) open(b.time, pts[0]);
    const share = (b.volume || 0) / pts.length;
    for (const p of pts) {
      for (let guard = 0; guard < 10000; guard++) {
        if (p > cur.low + range) {
          cur.high = cur.low + range;
          cur.close = cur.high;
          open(b.time, cur.close);
        } else if (p < cur.high - range) {
          cur.low = cur.high - range;
          cur.close = cur.low;
          open(b.time, cur.close);
        } else {
          cur.high = Math.max(cur.high, p);
          cur.low = Math.min(cur.low, p);
          cur.close = p;
          break;
        }
      }
      cur.volume += share;
    }
  }
  return out;
}

/** Index of the last bar with time <= t (-1 when none). */
export function indexAtOrBefore(bars, t) {
  let lo = 0;
  let hi = bars.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (bars[mid].time <= t) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
