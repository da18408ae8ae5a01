// The time axis in a chosen IANA time zone.
//
// lightweight-charts works in UTC. Shifting timestamps by the zone offset would break at
// DST changes (two bars with the same local time) and leak into every other module
// (drawings, sync, live updates), so bars keep their true UTC times and only the axis is
// zoned: a horizontal-scale behaviour that weighs tick marks (day/month/hour boundaries)
// by local time, plus formatters that print local time.

const formatters = new Map();
const offsets = new Map();
const OFFSET_STEP = 900; // offsets only change on quarter hours

function partsFormatter(zone) {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

// [[from_ts, offset_s], ...] per zone, sent by the page (views._zone_offsets): a binary
// search instead of Intl for the years around now.
const tables = new Map();
export function setZoneTables(byZone) {
  for (const [zone, table] of Object.entries(byZone || {})) if (table.length > 1) tables.set(zone, table);
}

function fromTable(table, ts) {
  if (ts < table[0][0] || ts > table[table.length - 1][0]) return undefined;
  let lo = 0;
  let hi = table.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (table[mid][0] <= ts) lo = mid;
    else hi = mid - 1;
  }
  return table[lo][1];
}

/** Seconds to add to a UTC epoch to get the wall-clock time in ``zone``. */
export function zoneOffset(zone, ts) {
  if (!zone || zone === 'UTC') return 0;
  const table = tables.get(zone);
  if (table) {
    const known = fromTable(table, ts);
    if (known !== undefined) return known;
  }
  const slot = Math.floor(ts / OFFSET_STEP);
  const key = zone + '|' + slot;
  let offset = offsets.get(key);
  if (offset === undefined) {
    const at = slot * OFFSET_STEP;
    const p = {};
    for (const part of partsFormatter(zone).formatToParts(new Date(at * 1000))) p[part.type] = part.value;
    const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second) / 1000;
    offset = wall - at;
    if (offsets.size > 50000) offsets.clear();
    offsets.set(key, offset);
  }
  return offset;
}

/** A Date whose UTC fields read as the wall clock of ``zone`` at ``ts``. */
export function wallDate(zone, ts) {
  return new Date((ts + zoneOffset(zone, ts)) * 1000);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n) => (n < 10 ? '0' + n : '' + n);

const DIVISORS = [
  [1, 10], [60, 20], [300, 21], [1800, 22], [3600, 30], [10800, 31], [21600, 32], [43200, 33],
];

const DAY = 86400;

/** The tick-mark weight of a point at local (wall-clock) second ``curTs`` after one at
 *  ``prevTs``. Dates are made only where the day changes: a chart's points are mostly
 *  within a day of the one before, and a Date for each of 5,000 points took about 10 ms
 *  of the first draw in the chart_page benchmark. */
function weight(curTs, prevTs) {
  if (Math.floor(curTs / DAY) !== Math.floor(prevTs / DAY)) {
    const cur = new Date(curTs * 1000);
    const prev = new Date(prevTs * 1000);
    if (cur.getUTCFullYear() !== prev.getUTCFullYear()) return 70;
    if (cur.getUTCMonth() !== prev.getUTCMonth()) return 60;
    return 50;
  }
  for (let i = DIVISORS.length - 1; i >= 0; --i) {
    const d = DIVISORS[i][0];
    if (Math.floor(prevTs / d) !== Math.floor(curTs / d)) return DIVISORS[i][1];
  }
  return 0;
}

/** A horizontal-scale behaviour whose tick-mark weights follow ``zone``'s local time. */
export function zonedBehavior(getZone) {
  const Base = window.LightweightCharts.defaultHorzScaleBehavior();
  class ZonedTime extends Base {
    fillWeightsForPoints(points, startIndex = 0) {
      const zone = getZone();
      if (!points.length) return;
      const local = (p) => {
        const ts = p.originalTime;
        return ts + zoneOffset(zone, ts);
      };
      let prevTs = startIndex === 0 ? null : local(points[startIndex - 1]);
      let total = 0;
      for (let i = startIndex; i < points.length; i++) {
        const ts = local(points[i]);
        if (prevTs !== null) points[i].timeWeight = weight(ts, prevTs);
        total += ts - (prevTs === null ? ts : prevTs);
        prevTs = ts;
      }
      if (startIndex === 0 && points.length > 1) {
        const first = local(points[0]);
        const guess = first - Math.ceil(total / (points.length - 1));
        points[0].timeWeight = weight(first, guess);
      }
    }
  }
  return new ZonedTime();
}

export function tickMarkFormatter(getZone) {
  return (time, type) => {
    const d = wallDate(getZone(), time);
    switch (type) {
      case 0: return String(d.getUTCFullYear());
      case 1: return MONTHS[d.getUTCMonth()];
      case 2: return String(d.getUTCDate());
      case 3: return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
      default: return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
    }
  };
}

export function formatTime(zone, ts, { seconds = false, date = true } = {}) {
  const d = wallDate(zone, ts);
  let text = pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
  if (seconds) text += ':' + pad(d.getUTCSeconds());
  if (!date) return text;
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} '${String(d.getUTCFullYear()).slice(2)}  ${text}`;
}

export function zoneLabel(zone, ts) {
  if (!zone || zone === 'UTC') return 'UTC';
  const minutes = Math.round(zoneOffset(zone, ts) / 60);
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `UTC${sign}${Math.floor(abs / 60)}${abs % 60 ? ':' + pad(abs % 60) : ''}`;
}
